"""The per-call trace: one ordered log of everything that happened.

Every inbound event, effect started/finished/dropped, state change, verb,
request and error is one record: `{"n": order, "t": seconds since the call
started, "kind": ..., ...}`. Secrets never reach a record: every field is
redacted on the way in (interpreter/redaction.py: secret keys, URL userinfo,
secret parameters, credential shapes, JSON inside strings, and the names a
flow declares with `callkernel_secret_fields`), and becomes JSON-shaped (an
object the runtime hands over is recorded as its fields). docs/trace.md lists
every record kind and the redaction rules.

Records go two ways, both optional:

- kept in memory (`Trace.records`, what tests assert on): all of them by
  default, the last N with `retain=N`, none with `retain=0`;
- handed to a `TraceSink`, in order. `JsonlTraceSink` (what `path=` builds)
  appends them to a JSONL file in batches: a record is serialized and written
  when its batch is full, at `flush()` and at `close()`, never one write and
  flush per record inside the call's actor. Crash safety: a process that dies
  loses the records of the batch not yet written (at most `batch`); `close()`
  always writes everything, and a host that wants the file current at some
  point (a turn, a transfer) calls `flush()`.

docs/performance.md ("Trace") has the cost of each.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from interpreter.redaction import (
    DEFAULT,
    REDACTED,
    Redactor,
    normalize_key,
    redact_text,
    redact_value,
)

__all__ = ["REDACTED", "JsonlTraceSink", "Trace", "TraceSink", "format_record", "read_trace",
           "redact", "redact_text", "redact_value"]

# What redacted records before interpreter/redaction.py; the name stays for
# the code that imports it from here.
redact = redact_value


class TraceSink(Protocol):
    """Where a trace's records go besides memory (a file, a host's log shipper).

    `write` gets every record, in order, as the dict the trace keeps: a sink
    must not change it. Values are JSON types, already redacted.
    """

    def write(self, record: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class TappedSink:
    """A trace sink that shows each record to `tap`, then hands it on to
    `inner` (the sink the host would have used, if any); `on_close` runs once
    the inner sink is closed, whatever that raised."""

    def __init__(self, tap: Callable[[dict[str, Any]], None], inner: TraceSink | None,
                 on_close: Callable[[], None] | None = None) -> None:
        self._tap = tap
        self._inner = inner
        self._on_close = on_close

    def write(self, record: dict[str, Any]) -> None:
        self._tap(record)
        if self._inner is not None:
            self._inner.write(record)

    def flush(self) -> None:
        if self._inner is not None:
            self._inner.flush()

    def close(self) -> None:
        try:
            if self._inner is not None:
                self._inner.close()
        finally:
            if self._on_close is not None:
                self._on_close()


# One encoder for every record: json.dumps with options builds a new one per call.
# No cycle check: redaction rebuilt every dict and list and made every value
# JSON-shaped, so a record cannot contain itself (default=str is a last resort).
_encode = json.JSONEncoder(default=str, check_circular=False).encode


class JsonlTraceSink:
    """Appends records to a JSONL file, `batch` records per write.

    A batch is serialized when it is written, in the call's actor: 64 records
    cost about 0.2 ms once, against a write and flush of about 5 µs for every
    record before; a larger batch saves little more and stalls the actor
    longer (docs/performance.md, "Trace"). The file is created with the sink,
    so a bad path fails before the call runs, and opened only to append a
    batch, so a live call holds no file descriptor.
    """

    def __init__(self, path: str | Path, *, batch: int = 64) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        self.path = Path(path)
        self.batch = batch
        self._pending: list[dict[str, Any]] = []
        self._closed = False
        with self.path.open("a", encoding="utf-8"):
            pass  # created, and known to be writable, before the call runs

    def write(self, record: dict[str, Any]) -> None:
        if self._closed:
            raise ValueError(f"trace sink {self.path} is closed")
        self._pending.append(record)
        if len(self._pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Serialize and append the pending records, if any."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        text = "\n".join(map(_encode, pending)) + "\n"
        with self.path.open("a", encoding="utf-8") as file:
            file.write(text)

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True


class Trace:
    """An append-only, ordered record of one call.

    `retain`: how many records stay in memory (`records`, `of_kind`) — None
    all of them, 0 none, N the last N (`dropped` counts the others). Records
    are numbered over the whole call whatever is retained. `path` appends the
    records to a JSONL file (a `JsonlTraceSink`); `sink` sends them to any
    other `TraceSink`; not both. `secret_keys`: names whose values are
    redacted wherever they appear, besides the built-in rules (a flow's
    `callkernel_secret_fields`; more can come with `add_secret_keys`).
    """

    def __init__(self, call_id: str, clock: Callable[[], float],
                 path: str | Path | None = None, *, sink: TraceSink | None = None,
                 retain: int | None = None, secret_keys: Iterable[str] = ()) -> None:
        if path and sink is not None:
            raise ValueError("a trace takes a path or a sink, not both")
        if retain is not None and retain < 0:
            raise ValueError(f"retain must be None or at least 0, not {retain}")
        self.call_id = call_id
        self._clock = clock
        self._start = clock()
        self._count = 0
        # A list when everything is kept (`records` is then the live list); a
        # bounded deque drops the oldest in O(1).
        self._kept: list[dict[str, Any]] | deque[dict[str, Any]] = (
            [] if retain is None else deque(maxlen=retain))
        self._sink: TraceSink | None = JsonlTraceSink(path) if path else sink
        self._redactor = DEFAULT
        self.add_secret_keys(secret_keys)

    @property
    def redactor(self) -> Redactor:
        """What redacts this call's records: for printing its values the same way."""
        return self._redactor

    def add_secret_keys(self, names: Iterable[str]) -> None:
        """Redact these keys' values in every later record (a flow's secret fields)."""
        names = frozenset(normalize_key(name) for name in names)
        if names and not names <= self._redactor.extra:
            self._redactor = Redactor.with_keys(self._redactor.extra | names)

    @property
    def records(self) -> list[dict[str, Any]]:
        """The retained records, oldest first (a copy when `retain` is set)."""
        kept = self._kept
        return kept if isinstance(kept, list) else list(kept)

    @property
    def count(self) -> int:
        """How many records were made, retained or not (the next record's `n`)."""
        return self._count

    @property
    def dropped(self) -> int:
        """How many records `retain` let go from memory (a sink still got each one)."""
        return self._count - len(self._kept)

    def record(self, kind: str, /, **fields: Any) -> dict[str, Any]:
        entry = {"n": self._count, "t": round(self._clock() - self._start, 6), "kind": kind}
        redact_field = self._redactor.value
        for key, value in fields.items():
            entry[f"{key}_" if key in _SKIP else key] = redact_field(value, key)
        self._count += 1
        self._kept.append(entry)
        if self._sink is not None:
            self._sink.write(entry)
        return entry

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        """The retained records of these kinds."""
        return [r for r in self._kept if r["kind"] in kinds]

    def flush(self) -> None:
        """Have the sink write out what it holds (the file current up to now)."""
        if self._sink is not None:
            self._sink.flush()

    def close(self) -> None:
        """Flush and close the sink; later records are kept in memory only."""
        if self._sink is not None:
            sink, self._sink = self._sink, None
            sink.close()


def read_trace(path: str | Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


_SKIP = ("n", "t", "kind")


def format_record(record: dict[str, Any]) -> str:
    """One timeline line: `  12.340  kind            key=value ...`."""
    # default=str: in memory a record may hold a value the file has as text
    # (an event's tool reply), and a timeline must never fail on it.
    details = " ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}"
                       for k, v in record.items() if k not in _SKIP)
    return f"{record.get('t', 0):9.3f}  {record.get('kind', '?'):<20} {details}".rstrip()
