"""The trace: ordered records, secrets redacted on the way in, readable output."""

from __future__ import annotations

from pathlib import Path

from interpreter.runtime.trace import REDACTED, Trace, format_record, read_trace


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
