"""Acceptance: an application built with the signalwire-agents SDK, run for real
on loopback, serves its document and its check_order tool; `callkernel run URL`
fetches the document the way the hosted platform does, runs the call, calls
the tool, and the caller hears the order status."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from interpreter.commands import run as run_command

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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def support_agent() -> Iterator[int]:
    from signalwire_agents import AgentBase, SwaigFunctionResult  # type: ignore[import-untyped]

    port = _free_port()

    class SupportAgent(AgentBase):  # type: ignore[misc]
        def __init__(self) -> None:
            # host/port are what the SDK writes into the webhook URLs it emits.
            super().__init__(name="Support Agent", route="/support", host="127.0.0.1",
                             port=port, basic_auth=("seeduser", "seedpass"))
            self.prompt_add_section("Instructions", body="You are a customer support agent. "
                                    "Greet the caller and resolve their issue.")
            self.add_language("English", "en-US", "rime.spore:mistv2")

        @AgentBase.tool(name="check_order")  # type: ignore[misc]
        def check_order(self, order_id: str) -> SwaigFunctionResult:
            """Check the status of a customer order.
            Args:
                order_id: The order ID to look up
            """
            return SwaigFunctionResult(f"Order {order_id}: shipped, ETA April 2nd")

    agent = SupportAgent()
    server = uvicorn.Server(uvicorn.Config(agent.get_app(), host="127.0.0.1", port=port,
                                           log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the SDK app did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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
