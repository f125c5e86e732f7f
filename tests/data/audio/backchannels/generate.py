"""Regenerate the backchannel fixtures here: short acknowledgements a caller
says over the agent, spoken by the embedded eSpeak NG in the simulated
caller's voice (en-us+m3, transports/audio_caller.py CALLER_VOICE; the agent
speaks en-us), 16 kHz mono PCM16 WAV, for the recognizer's tests
(tests/providers/test_stt_backchannels.py) and bench/bench_stt.py.
`manifest.json` maps each file to its text and length.

    .venv/bin/python tests/data/audio/backchannels/generate.py

Kept apart from tests/data/audio so the VAD and endpointing fixtures stay as
they are.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import soundfile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from interpreter.providers.tts.espeak import speak_to_wav  # noqa: E402

RATE = 16_000
VOICE = "en-us+m3"
PHRASES = ("mm hmm", "yeah", "okay", "uh huh", "got it", "right", "sure", "yep")


def main() -> None:
    manifest = {}
    for text in PHRASES:
        path = speak_to_wav(text, HERE / (text.replace(" ", "_") + ".wav"), VOICE, rate=RATE)
        info = soundfile.info(str(path))
        manifest[path.name] = {"text": text, "voice": VOICE, "seconds": round(info.duration, 3)}
        print(f"{path.name}: {info.duration:.2f} s")
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
