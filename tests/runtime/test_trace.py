"""The trace: ordered records, secrets redacted on the way in, readable output."""

from __future__ import annotations

from pathlib import Path

from interpreter.runtime.tools.base import ToolReply
from interpreter.runtime.trace import REDACTED, Trace, format_record, read_trace, redact


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
