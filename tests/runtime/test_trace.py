"""The trace: ordered records, secrets redacted on the way in, readable output."""

from __future__ import annotations

import json
import re
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
        accessToken="t", db_passwd="p", auth={"user": "u"}, input_tokens=7,
        url="https://user:pw@example.com/x?__token=abc&page=2",
        nested={"secret": "s", "items": [{"signature": "sig", "n": 1}]})
    assert record["password"] == record["web_hook_auth_password"] == REDACTED
    assert record["api_key"] == record["Authorization"] == record["access_token"] == REDACTED
    assert record["accessToken"] == record["db_passwd"] == record["auth"] == REDACTED
    assert (record["tokens"], record["token_time_s"], record["input_tokens"]) == (42, 0.03, 7)
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


def test_an_object_is_recorded_as_json_with_its_secrets_redacted(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    trace = Trace("call-1", lambda: 0.0, path)
    reply = ToolReply("ok", raw={"response": "ok", "db_password": "hunter2"})
    record = trace.record("event", event="ToolReturned", reply=reply)
    assert record["reply"]["response"] == "ok" and record["reply"]["actions"] == []
    assert record["reply"]["raw"] == {"response": "ok", "db_password": REDACTED}
    assert 'reply={"response": "ok"' in format_record(record)
    trace.close()
    assert list(read_trace(path)) == [record]  # the file holds what memory holds
    assert "hunter2" not in path.read_text()


def test_a_tool_returned_event_records_the_reply_as_json() -> None:
    from interpreter.runtime.call import _event_fields
    from interpreter.runtime.events import ToolReturned
    from interpreter.runtime.tools.replies import parse_actions

    reply = ToolReply("Booked.", actions=parse_actions((
        {"say": "Done"}, {"set_global_data": {"api_token": "t0k", "seat": "12A"}})),
        post_process=True)
    trace = Trace("call-1", lambda: 0.0)
    record = trace.record("event", event="ToolReturned", seq=1,
                          **_event_fields(ToolReturned(3, "book", reply)))
    assert record["reply"] == {
        "response": "Booked.", "post_process": True,
        "actions": [{"name": "say", "value": "Done"},
                    {"name": "set_global_data",
                     "value": {"api_token": REDACTED, "seat": "12A"}}]}
    assert json.loads(json.dumps(record)) == record


def test_tool_call_arguments_are_redacted_as_json_and_stay_a_string() -> None:
    trace = Trace("call-1", lambda: 0.0)
    record = trace.record("effect_started", effect="tool", function="login",
                          arguments='{"user": "bob", "password": "hunter2"}')
    assert json.loads(record["arguments"]) == {"user": "bob", "password": REDACTED}
    plain = '{"order_id":"A123"}'
    assert trace.record("tool_mocked", arguments=plain)["arguments"] == plain


def test_a_flow_s_secret_fields_are_redacted_in_every_later_record() -> None:
    trace = Trace("call-1", lambda: 0.0)
    before = trace.record("call_ended", vars={"card_number": "4111"})
    trace.add_secret_keys(("cardNumber",))
    trace.add_secret_keys(("cardNumber",))  # again: nothing changes
    after = trace.record("call_ended", vars={"card_number": "4111", "count": 2},
                         arguments='{"card-number": "4111"}', note="card_number=4111")
    assert before["vars"] == {"card_number": "4111"}
    assert after["vars"] == {"card_number": REDACTED, "count": 2}
    assert after["arguments"] == '{"card-number": "***"}'
    assert after["note"] == "card_number=***"
    assert Trace("c", lambda: 0.0, secret_keys=["pin"]).record(
        "x", data={"PIN": 1234})["data"] == {"PIN": REDACTED}
    assert trace.redactor.value({"card_number": "4111"}) == {"card_number": REDACTED}


def test_numbers_and_plain_text_pass_redaction_untouched() -> None:
    value = {"n": 3, "ratio": 0.5, "on": True, "none": None, "text": "a=b c@d",
             "url": "https://user:pw@x.example/p?token=t&x=1"}
    # trace.redact is interpreter.redaction.redact_value, kept for old imports.
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
    # The file holds what memory holds, in order: records are JSON already.
    assert list(read_trace(path)) == trace.records


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


SECRET_FLOW = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: You take payments.}
        params: {wait_for_user: true, callkernel_secret_fields: [card_number, cvv]}
        global_data: {card_number: "4111111111111111", plan: gold}
        SWAIG:
          defaults: {web_hook_url: "https://app.example/swaig"}
          functions:
            - function: pay
              description: Take a payment.
              parameters:
                type: object
                properties:
                  card_number: {type: string}
                  cvv: {type: string}
                  password: {type: string}
    - hangup: {}
"""
SECRET_RULES = """\
rules:
  - when: {said: "pay"}
    call: {function: pay, arguments: {card_number: "5500000000000004", cvv: "737",
                                      password: "hunter2"}}
  - when: {after_tool: pay}
    reply: "Paid."
"""


def test_a_flow_declares_fields_secret_and_no_record_shows_their_values() -> None:
    from interpreter import ir
    from interpreter.document.compile import compile_text
    from interpreter.runtime.tools.runner import ToolMock
    from tests.runtime.ai.harness import run_ai_call

    ai = compile_text(SECRET_FLOW, "flow.yaml").main.body[1]
    assert isinstance(ai, ir.Ai) and ai.params.secret_fields == ("card_number", "cvv")
    mock = ToolMock("Payment taken.", actions=(
        {"set_global_data": {"card_number": "5500000000000004", "receipt": "R1"}},))
    call, _, _, _ = run_ai_call(SECRET_FLOW, 'steps:\n  - say: "pay now"\n  - hangup: {}\n',
                                SECRET_RULES, {"pay": mock})
    (started,) = [r for r in call.trace.of_kind("effect_started") if r["effect"] == "tool"]
    assert json.loads(started["arguments"]) == {"card_number": REDACTED, "cvv": REDACTED,
                                                "password": REDACTED}
    (action,) = call.trace.of_kind("action")
    assert action["value"] == {"card_number": REDACTED, "receipt": "R1"}
    written = json.dumps(call.trace.records)
    for secret in ("4111111111111111", "5500000000000004", "737", "hunter2"):
        # Whole values only: a random call id, a hash or a time may hold "737".
        assert not re.search(rf"(?<![0-9a-f.:-]){secret}(?![0-9a-f])", written), secret
