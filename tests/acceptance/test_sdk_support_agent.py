"""Acceptance: an application built with the signalwire-agents SDK, run for real
on loopback, serves its document and its check_order tool; `callkernel run URL`
fetches the document the way the hosted platform does, runs the call, calls
the tool, and the caller hears the order status."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from interpreter.commands import run as run_command
from tests.acceptance.sdk_app import running

CALLER = """\
from: "+15555550100"
steps:
  - say: "Hi, can you check my order A123?"
  - hangup: {after: 8}
"""
MODEL = """\
rules:
  - when: {start: true}
    reply: "Hello, this is support. How can I help?"
  - when: {said: "order (?P<order_id>[A-Z]\\\\d+)"}
    call: {function: check_order, arguments: {order_id: "{order_id}"}}
  - when: {after_tool: check_order}
    reply: "{tool}."
"""


@pytest.fixture
def support_agent() -> Iterator[int]:
    with running() as port:
        yield port


def test_sdk_application_serves_the_document_and_tool_callkernel_runs_the_call(
        support_agent: int, tmp_path: Path) -> None:
    script = tmp_path / "caller.yaml"
    script.write_text(CALLER)
    rules = tmp_path / "model.yaml"
    rules.write_text(MODEL)
    trace = tmp_path / "trace.jsonl"
    out, err = io.StringIO(), io.StringIO()
    url = f"http://seeduser:seedpass@127.0.0.1:{support_agent}/support/"
    code = run_command.run(url, str(script), model_script=str(rules), as_json=True,
                           trace_path=str(trace), out=out, err=err)
    assert code == 0, err.getvalue()
    report = json.loads(out.getvalue())
    agent_lines = [line["text"] for line in report["conversation"] if line["who"] == "agent"]
    assert any("Order A123: shipped, ETA April 2nd" in text for text in agent_lines), agent_lines
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    (returned,) = [r for r in records if r["kind"] == "tool_returned"]
    assert returned["function"] == "check_order"
    assert "seedpass" not in trace.read_text()
