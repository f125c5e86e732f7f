"""Providers: the LLM, TTS, STT and VAD implementations behind small protocols."""
