"""The embedded recognizer's accuracy and cost, at 16 kHz and over the phone.

Sets: the 7 spoken fixtures of tests/data/audio (eSpeak en-us), the 9
backchannels (tests/data/audio/uh_huh.wav and tests/data/audio/backchannels,
en-us+m3), and 12 other caller phrases x 4 eSpeak voices made here (en-us,
en-us+f3, en-us+m3, en). Phrases are hinted by the flow (a pizza flow with
no hints for the backchannels). 200 ms of silence before and after.

Conditions: the 16 kHz audio; the same through 8 kHz G.711 μ-law and back
(the listener's resampler), decoded as narrowband (`source_rate=8000`), and
decoded as if it were wideband (what happened before the narrowband path).

Figures: exact transcripts, word error rate, mean confidence, CPU seconds
per audio second (fed in 20 ms frames).

Usage: python bench/bench_stt.py [--no-write]   (about 30 s)
Writes the `bench_stt` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from interpreter.document.compile import compile_text
from interpreter.providers.stt.pocketsphinx import PocketsphinxProvider
from interpreter.providers.stt.vocabulary import normalize
from interpreter.providers.tts.espeak import speak
from tests.providers.test_pocketsphinx import (
    PHRASES,
    SPOKEN,
    flow_hinting,
    load,
    padded,
    word_errors,
)
from tests.providers.test_stt_backchannels import FLOW, all_backchannels
from tests.providers.test_stt_narrowband import Audio, telephone, transcript

VOICES = ("en-us", "en-us+f3", "en-us+m3", "en")
OTHER_PHRASES = (
    "i want to check my balance", "book a table for two", "what time do you close",
    "my account number is four five six", "can i talk to someone", "i'd like to pay my bill",
    "reset my password", "where is my package", "change my address", "speak to billing",
    "track my order", "that's all thanks",
)
CONDITIONS = (("16 kHz", False, 16_000), ("8 kHz μ-law, narrowband", True, 8_000),
              ("8 kHz μ-law, decoded as wideband", True, 16_000))
Item = tuple[str, Audio]


def measure(provider: PocketsphinxProvider, items: Sequence[Item], phone: bool,
            source_rate: int) -> tuple[int, float, float, float]:
    """Exact count, word error rate, mean confidence, CPU per audio second."""
    audio = [(said, padded(telephone(samples) if phone else samples)) for said, samples in items]
    exact = errors = words = 0
    confidences = []
    cpu = time.process_time()
    for said, samples in audio:
        text, confidence = transcript(provider, samples, source_rate)
        wrong = word_errors(said, text)
        exact += wrong == 0
        errors += wrong
        words += len(said.split())
        confidences.append(confidence)
    cpu = time.process_time() - cpu
    seconds = sum(len(samples) for _, samples in audio) / 16_000
    return exact, errors / words, float(np.mean(confidences)), cpu / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    fixtures = [(normalize(PHRASES[name]), load(name)) for name in SPOKEN]
    voices = [(phrase, speak(phrase, voice, 16_000).samples)
              for phrase in OTHER_PHRASES for voice in VOICES]
    backchannels = [(said, samples[3200:-3200]) for said, samples in all_backchannels().values()]
    hinted = PocketsphinxProvider.for_flow(
        flow_hinting(sorted({*PHRASES.values(), *OTHER_PHRASES})))
    pizza = PocketsphinxProvider.for_flow(compile_text(FLOW, "pizza.yaml"))
    sets = (("spoken fixtures", hinted, fixtures), ("12 phrases × 4 voices", hinted, voices),
            ("backchannels", pizza, backchannels))
    rows = []
    for name, provider, items in sets:
        for condition, phone, rate in CONDITIONS:
            exact, wer, confidence, rtf = measure(provider, items, phone, rate)
            row = (f"| {name} | {condition} | {exact} of {len(items)} | {wer:.1%} "
                   f"| {confidence:.2f} | {rtf:.3f} |")
            print(row, flush=True)
            rows.append(row)
    body = "\n".join([
        "## Speech recognition (bench_stt)",
        "",
        f"{datetime.date.today()}, {platform.machine()}, Python {platform.python_version()}, "
        "pocketsphinx, one thread. `python bench/bench_stt.py`; docs/speech.md explains "
        "the narrowband path.",
        "",
        "| set | audio | exact | word error rate | mean confidence | CPU s per audio s |",
        "|---|---|---|---|---|---|",
        *rows,
    ])
    if not args.no_write:
        write_section("bench_stt", body)


if __name__ == "__main__":
    main()
