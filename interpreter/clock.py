"""Virtual time for asyncio, so call scenarios run exactly, fast and sleep-free.

`VirtualTimeLoop` is a selector event loop whose `time()` is virtual: when no
callback is ready and nothing arrives on a socket, the loop jumps its clock to
the next scheduled timer instead of waiting. Everything built on the loop's
clock — `asyncio.sleep`, `wait_for`, `call_later`, our media ticks and
timeouts — then runs in virtual time, in exactly the order real time would
give, with no sleeping. Code under test does not know: it uses asyncio as
usual and reads time from `loop.time()`.

Real I/O still works: while sockets are open, the loop gives them a few
milliseconds of real time before each jump, which is enough for a loopback
peer in the same process. Tests of timeouts against real servers use the
real loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
# Real seconds to wait for open sockets before the virtual clock jumps.
REAL_IO_GRACE = 0.005


class _VirtualSelector(selectors.DefaultSelector):
    """Polls real file descriptors without blocking; waiting advances the clock."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop
        self._real_mark: float | None = None  # when real time was last counted

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        if self._loop.real_io_pending:
            # Real I/O in flight: time runs at real speed, also while a socket
            # stays readable (a peer streaming without pause must still meet
            # its deadlines), and while the loop runs callbacks between polls.
            now = time.perf_counter()
            if self._real_mark is not None:
                self._loop.advance(now - self._real_mark)
            try:
                return self._poll(timeout)
            finally:
                after = time.perf_counter()
                waited = after - now
                # Never past the next timer: it must fire at its own time.
                self._loop.advance(waited if timeout is None else min(waited, timeout))
                self._real_mark = after if self._loop.real_io_pending else None
        self._real_mark = None
        return self._poll(timeout)

    def _poll(self, timeout: float | None) -> list[tuple[Any, int]]:
        ready: list[tuple[Any, int]] = super().select(0)
        if ready or timeout is None or timeout <= 0:
            if not ready and timeout is None:
                # Nothing scheduled and nothing ready: only outside input (a
                # thread, a socket) can wake us, so wait for it in real time.
                ready = super().select(0.05)
            return ready
        if self._loop.real_io_pending:
            # Real work is in flight (a worker thread, an HTTP exchange with a
            # peer outside this loop): wait in real time until it answers (the
            # time is counted by select() above), so its timeouts mean what
            # they say.
            return super().select(timeout)
        if len(self.get_map()) > 1:
            # Sockets besides the loop's own wake-up pipe: give a loopback
            # peer a moment of real time to answer before time jumps ahead.
            ready = super().select(min(timeout, REAL_IO_GRACE))
            if ready:
                return ready
        self._loop.advance(timeout)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves when every task is waiting."""

    def __init__(self) -> None:
        self._virtual_now = 0.0
        self.real_io_pending = 0
        super().__init__(selector=_VirtualSelector(self))

    def run_in_executor(self, executor: Any, func: Callable[..., T],  # type: ignore[override]
                        *args: Any) -> asyncio.Future[T]:
        """Count work in threads: while any runs, time must not jump past it."""
        future = super().run_in_executor(executor, func, *args)
        self.real_io_pending += 1
        future.add_done_callback(self._io_done)
        return future

    def _io_done(self, _: object) -> None:
        self.real_io_pending -= 1

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds


@contextlib.contextmanager
def real_io() -> Iterator[None]:
    """Mark real I/O in flight (an HTTP request): on a virtual-time loop, time
    runs at real speed until it is done; on a normal loop this does nothing."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualTimeLoop):
        yield
        return
    loop.real_io_pending += 1
    try:
        yield
    finally:
        loop.real_io_pending -= 1


def run_virtual(main: Callable[[], Awaitable[T]]) -> T:
    """Run `main()` to completion on a fresh virtual-time loop."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(_call(main))


async def _call(main: Callable[[], Awaitable[T]]) -> T:
    return await main()
