"""The trace: ordered records, secrets redacted on the way in, readable output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from interpreter.runtime.tools.base import ToolReply
from interpreter.runtime.trace import (
    REDACTED,
    JsonlTraceSink,
    Trace,
    TraceSink,
    format_record,
    read_trace,
    redact,
)


def test_secrets_are_redacted_but_counts_are_kept(tmp_path: Path) -> None:
    trace = Trace("call-1", lambda: 0.0, tmp_path / "t.jsonl")
    record = trace.record(
        "tool", password="hunter2", web_hook_auth_password="p", api_key="k",
        Authorization="Bearer x", access_token="t", tokens=42, token_time_s=0.03,
        url="https://user:pw@example.com/x?__token=abc&page=2",
        nested={"secret": "s", "items": [{"signature": "sig", "n": 1}]})
    assert record["password"] == record["web_hook_auth_password"] == REDACTED
    assert record["api_key"] == record["Authorization"] == record["access_token"] == REDACTED
    assert (record["tokens"], record["token_time_s"]) == (42, 0.03)
    assert record["url"] == f"https://{REDACTED}@example.com/x?__token={REDACTED}&page=2"
    assert record["nested"] == {"secret": REDACTED, "items": [{"signature": REDACTED, "n": 1}]}
    trace.close()
    written = (tmp_path / "t.jsonl").read_text()
    assert "hunter2" not in written and "pw@" not in written


def test_records_are_numbered_in_order_and_reserved_names_are_kept_apart(
        tmp_path: Path) -> None:
    clock = iter([0.0, 1.5, 2.25])
    trace = Trace("call-1", lambda: next(clock), tmp_path / "t.jsonl")
    trace.record("event", kind="speech")  # a field named like the record's own keys
    trace.record("state", old="new", new="ringing")
    trace.close()
    records = list(read_trace(tmp_path / "t.jsonl"))
    assert [(r["n"], r["t"], r["kind"]) for r in records] == [(0, 1.5, "event"),
                                                               (1, 2.25, "state")]
    assert records[0]["kind_"] == "speech"
    assert format_record(records[1]) == '    2.250  state                old="new" new="ringing"'


def test_a_timeline_line_shows_values_json_cannot_hold() -> None:
    trace = Trace("call-1", lambda: 0.0)
    record = trace.record("event", event="ToolReturned", reply=ToolReply("ok"))
    assert "reply=\"ToolReply(response='ok'" in format_record(record)


def test_numbers_and_plain_text_pass_redaction_untouched() -> None:
    value = {"n": 3, "ratio": 0.5, "on": True, "none": None, "text": "a=b c@d",
             "url": "https://user:pw@x.example/p?token=t&x=1"}
    assert redact(value) == {"n": 3, "ratio": 0.5, "on": True, "none": None,
                             "text": "a=b c@d", "url": "https://***@x.example/p?token=***&x=1"}


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_a_file_trace_is_written_in_batches_and_loses_nothing_at_close(
        tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    trace = Trace("call-1", lambda: 0.0, sink=JsonlTraceSink(path, batch=4))
    for i in range(10):
        trace.record("verb", verb="set", line=i, url="https://u:pw@x.example/")
    assert _lines(path) == 8  # two full batches; the last two wait
    trace.flush()
    assert _lines(path) == 10
    trace.record("call_ended", disposition="hangup", reply=ToolReply("ok"))
    assert _lines(path) == 10
    trace.close()
    trace.close()  # closing twice is harmless
    # The file holds what memory holds, in order, as JSON has it.
    assert list(read_trace(path)) == json.loads(json.dumps(trace.records, default=str))


def test_a_trace_path_writes_nothing_per_record_and_everything_at_close(
        tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    trace = Trace("call-1", lambda: 0.0, path)
    assert path.exists() and _lines(path) == 0
    for i in range(10):  # fewer than a batch
        trace.record("event", event="DigitPressed", seq=i)
    assert _lines(path) == 0
    trace.close()
    trace.record("late", note="after close: memory only")
    assert list(read_trace(path)) == trace.records[:-1]


def test_a_trace_file_in_a_missing_directory_fails_when_the_trace_is_made(
        tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Trace("call-1", lambda: 0.0, tmp_path / "missing" / "t.jsonl")


def test_retain_zero_keeps_nothing_in_memory_but_the_file_has_every_record(
        tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    trace = Trace("call-1", lambda: 0.0, path, retain=0)
    for i in range(5):
        trace.record("verb", line=i)
    assert (trace.records, trace.of_kind("verb"), trace.dropped, trace.count) == ([], [], 5, 5)
    trace.close()
    assert [r["n"] for r in read_trace(path)] == [0, 1, 2, 3, 4]


def test_retain_keeps_the_last_records_numbered_over_the_whole_call() -> None:
    trace = Trace("call-1", lambda: 0.0, retain=3)
    for i in range(7):
        trace.record("verb" if i % 2 else "event", i=i)
    assert [r["n"] for r in trace.records] == [4, 5, 6]
    assert [r["n"] for r in trace.of_kind("verb")] == [5]
    assert (trace.dropped, trace.count) == (4, 7)
    assert trace.record("state")["n"] == 7


def test_all_records_are_retained_by_default() -> None:
    trace = Trace("call-1", lambda: 0.0)
    for i in range(1000):
        trace.record("verb", i=i)
    assert [r["n"] for r in trace.records] == list(range(1000))
    assert trace.dropped == 0


class ListSink:
    """A host's own sink: keeps what it is given."""

    def __init__(self) -> None:
        self.written: list[dict[str, Any]] = []
        self.calls: list[str] = []

    def write(self, record: dict[str, Any]) -> None:
        self.written.append(record)

    def flush(self) -> None:
        self.calls.append("flush")

    def close(self) -> None:
        self.calls.append("close")


def test_a_custom_sink_receives_every_record_in_order_redacted() -> None:
    sink = ListSink()
    as_protocol: TraceSink = sink
    trace = Trace("call-1", lambda: 0.0, sink=as_protocol, retain=2)
    for i in range(5):
        trace.record("tool", i=i, api_key="k")
    trace.flush()
    trace.close()
    trace.close()
    assert [r["n"] for r in sink.written] == [0, 1, 2, 3, 4]
    assert {r["api_key"] for r in sink.written} == {REDACTED}
    assert sink.calls == ["flush", "close"]
    assert sink.written[-2:] == trace.records


def test_a_trace_takes_a_path_or_a_sink_and_a_retain_of_zero_or_more(
        tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        Trace("call-1", lambda: 0.0, tmp_path / "t.jsonl", sink=ListSink())
    with pytest.raises(ValueError, match="retain"):
        Trace("call-1", lambda: 0.0, retain=-1)
    with pytest.raises(ValueError, match="batch"):
        JsonlTraceSink(tmp_path / "t.jsonl", batch=0)
