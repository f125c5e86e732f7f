"""The per-frame cost of the media path's frame work: decoding, encoding and
energy batched over many calls at once (as the media clock does them),
resampling one call's frame, and the jitter buffer's push and pop.

Each figure is the best of REPEATS timed runs, in microseconds per 20 ms
frame (for batches: the batch's time divided by its calls). Prints a
Markdown table; it writes no file.

Usage: python bench/bench_frames.py [--calls 1000] [--frames 2000]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interpreter.media import frames
from interpreter.media.jitter import JitterBuffer
from interpreter.media.ports import AudioFormat
from interpreter.media.resample import Resampler

REPEATS = 5
MULAW = AudioFormat("mulaw", 8000)
PCM16K = AudioFormat("pcm16", 16000)


def best(run: Callable[[], object], loops: int) -> float:
    """Best seconds per loop of `run` over REPEATS runs of `loops` calls."""
    times = []
    gc.disable()
    try:
        for _ in range(REPEATS):
            start = time.perf_counter()
            for _ in range(loops):
                run()
            times.append((time.perf_counter() - start) / loops)
    finally:
        gc.enable()
    return min(times)


def speech_like(rate: int, seconds: float, seed: int = 1) -> frames.Samples:
    """Noise shaped like speech's level: a few kHz of band, -20 dBFS."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 3300, size=int(rate * seconds))
    smooth = np.convolve(noise, np.ones(3) / 3, mode="same")
    return np.clip(smooth, -32768, 32767).astype(np.int16)


def batched(calls: int) -> list[tuple[str, float]]:
    rows = []
    pcm8 = speech_like(8000, calls * 0.02).reshape(calls, 160)
    mulaw = frames.encode_batch(pcm8, MULAW)
    pcm16 = frames.encode_batch(speech_like(16000, calls * 0.02).reshape(calls, 320), PCM16K)
    loops = max(1, 20_000 // calls)
    for label, run in [
        ("decode μ-law (8 kHz)", lambda: frames.decode_batch(mulaw, MULAW)),
        ("decode pcm16 (16 kHz)", lambda: frames.decode_batch(pcm16, PCM16K)),
        ("encode μ-law (8 kHz)", lambda: frames.encode_batch(pcm8, MULAW)),
        ("energy, RMS dBFS (8 kHz)", lambda: frames.energy_dbfs(pcm8)),
    ]:
        per_batch = best(run, loops)
        rows.append((f"{label}, batched over {calls:,} calls ({per_batch * 1e6:.0f} µs a tick)",
                     per_batch / calls))
    one = mulaw[0]
    rows.append(("decode μ-law, one frame alone", best(lambda: frames.decode(one, MULAW), 20_000)))
    return rows


def paced_stream(resampler: Resampler, audio: frames.Samples) -> Callable[[], None]:
    """Feed `audio` through `frame()`, one 20 ms frame at a time."""
    step = resampler.in_frame

    def run() -> None:
        for i in range(0, len(audio), step):
            resampler.frame(audio[i:i + step])

    return run


def pushed_stream(resampler: Resampler, chunks: list[frames.Samples]) -> Callable[[], None]:
    """Feed `chunks` through `push()`, then flush."""

    def run() -> None:
        for chunk in chunks:
            resampler.push(chunk)
        resampler.flush()

    return run


def resampling(count: int) -> list[tuple[str, float]]:
    rows = []
    for in_rate, out_rate in [(8000, 16000), (16000, 8000), (8000, 24000), (24000, 8000)]:
        run = paced_stream(Resampler(in_rate, out_rate), speech_like(in_rate, count * 0.02))
        rows.append((f"resample {in_rate // 1000} → {out_rate // 1000} kHz, frame() per frame",
                     best(run, 1) / count))
    tts = speech_like(22050, count * 0.02)
    chunks = np.array_split(tts, max(1, count // 25))  # ~0.5 s chunks, as synthesis gives
    run = pushed_stream(Resampler(22050, 8000), chunks)
    rows.append(("resample 22.05 → 8 kHz (speech synthesis), push() per 20 ms",
                 best(run, 1) / count))
    return rows


def jitter(count: int) -> list[tuple[str, float]]:
    payloads = frames.encode_batch(speech_like(8000, count * 0.02).reshape(count, 160), MULAW)
    rng = np.random.default_rng(2)
    order = list(range(count))
    for i in range(0, count - 1, 2):  # a third of neighbours swapped, 2% lost
        if rng.random() < 0.33:
            order[i], order[i + 1] = order[i + 1], order[i]
    rough = [seq for seq in order if rng.random() >= 0.02]
    rows = []
    for label, sequence in [("in order", list(range(count))), ("reordered, 2% lost", rough)]:
        def run(seqs: list[int] = sequence) -> None:
            buffer = JitterBuffer(MULAW, depth=2)
            for seq in seqs:
                buffer.push(seq, payloads[seq])
                buffer.pop()

        rows.append((f"jitter buffer push + pop, {label}", best(run, 1) / len(sequence)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls in a batch")
    parser.add_argument("--frames", type=int, default=2000, help="frames per stream")
    args = parser.parse_args()
    rows = batched(args.calls) + resampling(args.frames) + jitter(args.frames)
    print(f"bench_frames — {datetime.date.today()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, {platform.machine()}, {os.cpu_count()} CPUs")
    print()
    print("| per 20 ms frame | µs |")
    print("|---|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds * 1e6:.2f} |")


if __name__ == "__main__":
    main()
