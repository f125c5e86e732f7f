"""Write a benchmark's figures into docs/performance.md between its markers."""

from __future__ import annotations

import re
from pathlib import Path

PERFORMANCE = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
# The targets the figures are held to; docs/performance.md lists them first.
TARGETS: tuple[tuple[str, str], ...] = (
    ("agent audio after the caller's speech is detected (barge-in)",
     "0 frames: stops in the same 20 ms tick"),
    ("barge-in detection after the caller's speech onset",
     "≤ 120 ms p50 without false triggers on noise"),
    ("text kept in the conversation after barge-in",
     "exactly the words whose audio was played"),
    ("orchestration overhead per turn (final transcript → first agent frame, "
     "instant providers)", "p50 < 2 ms, p99 < 10 ms at 500 concurrent calls"),
    ("concurrent real-time calls in one process on one core, VAD on every frame, "
     "instant providers", "≥ 1,000 (tick lag p99 < 20 ms)"),
    ("memory per live call", "≤ 1 MB"),
    ("lint + compile of a 5,000-line flow", "< 0.5 s"),
    ("REST flow publish", "≥ 500 per second on loopback"),
)
_HEADER = """# Performance

Figures written by the benchmarks under `bench/` (run `make bench`). Each
section is replaced when its benchmark runs; the machine and date are recorded
with the figures. The targets they are held to are listed first.

## Targets

Measured by the benchmarks, never asserted in timed tests.

| what | target |
|---|---|
""" + "".join(f"| {what} | {target} |\n" for what, target in TARGETS) + """
The sections below measure lint + compile, memory per live call and the
orchestration overhead per turn; barge-in and response time with the
embedded engines, concurrent audio calls on one core (and callers speaking
with recognition on the tick or in workers); heard text over random
barge-in points; DTMF and recognition quality; REST publish throughput
from a separate client process (bench_rest); calls through the server and
the turn latency under REST load (bench_server_calls); the server soak
(soak); and concurrent telephony media streams with the provider in another
process (bench_media_streams).
"""


def write_section(name: str, body: str) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = PERFORMANCE.read_text(encoding="utf-8") if PERFORMANCE.exists() else _HEADER
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else \
        text.rstrip() + "\n\n" + block + "\n"
    PERFORMANCE.write_text(text, encoding="utf-8")
