"""In-band DTMF detection: its cost per 20 ms frame and how much noise it takes.

Costs, in µs per frame at 8, 16 and 24 kHz (best of REPEATS runs): a silent
frame with the level passed in (as the media clock measures all calls at
once) and measured by the detector, a frame of a held key, and a frame of
eSpeak speech over the gate. Then what 1,000 calls cost a second of CPU.

Noise: every key (100 ms on, 100 ms off, -20 dBFS a tone) under white noise
at falling SNRs (the two tones' power over the noise's, full band), three
noise seeds each; and the keys falsely found in eSpeak speech.

Usage: python bench/bench_dtmf.py [--frames 20000] [--no-write]
Prints its figures and writes them to docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from interpreter.media.dtmf import DIGITS, GATE_DBFS, DtmfDetector, tones
from interpreter.media.frames import Samples, frame_dbfs
from interpreter.providers.tts.espeak import speak
from tests.media.vad_audio import frames, join, silence, white_noise

REPEATS = 5
CALLS = 1000
RATES = (8000, 16000, 24000)
SNRS_DB = (20, 15, 12, 10, 8, 6)
SEEDS = (1, 2, 3)
TEXT = ("Please enter your account number, followed by the pound key. Press one for "
        "sales, two for support, or stay on the line.")


def per_frame_us(work: Callable[[Samples], object], audio: Sequence[Samples],
                 count: int) -> float:
    """Best-of-REPEATS µs per call of `work` over `count` frames cycling through `audio`."""
    loop = [audio[i % len(audio)] for i in range(count)]
    best = float("inf")
    gc.disable()
    try:
        for _ in range(REPEATS):
            start = time.perf_counter()
            for frame in loop:
                work(frame)
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best / count * 1e6


def costs(rate: int, count: int) -> dict[str, float]:
    quiet = list(frames(join(silence(0.5, rate), white_noise(-60, 0.5, rate)), rate))
    held = list(frames(tones("5", rate, tone_ms=2000, gap_ms=0), rate))[2:]
    spoken = [frame for frame in frames(speak(TEXT, None, rate).samples, rate)
              if frame_dbfs(frame) >= GATE_DBFS]
    detector = DtmfDetector(rate)
    return {
        "silence, level passed in": per_frame_us(
            lambda frame: detector.feed(frame, -90.0), quiet, count),
        "silence, detector measures": per_frame_us(detector.feed, quiet, count),
        "a held key": per_frame_us(detector.feed, held, count),
        "speech over the gate": per_frame_us(detector.feed, spoken, count),
    }


def heard(samples: Samples, rate: int) -> str:
    detector = DtmfDetector(rate)
    keys = (detector.feed(frame) for frame in frames(join(samples, silence(0.1, rate)), rate))
    return "".join(key for key in keys if key is not None)


def found_under_noise(rate: int, snr_db: float) -> int:
    """Keys heard exactly (that key, once), of len(DIGITS) * len(SEEDS), with
    white noise `snr_db` under the tones."""
    found = 0
    for seed in SEEDS:
        for key in DIGITS:
            sent = tones(key, rate, level_dbfs=-20)  # both tones together: -17 dBFS
            noise = white_noise(-17 - snr_db, len(sent) / rate, rate, seed)[:len(sent)]
            mixed = np.clip(sent.astype(np.int32) + noise, -32768, 32767).astype(np.int16)
            found += heard(mixed, rate) == key
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    table = {rate: costs(rate, args.frames) for rate in RATES}
    lines = [
        "## In-band DTMF detection (bench/bench_dtmf.py)",
        "",
        f"{datetime.date.today()}, {platform.machine()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}; best of {REPEATS} runs of {args.frames} frames.",
        "",
        "| per 20 ms frame | " + " | ".join(f"{r // 1000} kHz µs" for r in RATES) + " |",
        "|---|" + "---|" * len(RATES),
    ]
    for what in table[RATES[0]]:
        lines.append(f"| {what} | " + " | ".join(f"{table[r][what]:.2f}" for r in RATES) + " |")
    silent, talking = (table[8000][what] for what in ("silence, level passed in",
                                                      "speech over the gate"))
    lines += ["", f"{CALLS} calls at 8 kHz, 50 frames a second each: "
              f"{CALLS * 50 * silent / 1e6:.3f} CPU-s a second all silent (level passed in), "
              f"{CALLS * 50 * talking / 1e6:.3f} all talking.", ""]
    total = len(DIGITS) * len(SEEDS)
    lines += ["| keys found under white noise, SNR | "
              + " | ".join(f"{r // 1000} kHz" for r in RATES) + " |",
              "|---|" + "---|" * len(RATES)]
    for snr in SNRS_DB:
        lines.append(f"| {snr} dB | " + " | ".join(
            f"{found_under_noise(rate, snr)}/{total}" for rate in RATES) + " |")
    false = {rate: heard(speak(TEXT * 3, None, rate).samples, rate) for rate in RATES}
    lines += ["", "False keys in eSpeak speech (three readings of the two sentences above): "
              + ", ".join(f"{len(keys)} at {rate // 1000} kHz" for rate, keys in false.items())
              + "."]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("bench_dtmf", body)


if __name__ == "__main__":
    main()
