"""The HTTP client port: the handler-driven double and the real client's limits."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from interpreter import ir
from interpreter.errors import ErrorType
from interpreter.http import AiohttpClient, HandlerClient, HttpError, HttpRequest, HttpResponse
from interpreter.runtime.tools.base import ToolContext, ToolFault
from interpreter.runtime.tools.webhook import call_webhook

FUNCTION = ir.Function("lookup", "Look up.", {}, webhook=ir.Webhook("https://app.example/swaig"))


def test_a_webhook_answered_by_a_handler() -> None:
    def handler(request: HttpRequest) -> HttpResponse:
        assert request.method == "POST" and request.url == "https://app.example/swaig"
        body = json.loads(request.body or b"")
        return HttpResponse(200, {}, json.dumps({"response": f"Found {body['function']}."})
                            .encode())

    client = HandlerClient(handler)
    reply = asyncio.run(call_webhook(FUNCTION, "{}", {}, ToolContext("c", "s"), client=client))
    assert reply.response == "Found lookup."
    assert client.requests[0].headers["X-Callkernel-Request-Id"]


@pytest.mark.parametrize(("failure", "error_type", "words"), [
    (HttpError("timeout", "no reply"), ErrorType.TOOL_TIMEOUT, "did not reply within"),
    (HttpError("connect", "connection failed"), ErrorType.TOOL_ERROR, "connection failed"),
])
def test_transport_failures_are_classified(failure: HttpError, error_type: ErrorType,
                                           words: str) -> None:
    def handler(_: HttpRequest) -> HttpResponse:
        raise failure

    with pytest.raises(ToolFault) as caught:
        asyncio.run(call_webhook(FUNCTION, "{}", {}, ToolContext("c", "s"),
                                 client=HandlerClient(handler)))
    assert caught.value.error_type is error_type and words in caught.value.detail


def test_a_reply_over_the_limit_is_refused_by_the_double_too() -> None:
    client = HandlerClient(lambda _: HttpResponse(200, {}, b"x" * 20))
    with pytest.raises(HttpError) as caught:
        asyncio.run(client.send(HttpRequest("GET", "https://x.example/", max_bytes=10)))
    assert caught.value.kind == "too_large"


async def test_the_real_client_truncates_or_refuses_long_bodies_and_times_out() -> None:
    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b"y" * 5000)

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    async with TestServer(app, host="127.0.0.1") as server:
        client = AiohttpClient()
        try:
            url = str(server.make_url("/big"))
            cut = await client.send(HttpRequest("GET", url, max_bytes=100, truncate=True))
            assert cut.body == b"y" * 100
            with pytest.raises(HttpError) as refused:
                await client.send(HttpRequest("GET", url, max_bytes=100))
            assert refused.value.kind == "too_large"
            with pytest.raises(HttpError) as late:
                await client.send(HttpRequest("GET", str(server.make_url("/slow")),
                                              timeout=0.2))
            assert late.value.kind == "timeout"
        finally:
            await client.close()
