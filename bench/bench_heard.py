"""Heard text after barge-in: the words the conversation keeps against the
words the caller heard, over many random barge-in points, plus the barge-in
itself split into detection and stop.

Each run is one call through the ai runtime on audio (what `callkernel run
--audio` builds; virtual clock): the scripted model's three-sentence reply is
spoken by eSpeak NG, one of four caller lines (eSpeak, another voice) starts
at a seeded random point in it, and voice activity decides (enable_barge
"partial": barge-in on speech onset). The ground truth is eSpeak's own
output: every chunk it made, found sample for sample in the outbound audio;
a word was played when its sound (to its last sample above -40 dBFS before
the next word's mark) went out before the deciding tick. What was kept is the
assistant message the model is sent next. The harness and the check are
tests/media/test_heard_text.py's (which runs ten points as a test).

Usage: python bench/bench_heard.py [--runs 200] [--seed 1] [--no-write]  (about 1 min)
Writes the `bench_heard` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from tests.media.test_heard_text import (
    CALLER_LINES,
    Check,
    NotFound,
    barge_call,
    barge_points,
    check,
    reply_seconds,
)

SOUNDS = ("cough", "click", "noise")
SOUND_POINTS = 4  # random points per sound


def _percentiles(values: list[float]) -> str:
    if not values:
        return "–"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.median(ordered):.0f} / {p90:.0f} / {ordered[-1]:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    checks: list[Check] = []
    lines: list[str] = []  # the caller line of each check
    missed = unaligned = unasked = 0
    for at, line in barge_points(args.runs, args.seed):
        call = barge_call(at, line)
        if not call.deciding:
            missed += 1
            continue
        if call.kept is None:  # the caller's words were not recognized: no next request
            unasked += 1
            continue
        try:
            checks.append(check(call))
            lines.append(line)
        except NotFound:
            unaligned += 1
    rng = random.Random(args.seed + 1)
    span = reply_seconds() - 0.5
    false_barges = sum(bool(barge_call(rng.uniform(0.2, span), None, sound).deciding)
                       for sound in SOUNDS for _ in range(SOUND_POINTS))
    seconds = time.perf_counter() - started

    exact = sum(1 for c in checks if (c.lost, c.added) == (0, 0))
    first = [c for c in checks if c.cut_sentence == 0]
    later = [c for c in checks if c.cut_sentence > 0]
    in_sound = [c.cut_in_sound for c in checks if c.cut_in_sound is not None]
    in_pause = sum(1 for c in checks if c.cut_in_pause)
    by_line: dict[str, list[float]] = {}
    for c, line in zip(checks, lines, strict=True):
        by_line.setdefault(line, []).append(c.detection_ms)
    rows = [
        (f"calls (random barge-in points, seed {args.seed}; {len(CALLER_LINES)} caller lines)",
         f"{args.runs}"),
        ("barge-in missed / no next request to read the kept words from / reply not found "
         "in the outbound audio", f"{missed} / {unasked} / {unaligned}"),
        ("words played / kept", f"{sum(len(c.played) for c in checks)} / "
                                f"{sum(len(c.kept) for c in checks)}"),
        ("words lost (played, not kept), in how many calls",
         f"{sum(c.lost for c in checks)}, in {sum(1 for c in checks if c.lost)}"),
        ("words added (kept, not played), in how many calls",
         f"{sum(c.added for c in checks)}, in {sum(1 for c in checks if c.added)}"),
        ("calls kept exactly the words played", f"{exact} of {len(checks)}"),
        ("… cut in the first sentence / in a later one",
         f"{sum(1 for c in first if (c.lost, c.added) == (0, 0))} of {len(first)} / "
         f"{sum(1 for c in later if (c.lost, c.added) == (0, 0))} of {len(later)}"),
        ("cut inside a word's sound (that word is not kept)", f"{len(in_sound)} of {len(checks)}"),
        ("… share of that word's sound played, p50 / p90",
         f"{100 * statistics.median(in_sound):.0f}% / "
         f"{100 * sorted(in_sound)[int(0.9 * len(in_sound))]:.0f}%" if in_sound else "–"),
        ("cut in the pause after a word's sound, before the next word's mark "
         "(that word was heard, and is kept)", f"{in_pause} of {len(checks)}"),
        ("detection: caller's first sound → end of the deciding tick, p50 / p90 / max",
         _percentiles([c.detection_ms for c in checks])),
        ("… detection p50 by caller line", ", ".join(
            f"“{line}” {statistics.median(by_line[line]):.0f} ms" for line in by_line)),
        ("stop: agent frames with sound from the deciding tick on",
         f"{sum(c.stop_frames for c in checks)} "
         f"(max {max((c.stop_frames for c in checks), default=0)} in a call)"),
        ("agent audio after the caller's first sound, p50 / p90 / max",
         _percentiles([c.overlap_ms for c in checks])),
        (f"false barge-ins ({', '.join(SOUNDS)}; {SOUND_POINTS} random points each)",
         f"{false_barges} of {len(SOUNDS) * SOUND_POINTS}"),
        ("wall time per call (all engines, virtual clock)",
         f"{1000 * seconds / (args.runs + len(SOUNDS) * SOUND_POINTS):.0f} ms"),
    ]
    body = "\n".join([
        "## Heard text after barge-in (bench/bench_heard.py)",
        "",
        f"{datetime.date.today()}, {platform.machine()}, Python {platform.python_version()}; "
        "ai verb with the scripted model on the audio runtime, virtual clock; "
        f"a {reply_seconds():.1f} s three-sentence eSpeak reply; target 0 words lost or added, "
        "0 agent frames after the deciding tick, detection ≤ 120 ms p50.",
        "",
        "| what | figure |",
        "|---|---|",
        *(f"| {what} | {figure} |" for what, figure in rows),
    ])
    print(body)
    if not args.no_write:
        write_section("bench_heard", body)


if __name__ == "__main__":
    main()
