"""The process-wide media clock: one tick every 20 ms services every live call.

Not a timer or a task per call: each call's media path registers once, and
each tick serves every registered path in one pass, in two phases: every
path hands over its inbound frame, the clock measures all their levels at
once (one numpy pass, `frames.energy_dbfs`, instead of one per call), and
then each path ticks with its frame and level. Ticks are scheduled at absolute
times (`start + n * 20 ms`), so a late tick does not push the later ones: the
clock corrects its drift, and a tick that comes more than a frame late is
counted as lag (what the capacity benchmark reports). It runs on the loop's
clock, so under the virtual clock a call's audio runs exactly and fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from interpreter.media.frames import Samples, energy_dbfs

FRAME_SECONDS = 0.020


class Ticking(Protocol):
    def take(self) -> Samples:
        """This tick's inbound frame (silence when none came)."""
        ...

    def tick(self, n: int, frame: Samples, level_dbfs: float) -> None:
        """Hear `frame` (its level measured), emit exactly one outbound frame."""


def levels(frames: Sequence[Samples]) -> list[float]:
    """The RMS level of each frame, measured together for frames of one length."""
    if not frames:
        return []
    size = len(frames[0])
    if all(len(frame) == size for frame in frames):
        return energy_dbfs(np.stack(frames)).tolist()  # type: ignore[no-any-return]
    out = [0.0] * len(frames)
    for length in {len(frame) for frame in frames}:
        at = [i for i, frame in enumerate(frames) if len(frame) == length]
        for i, level in zip(at, energy_dbfs(np.stack([frames[i] for i in at])).tolist(),
                            strict=True):
            out[i] = level
    return out


@dataclass
class TickStats:
    ticks: int = 0
    lags: list[float] = field(default_factory=list)  # seconds late, per tick
    keep: int = 10_000  # how many recent lags to keep

    def add(self, lag: float) -> None:
        self.ticks += 1
        self.lags.append(lag)
        if len(self.lags) > self.keep:
            del self.lags[: len(self.lags) - self.keep]


class MediaClock:
    """Ticks while at least one path is registered; stops by itself when none is."""

    def __init__(self, frame_seconds: float = FRAME_SECONDS) -> None:
        self.frame_seconds = frame_seconds
        self.stats = TickStats()
        self._paths: dict[int, Ticking] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._n = 0
        self._ids = 0

    def register(self, path: Ticking) -> Callable[[], None]:
        """Service `path` from the next tick on; call the returned function to stop."""
        self._ids += 1
        key = self._ids
        self._paths[key] = path
        if self._handle is None:
            loop = asyncio.get_running_loop()
            self._start, self._n = loop.time(), 0
            self._schedule(loop)
        def unregister() -> None:
            self._paths.pop(key, None)

        return unregister

    @property
    def running(self) -> bool:
        return self._handle is not None

    @property
    def tick_number(self) -> int:
        return self._n

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._n += 1
        self._handle = loop.call_at(self._start + self._n * self.frame_seconds, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        due = self._start + self._n * self.frame_seconds
        self.stats.add(max(0.0, loop.time() - due))
        paths = list(self._paths.values())
        frames = [path.take() for path in paths]
        for path, frame, level in zip(paths, frames, levels(frames), strict=True):
            path.tick(self._n, frame, level)
        if not self._paths:
            self._handle = None
            return
        # Drift correction: the next tick is due at its own absolute time; a
        # tick that is already overdue runs at once and the clock catches up.
        self._schedule(loop)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._paths.clear()
