"""Text-to-speech providers: the protocol (`base`) and the embedded eSpeak NG
engine (`espeak`)."""
