"""The process-wide media clock: one tick every 20 ms services every live call.

Not a timer or a task per call: each call's media path registers once, and
each tick calls every registered path in one pass (so work that is the same
for all calls can be done for all at once). Ticks are scheduled at absolute
times (`start + n * 20 ms`), so a late tick does not push the later ones: the
clock corrects its drift, and a tick that comes more than a frame late is
counted as lag (what the capacity benchmark reports). It runs on the loop's
clock, so under the virtual clock a call's audio runs exactly and fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

FRAME_SECONDS = 0.020


class Ticking(Protocol):
    def tick(self, n: int) -> None:
        """Take this tick's inbound frame, emit exactly one outbound frame."""


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
        for path in list(self._paths.values()):
            path.tick(self._n)
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
