"""The media clock: one pass per 20 ms tick over every live path, drift-free."""

from __future__ import annotations

import asyncio

import numpy as np

from interpreter.clock import run_virtual
from interpreter.media.clock import MediaClock, levels
from interpreter.media.frames import MIN_DBFS, Samples
from interpreter.media.vad import level_dbfs


class Path:
    def __init__(self, level: int = 0) -> None:
        self.ticks: list[tuple[int, float]] = []
        self.levels: list[float] = []
        self.frame = np.full(320, level, dtype=np.int16)

    def take(self) -> Samples:
        return self.frame

    def tick(self, n: int, frame: Samples, level_dbfs: float) -> None:
        assert frame is self.frame
        self.ticks.append((n, asyncio.get_running_loop().time()))
        self.levels.append(level_dbfs)


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


def test_every_paths_level_is_measured_in_one_pass_as_one_frame_alone_would_read() -> None:
    async def main() -> list[Path]:
        clock = MediaClock()
        paths = [Path(level) for level in (0, 100, 3000)]
        stops = [clock.register(path) for path in paths]
        await asyncio.sleep(0.1)
        for stop in stops:
            stop()
        return paths

    quiet, soft, loud = run_virtual(main)
    assert quiet.levels[0] == MIN_DBFS
    assert abs(soft.levels[0] - level_dbfs(soft.frame)) < 0.01
    assert abs(loud.levels[0] - level_dbfs(loud.frame)) < 0.01


def test_frames_of_different_lengths_are_measured_by_length() -> None:
    eight, sixteen = np.full(160, 1000, np.int16), np.full(320, 200, np.int16)
    measured = levels([sixteen, eight, sixteen])
    assert [round(x, 2) for x in measured] == [
        round(level_dbfs(sixteen), 2), round(level_dbfs(eight), 2), round(level_dbfs(sixteen), 2)]
