"""The media clock: one pass per 20 ms tick over every live path, drift-free."""

from __future__ import annotations

import asyncio

from interpreter.clock import run_virtual
from interpreter.media.clock import MediaClock


class Path:
    def __init__(self) -> None:
        self.ticks: list[tuple[int, float]] = []

    def tick(self, n: int) -> None:
        self.ticks.append((n, asyncio.get_running_loop().time()))


def test_every_path_is_served_once_per_tick_at_absolute_times() -> None:
    async def main() -> tuple[Path, Path, MediaClock]:
        clock = MediaClock()
        first, second = Path(), Path()
        stop_first = clock.register(first)
        await asyncio.sleep(0.5)
        stop_second = clock.register(second)
        await asyncio.sleep(0.5)
        stop_first()
        stop_second()
        await asyncio.sleep(0.1)
        return first, second, clock

    first, second, clock = run_virtual(main)
    assert len(first.ticks) == 50
    start = first.ticks[0][1] - 0.02
    assert all(abs(at - (start + n * 0.02)) < 1e-9 for n, at in first.ticks)
    # The second path joined the same ticks, not a timer of its own.
    assert {n for n, _ in second.ticks} <= {n for n, _ in first.ticks}
    assert not clock.running and max(clock.stats.lags) == 0.0
