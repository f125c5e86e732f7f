"""The forwarding sink passes every report of the port on, unchanged."""

from __future__ import annotations

import inspect
from typing import Any

from interpreter.media.ports import CallSink
from interpreter.transports.forwarding import ForwardingSink


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, args))


def test_every_report_of_the_port_is_passed_on() -> None:
    reports = [name for name, _ in inspect.getmembers(CallSink, inspect.isfunction)
               if not name.startswith("_")]
    inner = Recorder()
    sink = ForwardingSink(inner)  # type: ignore[arg-type]
    for index, name in enumerate(reports):
        arity = len(inspect.signature(getattr(CallSink, name)).parameters) - 1
        getattr(sink, name)(*range(index, index + arity))
    assert [name for name, _ in inner.calls] == reports
    assert all(args == tuple(range(i, i + len(args))) for i, (_, args) in enumerate(inner.calls))
    assert len(reports) >= 11
