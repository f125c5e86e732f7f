"""Post-call work leaves through the outbox, never holding up the call."""

from __future__ import annotations

import asyncio

from aiohttp import web

from interpreter.clock import run_virtual
from interpreter.document.compile import compile_text
from interpreter.host import CallHost
from interpreter.providers.llm.scripted import load_rules
from interpreter.runtime.outbox import IDEMPOTENCY_HEADER, MemoryOutbox
from interpreter.transports.caller_script import load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

FLOW = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: You route calls.}
        post_prompt: {text: Summarise as JSON.}
        post_prompt_url: URL
        params: {attention_timeout: 0}
        SWAIG:
          defaults: {web_hook_url: "https://app.example/swaig"}
          functions:
            - function: route
              description: Route the call.
              parameters: {type: object, properties: {}}
    - hangup: {}
"""
RULES = """\
rules:
  - when: {start: true}
    reply: "Hi."
  - when: {said: "sales"}
    call: {function: route, arguments: {}}
  - when: {summary: true}
    reply: '{"routed": "sales"}'
"""
CALLER = 'steps:\n  - say: "sales please"\n  - hangup: {after: 10}\n'


def _run(url: str, outbox: MemoryOutbox | None = None) -> tuple[float, float, list[dict]]:
    from interpreter.runtime.tools.runner import ToolMock

    posted: list[dict] = []

    async def main() -> tuple[float, float]:
        app = web.Application()

        async def receive(request: web.Request) -> web.Response:
            posted.append({"key": request.headers.get(IDEMPOTENCY_HEADER),
                           "body": await request.json()})
            return web.json_response({})

        app.router.add_post("/summary", receive)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        flow_here = compile_text(FLOW.replace("URL", url.replace("PORT", str(port))),
                                 "outbox.yaml")
        script = load_caller_script(CALLER)
        caller = SimulatedCaller(script)
        network = SimulatedNetwork.for_script(script)
        mock = ToolMock("Routing.", actions=({"SWML": {"sections": {"main": [
            {"play": {"url": "say:Sales here."}}]}}, "transfer": "true"},))
        try:
            async with CallHost(llm={"scripted": load_rules(RULES)}, outbox=outbox) as host:
                call = await host.run_call(flow_here, caller, network, mocks={"route": mock})
                returned = call.trace.of_kind("tool_returned")[0]["t"]
                transferred = next(r["t"] for r in call.trace.of_kind("verb")
                                   if r["verb"] == "play")
        finally:
            await caller.close()
            await network.close()
            await runner.cleanup()
        return returned, transferred

    returned, transferred = run_virtual(main)
    return returned, transferred, posted


def test_the_summary_is_delivered_after_the_call_with_an_idempotency_key() -> None:
    _, _, posted = _run("http://127.0.0.1:PORT/summary")
    (delivery,) = posted
    assert delivery["key"]
    assert delivery["body"]["post_prompt_data"]["parsed"] == [{"routed": "sales"}]
    assert delivery["body"]["call_log"][0] == {"role": "assistant", "content": "Hi."}


def test_a_refused_summary_url_does_not_delay_the_transfer() -> None:
    outbox = MemoryOutbox(attempts=2, first_backoff=0.01)
    returned, transferred, _ = _run("http://127.0.0.1:9/summary", outbox)
    # The transfer starts in the tick the tool's reply arrived in.
    assert transferred - returned < 0.01
    (result,) = outbox.results
    assert (result.state, result.attempts) == ("given_up", 2)
    assert result.summary == '{"routed": "sales"}'


def test_memory_outbox_keeps_a_summary_without_url() -> None:
    async def main() -> None:
        outbox = MemoryOutbox()
        from interpreter.runtime.outbox import Delivery
        outbox.submit(Delivery("c1", "post_prompt", "k1", None, {"a": 1}))
        await outbox.close()
        assert [(r.state, r.key) for r in outbox.results] == [("kept", "k1")]

    asyncio.run(main())
