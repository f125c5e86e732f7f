"""Tools in the agent loop: a webhook served on loopback, the demo end to end."""

from __future__ import annotations

import io
from pathlib import Path

from aiohttp import web

from interpreter.clock import run_virtual
from interpreter.commands import demo
from interpreter.document.compile import compile_text
from interpreter.providers.llm.scripted import ScriptedProvider, load_rules
from interpreter.runtime.ai.loop import runner
from interpreter.runtime.call import Call
from interpreter.server.demo_webhook import CALLS, build_app
from interpreter.transports.caller_script import load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

ROOT = Path(__file__).resolve().parents[3]

FLOW = """\
sections:
  main:
    - answer: {{}}
    - ai:
        prompt: {{text: You look up orders.}}
        params: {{wait_for_user: true}}
        error_recovery:
          tool_error: {{phrase: "Our order system is having trouble.", max_retries: 0}}
        SWAIG:
          defaults: {{web_hook_url: "http://user:pw@127.0.0.1:{port}/swaig"}}
          functions:
            - function: check_order
              description: Look up an order.
              parameters:
                type: object
                properties: {{order_id: {{type: string, pattern: "^[A-Z][0-9]{{3}}$"}}}}
                required: [order_id]
              timeout: 2
    - hangup: {{}}
"""
RULES = """\
rules:
  - when: {said: "order (?P<id>\\\\S+)"}
    call: {function: check_order, arguments: {order_id: "{id}"}}
  - when: {after_tool: check_order}
    reply: "{tool}."
"""


def _call(port: int, caller: str, app: web.Application, flow_text: str = FLOW,
          model: ScriptedProvider | None = None) -> tuple[Call, SimulatedCaller]:
    """Serve `app` on loopback and run one call of `flow_text` against it."""
    flow = compile_text(flow_text.format(port=port), "tools.yaml")
    script = load_caller_script(caller, "caller.yaml")
    model = model or load_rules(RULES, "rules.yaml")

    async def main() -> tuple[Call, SimulatedCaller]:
        site_runner = web.AppRunner(app)
        await site_runner.setup()
        await web.TCPSite(site_runner, "127.0.0.1", port).start()
        try:
            channel = SimulatedCaller(script)
            network = SimulatedNetwork.for_script(script)
            call = Call(flow, channel, network, ai_runner=runner(model))
            await call.run()
            await channel.close()
            await network.close()
        finally:
            await site_runner.cleanup()
        return call, channel

    return run_virtual(main)


def test_webhook_tool_reply_is_spoken_and_the_request_follows_swaig() -> None:
    app = build_app()
    call, channel = _call(18771, "steps:\n  - say: \"check order A123\"\n"
                          "  - hangup: {after: 8}\n", app)
    (body,) = app[CALLS]
    assert body["function"] == "check_order"  # type: ignore[index]
    assert body["argument"]["parsed"] == [{"order_id": "A123"}]  # type: ignore[index]
    assert any("shipped, ETA April 2nd" in line.text for line in channel.heard)
    assert call.trace.of_kind("tool_returned")


def test_arguments_failing_the_schema_go_back_to_the_model_without_a_request() -> None:
    app = build_app()
    call, _ = _call(18772, "steps:\n  - say: \"check order 12\"\n  - hangup: {after: 8}\n",
                    app)
    assert app[CALLS] == []
    errors = call.trace.of_kind("error")
    assert [e["type"] for e in errors] == ["tool_invalid_call"]


def test_a_failing_webhook_is_a_spoken_tool_error() -> None:
    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    app = web.Application()
    app.router.add_post("/swaig", broken)
    call, channel = _call(18773, "steps:\n  - say: \"check order A123\"\n"
                          "  - hangup: {after: 8}\n", app)
    (error,) = call.trace.of_kind("error")
    assert error["type"] == "tool_error"
    assert any("Our order system is having trouble." in line.text for line in channel.heard)


def test_demo_runs_the_support_flow_with_its_webhook_and_summary() -> None:
    out = io.StringIO()
    code = demo.run(str(ROOT / "flows" / "support.yaml"),
                    str(ROOT / "flows" / "support.caller.yaml"), out=out, err=io.StringIO())
    text = out.getvalue()
    assert code == 0, text
    assert "shipped, estimated arrival April 2nd" in text  # the flow pronounces ETA
    assert "barge-in" in text
    assert "summary delivered to /post_prompt" in text


INCLUDES = """\
sections:
  main:
    - answer: {{}}
    - ai:
        prompt: {{text: You look up orders.}}
        params: {{wait_for_user: true}}
        SWAIG:
          includes:
            - url: "http://inc:secret@127.0.0.1:{port}/signatures"
              functions: [check_order, not_served]
    - hangup: {{}}
"""


def test_includes_fetch_signatures_at_session_start_and_the_tool_runs() -> None:
    port = 18774
    requests: list[object] = []

    async def signatures(request: web.Request) -> web.Response:
        requests.append((request.headers.get("Authorization"), await request.json()))
        return web.json_response({"functions": [{
            "function": "check_order", "description": "Look up an order.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
            "web_hook_url": f"http://127.0.0.1:{port}/swaig"}]})

    app = build_app()
    app.router.add_post("/signatures", signatures)
    model = load_rules(RULES, "rules.yaml")
    call, channel = _call(port, "steps:\n  - say: \"check order A123\"\n  - hangup: {after: 8}\n",
                          app, INCLUDES, model)
    ((auth, body),) = requests
    assert auth == "Basic aW5jOnNlY3JldA=="  # inc:secret
    assert body["action"] == "get_signature"  # type: ignore[index]
    assert body["functions"] == ["check_order", "not_served"]  # type: ignore[index]
    (loaded,) = call.trace.of_kind("include_loaded")
    assert loaded["functions"] == ["check_order"]
    offered = {tool.name for request in model.requests for tool in request.tools}
    assert offered == {"check_order"}
    assert any("shipped, ETA April 2nd" in line.text for line in channel.heard)
