"""A hostile SWAIG webhook on loopback, one case per way it misbehaves: every
one is a classified tool failure within bounded time and memory."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from interpreter import ir
from interpreter.destinations import DestinationPolicy
from interpreter.errors import ErrorType
from interpreter.http import AiohttpClient
from interpreter.runtime.tools.base import ToolContext, ToolFault
from interpreter.runtime.tools.webhook import MAX_REPLY_BYTES, call_webhook

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _hang(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(30)
    return web.json_response({})


async def _trickle(request: web.Request) -> web.StreamResponse:
    # Headers at once, then a byte at a time: only the total limit ends it.
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    with contextlib.suppress(ConnectionResetError):
        for _ in range(300):
            await response.write(b" ")
            await asyncio.sleep(0.05)
    return response


async def _endless(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    with contextlib.suppress(ConnectionResetError):
        await response.write(b'{"response": "')
        while True:
            await response.write(b"x" * 65536)
    return response


async def _announced_huge(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b"x" * (MAX_REPLY_BYTES + 10), content_type="application/json")


async def _cut(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": "1000"})
    await response.prepare(request)
    await response.write(b'{"response": "half')
    assert request.transport is not None
    request.transport.close()
    return response


def _body(text: bytes, status: int = 200) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=text, status=status, content_type="application/json")
    return handler


async def _redirect_loop(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(str(request.url))


async def _redirect_to_metadata(request: web.Request) -> web.StreamResponse:
    raise web.HTTPTemporaryRedirect("http://169.254.169.254/latest/meta-data/")


CASES: dict[str, tuple[Handler, ErrorType, str]] = {
    "hangs": (_hang, ErrorType.TOOL_TIMEOUT, "did not reply within"),
    "trickles": (_trickle, ErrorType.TOOL_TIMEOUT, "did not reply within"),
    "endless body": (_endless, ErrorType.TOOL_ERROR, "larger than"),
    "announced huge body": (_announced_huge, ErrorType.TOOL_ERROR, "larger than"),
    "cut mid-body": (_cut, ErrorType.TOOL_ERROR, "cut off"),
    "garbage": (_body(b"\xff\xfe not json"), ErrorType.TOOL_ERROR, "not JSON"),
    "NaN": (_body(b'{"response": NaN}'), ErrorType.TOOL_ERROR, "not JSON"),
    "deep nesting": (_body(b"[" * 100_000 + b"]" * 100_000), ErrorType.TOOL_ERROR, "JSON"),
    "not an object": (_body(b'["a", "b"]'), ErrorType.TOOL_ERROR, "JSON object"),
    "server error": (_body(b"{}", 500), ErrorType.TOOL_ERROR, "HTTP 500"),
    "redirect loop": (_redirect_loop, ErrorType.TOOL_ERROR, "HTTP 302"),
    "redirect to metadata": (_redirect_to_metadata, ErrorType.TOOL_ERROR, "HTTP 307"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_hostile_webhook_is_a_classified_tool_failure(case: str) -> None:
    handler, error_type, words = CASES[case]
    app = web.Application(handler_args={"handler_cancellation": True})
    app.router.add_post("/swaig", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        function = ir.Function("f", "A tool.", {},
                               webhook=ir.Webhook(str(server.make_url("/swaig"))), timeout=1.0)
        client = AiohttpClient(policy=DestinationPolicy(allow_loopback=True))
        started = time.monotonic()
        try:
            with pytest.raises(ToolFault) as caught:
                await call_webhook(function, "{}", {}, ToolContext("c", "s"), client=client)
        finally:
            await client.close()
    assert caught.value.error_type is error_type, caught.value.detail
    assert words in caught.value.detail, caught.value.detail
    assert time.monotonic() - started < 5
