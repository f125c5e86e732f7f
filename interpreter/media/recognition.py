"""Where a listener's utterances are recognized: on the media tick, or in
worker processes.

The listener opens one recognition per utterance, feeds it audio, asks for
its end, and each tick collects what came back (`results()`): partial and
final transcripts, or a failure. Both kinds of recognizer answer through that
one interface, so the listener does not know which it has.

- `InlineRecognizer` runs a provider's session right there: a result is
  ready in the tick that asked for it. Deterministic, so the virtual-clock
  tests and `run --audio` use it; but the decoding is on the tick (the
  embedded recognizer costs ~0.7 ms a frame while someone speaks: some 25-30
  people speaking at once fill a core).
- `SttWorkers` runs sessions in worker processes (pocketsphinx holds the GIL,
  so threads would not help). The tick only queues the frame; the messages of
  one tick go out as one batch per worker right after it, written by a
  thread of its own (so a worker that falls behind never blocks the media
  clock), and results are read when the worker's pipe is readable, for the
  next tick to collect. Each utterance is pinned to one worker (the least
  busy when it opens), so its frames are decoded in order. A worker more than
  `MAX_BACKLOG` batches behind takes no new utterance (they fail as
  overloaded: the caller hears an stt_error, not silence, and memory stays
  bounded); a worker that dies fails its utterances and is started again for
  the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol, runtime_checkable

import numpy as np

from interpreter.media.frames import Samples
from interpreter.media.ports import ListenSettings
from interpreter.providers.stt.base import Recognized, SttError, SttProvider, SttSession


@dataclass(frozen=True, slots=True)
class Partial:
    recognized: Recognized


@dataclass(frozen=True, slots=True)
class Final:
    recognized: Recognized


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


Result = Partial | Final | Failed


class Recognition(Protocol):
    """One utterance being recognized."""

    def feed(self, audio: Samples) -> None: ...

    def finish(self) -> None:
        """The utterance has ended: its final result (or failure) follows."""

    def close(self) -> None:
        """Drop it: no result of it is wanted any more."""

    def results(self) -> list[Result]:
        """What came back since the last call, in order."""
        ...


@runtime_checkable
class Recognizer(Protocol):
    sample_rate: int  # what `feed` takes

    def open(self, settings: ListenSettings) -> Recognition:
        """Start recognizing an utterance (SttError if it cannot be)."""
        ...


# ------------------------------------------------------------------ on the tick


class InlineRecognizer:
    """A provider's sessions run on the tick: results in the same tick."""

    def __init__(self, provider: SttProvider) -> None:
        self.provider = provider
        self.sample_rate = provider.sample_rate

    def open(self, settings: ListenSettings) -> Recognition:
        return _InlineRecognition(self.provider.session(settings))


class _InlineRecognition:
    def __init__(self, session: SttSession) -> None:
        self._session: SttSession | None = session
        self._results: list[Result] = []

    def feed(self, audio: Samples) -> None:
        if self._session is None:
            return
        try:
            partial = self._session.feed(audio)
        except SttError as error:
            self._fail(str(error))
            return
        if partial is not None:
            self._results.append(Partial(partial))

    def finish(self) -> None:
        if self._session is None:
            return
        try:
            final = self._session.finish()
        except SttError as error:
            self._fail(str(error))
            return
        self._results.append(Final(final))
        self.close()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def results(self) -> list[Result]:
        out, self._results = self._results, []
        return out

    def _fail(self, reason: str) -> None:
        self._results.append(Failed(reason))
        self.close()


def recognizer(stt: SttProvider | Recognizer) -> Recognizer:
    """`stt` as a recognizer: a provider runs on the tick."""
    return stt if isinstance(stt, Recognizer) else InlineRecognizer(stt)


# ------------------------------------------------------------------ in workers


ProviderFactory = Callable[[], SttProvider]
MAX_BACKLOG = 50  # batches (ticks) a worker may be behind and still take an utterance


def _serve(connection: Connection) -> None:
    """A worker process: sessions by utterance id, results sent back per batch."""
    providers: dict[str, SttProvider] = {}
    sessions: dict[int, SttSession] = {}
    while True:
        try:
            batch = connection.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        out: list[tuple[Any, ...]] = []
        for message in batch:
            _handle(message, providers, sessions, out)
        if out:
            try:
                connection.send(out)
            except OSError:
                return  # the media process has gone


def _handle(message: tuple[Any, ...], providers: dict[str, SttProvider],
            sessions: dict[int, SttSession], out: list[tuple[Any, ...]]) -> None:
    op, uid = message[0], message[1]
    try:
        if op == "open":
            key, factory, hints, language, source_rate = message[2:]
            provider = providers.get(key)
            if provider is None:
                provider = providers[key] = factory()
            sessions[uid] = provider.session(ListenSettings(language=language, hints=hints,
                                                            source_rate=source_rate))
        elif op == "feed":
            session = sessions.get(uid)
            partial = session.feed(np.frombuffer(message[2], dtype=np.int16)) \
                if session is not None else None
            if partial is not None:
                out.append((uid, "partial", partial.text, partial.confidence))
        elif op == "finish":
            session = sessions.pop(uid, None)
            if session is not None:
                try:
                    final = session.finish()
                finally:
                    session.close()
                out.append((uid, "final", final.text, final.confidence))
        elif op == "close":
            dropped = sessions.pop(uid, None)
            if dropped is not None:
                dropped.close()
    except Exception as error:  # a provider's failure is the utterance's, never the worker's
        failed = sessions.pop(uid, None)
        if failed is not None:
            failed.close()
        reason = str(error) if isinstance(error, SttError) else \
            f"recognizer error: {type(error).__name__}: {error}"
        out.append((uid, "failed", reason))


class _Worker:
    def __init__(self, context: Any) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True,
                                       name="callkernel-stt")
        self.process.start()
        child.close()
        self.outbox: list[tuple[Any, ...]] = []
        self.open: set[int] = set()  # utterances pinned here
        self.alive = True
        # Batches written by a thread: a worker that falls behind fills this
        # queue, never the media clock's loop.
        self.backlog: queue.SimpleQueue[list[tuple[Any, ...]] | None] = queue.SimpleQueue()
        self.writer = threading.Thread(target=self._write, name="callkernel-stt-writer",
                                       daemon=True)
        self.writer.start()

    def _write(self) -> None:
        while (batch := self.backlog.get()) is not None:
            try:
                self.connection.send(batch)
            except OSError:
                return  # the worker died: its reader says so on the loop

    @property
    def behind(self) -> bool:
        return self.backlog.qsize() > MAX_BACKLOG


class SttWorkers:
    """Worker processes that recognize for every call of this process."""

    def __init__(self, processes: int = 1) -> None:
        self.processes = max(1, processes)
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._results: dict[int, deque[Result]] = {}
        self._ids = itertools.count(1)
        self._flushing = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def recognizer(self, key: str, factory: ProviderFactory, sample_rate: int) -> Recognizer:
        """A recognizer whose provider `factory()` builds in each worker (once
        per `key`); `factory` must be picklable (a module-level class or
        function, or a functools.partial of one)."""
        return _WorkerRecognizer(self, key, factory, sample_rate)

    def close(self) -> None:
        for worker in self._workers:
            self._stop(worker)
        self._workers.clear()

    # ------------------------------------------------------------ the main side

    def _open(self, key: str, factory: ProviderFactory,
              settings: ListenSettings) -> tuple[int, _Worker]:
        worker = self._least_busy()
        if worker.behind:
            raise SttError("speech recognition is overloaded: its workers are "
                           f"{worker.backlog.qsize()} ticks behind")
        uid = next(self._ids)
        worker.open.add(uid)
        self._results[uid] = deque()
        self._send(worker, ("open", uid, key, factory, settings.hints, settings.language,
                            settings.source_rate))
        return uid, worker

    def _least_busy(self) -> _Worker:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.close()  # a new loop (tests): workers read on this one
            self._loop = loop
        self._workers = [w for w in self._workers if w.alive]
        while len(self._workers) < self.processes:
            worker = _Worker(self._context)
            loop.add_reader(worker.connection.fileno(), self._read, worker)
            self._workers.append(worker)
        return min(self._workers, key=lambda w: (w.behind, len(w.open)))

    def _send(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        if not worker.alive:
            return
        worker.outbox.append(message)
        if not self._flushing and self._loop is not None:
            # All a tick queues goes out in one write per worker, after it.
            self._flushing = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flushing = False
        for worker in self._workers:
            if worker.outbox and worker.alive:
                batch, worker.outbox = worker.outbox, []
                worker.backlog.put(batch)

    def _read(self, worker: _Worker) -> None:
        try:
            while worker.connection.poll():
                for uid, kind, *rest in worker.connection.recv():
                    results = self._results.get(uid)
                    if results is None:
                        continue  # closed meanwhile
                    if kind == "failed":
                        results.append(Failed(rest[0]))
                    else:
                        made = Recognized(rest[0], kind == "final", rest[1])
                        results.append(Final(made) if kind == "final" else Partial(made))
                    if kind != "partial":
                        worker.open.discard(uid)
        except (EOFError, OSError):
            self._died(worker)

    def _died(self, worker: _Worker) -> None:
        for uid in worker.open:
            results = self._results.get(uid)
            if results is not None:
                results.append(Failed("the speech recognition worker stopped"))
        worker.open.clear()
        self._stop(worker)

    def _stop(self, worker: _Worker) -> None:
        if not worker.alive:
            return
        worker.alive = False
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(worker.connection.fileno())
        worker.backlog.put(None)  # the writer ends, then the worker
        worker.writer.join(timeout=1.0)
        with contextlib.suppress(OSError):
            worker.connection.send(None)
        worker.connection.close()
        worker.process.join(timeout=1.0)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=1.0)

    def _drop(self, uid: int, worker: _Worker) -> None:
        if self._results.pop(uid, None) is not None and uid in worker.open:
            worker.open.discard(uid)
            self._send(worker, ("close", uid))


class _WorkerRecognizer:
    def __init__(self, workers: SttWorkers, key: str, factory: ProviderFactory,
                 sample_rate: int) -> None:
        self._workers, self._key, self._factory = workers, key, factory
        self.sample_rate = sample_rate

    def open(self, settings: ListenSettings) -> Recognition:
        uid, worker = self._workers._open(self._key, self._factory, settings)
        return _WorkerRecognition(self._workers, uid, worker)


class _WorkerRecognition:
    def __init__(self, workers: SttWorkers, uid: int, worker: _Worker) -> None:
        self._workers, self._uid, self._worker = workers, uid, worker
        self._results = workers._results[uid]
        self._finished = False

    def feed(self, audio: Samples) -> None:
        if not self._finished:
            self._workers._send(self._worker, ("feed", self._uid, audio.tobytes()))

    def finish(self) -> None:
        if not self._finished:
            self._finished = True
            self._workers._send(self._worker, ("finish", self._uid))

    def close(self) -> None:
        self._workers._drop(self._uid, self._worker)

    def results(self) -> list[Result]:
        out = list(self._results)
        self._results.clear()
        if any(not isinstance(result, Partial) for result in out):
            self._workers._results.pop(self._uid, None)  # the last it will have
        return out
