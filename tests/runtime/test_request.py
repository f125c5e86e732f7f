"""The `request` verb against a real aiohttp server on loopback (real time, bounded)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from interpreter.document.compile import compile_text
from interpreter.runtime.call import Call, CallResult
from tests.runtime.doubles import ScriptedChannel, ScriptedTelephony

Server = Callable[[web.Application], Awaitable[TestServer]]


def _flow(url: str, extra: str = "") -> str:
    return f"""\
sections:
  main:
    - answer: {{}}
    - request:
        url: "{url}"
        method: POST
        body: {{caller: "%{{call.from}}"}}
        save_variables: true{extra}
    - hangup: {{}}
"""


async def _run(source: str, channel: ScriptedChannel | None = None) -> tuple[Call, CallResult]:
    flow = compile_text(source, "request.yaml")
    call = Call(flow, channel or ScriptedChannel(), ScriptedTelephony(),
                call_info={"from": "+15551230000"})
    result = await asyncio.wait_for(call.run(), 10)
    return call, result


async def test_request_result_lands_in_variables(aiohttp_server: Server) -> None:
    seen: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.json_response({"balance": 42}, headers={"X-Trace": "abc"})

    app = web.Application()
    app.router.add_post("/lookup", handler)
    server = await aiohttp_server(app)
    url = str(server.make_url("/lookup"))
    call, result = await _run(_flow(url))
    assert seen == [{"caller": "+15551230000"}]
    assert result.variables["request_result"] == "success"
    assert result.variables["request_response_code"] == 200
    assert result.variables["request_response"] == {"balance": 42}
    headers = result.variables["request_response_headers"]
    assert isinstance(headers, dict) and headers["x-trace"] == "abc"
    assert call.trace.of_kind("request_finished")[0]["status"] == 200


async def test_non_2xx_is_a_failed_request_with_its_code(aiohttp_server: Server) -> None:
    async def down(_: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    app = web.Application()
    app.router.add_post("/lookup", down)
    server = await aiohttp_server(app)
    _, result = await _run(_flow(str(server.make_url("/lookup"))))
    assert result.variables["request_result"] == "failed"
    assert result.variables["request_response_code"] == 503
    assert result.variables["request_response_body"] == "down"


async def test_request_times_out_and_the_flow_continues(aiohttp_server: Server) -> None:
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/slow", slow)
    server = await aiohttp_server(app)
    call, result = await _run(_flow(str(server.make_url("/slow")), "\n        timeout: 0.3"))
    assert result.variables["request_result"] == "failed"
    assert str(call.trace.of_kind("request_failed")[0]["error"]).startswith("timeout:")
    assert result.disposition == "hangup:hangup"


async def test_hangup_cancels_the_request_and_closes_its_connection(
        aiohttp_server: Server) -> None:
    disconnected = asyncio.Event()

    async def hanging(_: web.Request) -> web.Response:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            disconnected.set()  # aiohttp cancels the handler when the client goes away
            raise
        return web.Response(text="never")

    app = web.Application(handler_args={"handler_cancellation": True})
    app.router.add_post("/hang", hanging)
    server = await aiohttp_server(app)
    channel = ScriptedChannel([(0.3, "hung_up", ())])
    call, result = await _run(_flow(str(server.make_url("/hang"))), channel)
    assert result.disposition == "caller_hangup"
    assert [r["effect"] for r in call.trace.of_kind("effect_cancelled")] == ["request"]
    await asyncio.wait_for(disconnected.wait(), 5)


async def test_credentials_never_reach_the_trace(aiohttp_server: Server) -> None:
    async def empty(_: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/x", empty)
    server = await aiohttp_server(app)
    url = str(server.make_url("/x")).replace("http://", "http://user:s3cret@")
    call, _ = await _run(_flow(url))
    assert "s3cret" not in str(call.trace.records)
