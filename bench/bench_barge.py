"""Barge-in with every embedded engine, split into detection (the caller's
first sound → the tick that decides) and stop (agent frames from that tick
on), the agent audio the caller heard over their own speech, whether what
was kept is a prefix of the reply, and false triggers on sounds that are not
speech.

Each run is one call on the virtual clock: eSpeak NG speaks a long reply, a
recorded caller phrase (tests/data/audio) starts at one of four offsets 2 s
in, and the audio path's listener (energy gate, webrtcvad, endpointing,
pocketsphinx with the phrases' vocabulary) hears it; the policy interrupts
on speech (enable_barge "all"). Detection is from the phrase's first sample
above 1% of its peak to the end of the tick that stopped the agent; the
agent audio after that first sound ends with the last agent frame. The CPU
each call costs (all engines, wall time on the virtual clock, one core) is
reported per second of call.

Usage: python bench/bench_barge.py [--no-write]
Writes the `bench_barge` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from interpreter.ir import Barge, BargePolicy
from tests.media.test_audio_call import REPLY, _call
from tests.media.vad_audio import PHRASES, cough, white_noise

OFFSETS = (2.0, 2.006, 2.013, 2.019)  # sub-frame shifts of the same start
SECONDS = 8.0
POLICY = BargePolicy(mode=Barge.ALL)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _spread(ms: list[float]) -> str:
    return f"{statistics.median(ms):.0f} / {_percentile(ms, 0.9):.0f} / {max(ms):.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    latencies: list[float] = []
    overlaps: list[float] = []  # agent audio after the caller's first sound
    late_frames = prefix_ok = runs = 0
    cpu = 0.0
    for phrase in PHRASES:
        for offset in OFFSETS:
            started = time.perf_counter()
            call = _call(phrase, offset, POLICY, seconds=SECONDS)
            cpu += time.perf_counter() - started
            runs += 1
            decided = call.deciding[0] if call.deciding else None
            if decided is None:
                continue
            onset_seconds = call.caller_onset_sample / 16_000
            latencies.append(decided * 0.02 - onset_seconds)
            before = [t for t in call.agent_frames if t < decided]
            overlaps.append(max(0.0, max(before, default=0) * 0.02 - onset_seconds))
            late_frames += sum(1 for t in call.agent_frames if t >= decided)
            prefix_ok += REPLY.startswith(call.heard.text)
    missed = runs - len(latencies)

    false_triggers = 0
    for sound in (cough(16_000), white_noise(-30, 1.0, 16_000)):
        call = _call(sound, 2.0, POLICY, seconds=SECONDS)
        false_triggers += bool(call.deciding)

    ms = [1000 * x for x in latencies]
    rows = [
        ("calls (8 phrases x 4 start offsets)", f"{runs}"),
        ("barge-in missed", f"{missed}"),
        ("detection: caller's first sound → end of the deciding tick, p50 / p90 / max",
         _spread(ms)),
        ("stop: agent frames from the deciding tick on", f"{late_frames}"),
        ("agent audio after the caller's first sound, p50 / p90 / max",
         _spread([1000 * x for x in overlaps])),
        ("kept text a prefix of the reply", f"{prefix_ok} of {len(latencies)}"),
        ("false barge-ins (a cough, 1 s of white noise at -30 dBFS)", f"{false_triggers} of 2"),
        ("CPU per second of call, all engines (eSpeak, webrtcvad, pocketsphinx)",
         f"{1000 * cpu / (runs * SECONDS):.1f} ms"),
    ]
    body = "\n".join([
        "## Barge-in with the embedded engines (bench/bench_barge.py)",
        "",
        f"{datetime.date.today()}, {platform.machine()}, Python {platform.python_version()}; "
        "virtual clock, one call at a time.",
        "",
        "| what | figure |",
        "|---|---|",
        *(f"| {what} | {figure} |" for what, figure in rows),
    ])
    print(body)
    if not args.no_write:
        write_section("bench_barge", body)


if __name__ == "__main__":
    main()
