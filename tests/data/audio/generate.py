"""Regenerate the spoken fixtures here: short caller phrases spoken by the
embedded eSpeak NG (en-us), 16 kHz mono PCM16 WAV, for STT, VAD and
endpointing tests. `manifest.json` maps each file to its text and length.
Speech starts within a few milliseconds of the file's start and ends with
eSpeak's ~350 ms closing pause: pad with silence where a test needs a lead-in.

    .venv/bin/python tests/data/audio/generate.py

eSpeak NG and soxr are deterministic, so the files only change when they do.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import soundfile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from interpreter.providers.tts.espeak import speak_to_wav  # noqa: E402

RATE = 16_000
PHRASES = (
    "transfer me to sales",
    "my order number is A one two three",
    "yes please",
    "no thanks",
    "uh huh",
    "I want to speak to a person",
    "cancel my appointment",
    "what are your opening hours",
)


def file_name(text: str) -> str:
    """"my order number is A one two three" → "my_order_number_is_a_one_two_three.wav"."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") + ".wav"


def main() -> None:
    manifest = {}
    for text in PHRASES:
        path = speak_to_wav(text, HERE / file_name(text), rate=RATE)
        info = soundfile.info(str(path))
        manifest[path.name] = {"text": text, "seconds": round(info.duration, 3)}
        print(f"{path.name}: {info.duration:.2f} s")
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
