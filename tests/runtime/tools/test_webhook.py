"""SWAIG webhook functions against real aiohttp servers on loopback: the
request body, auth and headers, reply parsing, and every failure's type."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from interpreter import ir
from interpreter.document.compile import compile_text
from interpreter.errors import ErrorType
from interpreter.http import AiohttpClient, HttpClient
from interpreter.runtime.tools.arguments import parse_arguments
from interpreter.runtime.tools.base import ToolContext, ToolFault, ToolReply
from interpreter.runtime.tools.replies import Ignored, Say, Unknown, parse_actions
from interpreter.runtime.tools.webhook import (
    MAX_REPLY_BYTES,
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    call_webhook,
    parse_reply,
)

Server = Callable[[web.Application], Awaitable[TestServer]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DATA = Path(__file__).resolve().parents[2] / "data"
SEED = json.loads((DATA / "swaig" / "seed_agent.exchange.json").read_text())
SDK_REPLIES = json.loads((DATA / "swaig" / "sdk_function_results.replies.json").read_text())
CONTEXT = ToolContext("call-1", "session-1")


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with aiohttp.ClientSession() as session:
        yield AiohttpClient(session)


async def _serve(aiohttp_server: Server, handler: Handler, path: str = "/swaig") -> str:
    app = web.Application()
    app.router.add_post(path, handler)
    server = await aiohttp_server(app)
    return str(server.make_url(path))


def _function(url: str, *, timeout: float = 5.0, user: str | None = None,
              password: str | None = None, **changes: Any) -> ir.Function:
    parameters: dict[str, ir.FrozenJSON] = {"type": "object", "properties": MappingProxyType({})}
    return ir.Function("lookup", "Look something up.", parameters,
                       webhook=ir.Webhook(url, user, password), timeout=timeout, **changes)


def _replying(body: bytes | str, status: int = 200,
              seen: list[web.Request] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        if seen is not None:
            seen.append(request)
        data = body.encode() if isinstance(body, str) else body
        return web.Response(body=data, status=status, content_type="application/json")
    return handler


async def _call(function: ir.Function, http: HttpClient, raw: str = "{}",
                context: ToolContext = CONTEXT, **options: Any) -> ToolReply:
    arguments = parse_arguments(function, raw)
    return await call_webhook(function, raw, arguments, context, client=http, **options)


async def _fails(function: ir.Function, http: HttpClient, **options: Any) -> ToolFault:
    with pytest.raises(ToolFault) as caught:
        await _call(function, http, **options)
    return caught.value


# ------------------------------------------------------------------ the seed exchange

async def test_seed_exchange_body_auth_and_reply(aiohttp_server: Server,
                                                 http: HttpClient) -> None:
    flow = compile_text((DATA / "sdk_seed_agent.swml.json").read_text(), "seed.swml.json")
    ai = next(verb for verb in flow.main.body if isinstance(verb, ir.Ai))
    function = next(f for f in ai.functions if f.name == "check_order")
    assert function.webhook is not None
    token = function.webhook.url.partition("__token=")[2]
    expected = SEED["request"]["body"]
    received: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Basic " + base64.b64encode(
            b"seeduser:seedpass").decode()
        assert request.headers["Content-Type"] == SEED["request"]["headers"]["Content-Type"]
        assert request.query["__token"] == token
        received.append(await request.json())
        return web.json_response(SEED["response"]["body"])

    url = await _serve(aiohttp_server, handler, "/support/swaig/")  # same path, loopback host
    function = dataclasses.replace(
        function, webhook=dataclasses.replace(function.webhook, url=f"{url}?__token={token}"))
    assert function.webhook is not None and "?__token=" in function.webhook.url
    context = ToolContext(expected["call_id"], expected["ai_session_id"],
                          caller_id_name=expected["caller_id_name"],
                          caller_id_num=expected["caller_id_num"],
                          project_id=expected["project_id"], space_id=expected["space_id"])
    raw = expected["argument"]["raw"]
    reply = await _call(function, http, raw, context)

    body = received[0]
    assert list(body) == list(expected), "same fields, in the platform's order"
    for key, value in expected.items():
        if key != "meta_data_token":
            assert body[key] == value, key
    assert body["meta_data_token"] == hashlib.sha256(
        function.webhook.url.encode()).hexdigest()[:32]
    assert reply == ToolReply("Order A123: shipped, ETA April 2nd", raw=SEED["response"]["body"])


# ------------------------------------------------------------------ reply shapes

@pytest.mark.parametrize("case", SDK_REPLIES, ids=[case["function"] for case in SDK_REPLIES])
async def test_every_sdk_reply_shape_parses(case: dict[str, Any], aiohttp_server: Server,
                                            http: HttpClient) -> None:
    url = await _serve(aiohttp_server, _replying(json.dumps(case["reply"])))
    reply = await _call(_function(url), http, json.dumps(case["arguments"]))
    expected = case["reply"]
    assert reply.response == expected["response"]
    assert reply.actions == parse_actions(tuple(expected["action"]))
    assert not any(isinstance(a, Unknown | Ignored) for a in reply.actions)
    assert reply.post_process is expected.get("post_process", False)
    assert reply.raw == expected


@pytest.mark.parametrize(("body", "expected"), [
    ("{}", ToolReply(raw={})),
    ('{"response": {"tool_result": "Found.", "tool_prompt": "Be brief."}}',
     ToolReply("Found.", "Be brief.")),
    ('{"action": {"say": "Hello"}, "post_process": "true"}',
     ToolReply(None, None, (Say("Hello", name="say", value="Hello"),), True)),
    ('{"response": "ok", "post_process": "false", "extra": 1}', ToolReply("ok")),
])
def test_reply_forms(body: str, expected: ToolReply) -> None:
    value = json.loads(body)
    assert parse_reply(value) == dataclasses.replace(expected, raw=value)


# ------------------------------------------------------------------ request details

async def test_request_id_and_signature_headers(aiohttp_server: Server,
                                                http: HttpClient) -> None:
    key = b"shared-secret"
    seen: list[tuple[str, str | None, bool]] = []

    async def handler(request: web.Request) -> web.Response:
        raw = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER)
        good = signature == "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
        seen.append((request.headers[REQUEST_ID_HEADER], signature, good))
        return web.json_response({"response": "ok"})

    function = _function(await _serve(aiohttp_server, handler))
    await _call(function, http, signing_key=key, request_id="req-7")
    await _call(function, http)
    await _call(function, http)
    assert seen[0] == ("req-7", seen[0][1], True)
    assert seen[1][1] is None and seen[2][1] is None, "unsigned without a key"
    assert uuid.UUID(seen[1][0]) and seen[1][0] != seen[2][0], "a fresh id per call"


async def test_signature_fails_for_another_key(aiohttp_server: Server,
                                               http: HttpClient) -> None:
    async def handler(request: web.Request) -> web.Response:
        raw = await request.read()
        expected = "sha256=" + hmac.new(b"server-key", raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), expected):
            raise web.HTTPUnauthorized()
        return web.json_response({})

    function = _function(await _serve(aiohttp_server, handler))
    assert (await _call(function, http, signing_key=b"server-key")).raw == {}
    fault = await _fails(function, http, signing_key=b"other-key")
    assert fault.error_type is ErrorType.TOOL_ERROR and fault.status == 401


async def test_optional_fields_meta_data_and_call_log(aiohttp_server: Server,
                                                      http: HttpClient) -> None:
    bodies: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.json_response({"response": "ok"})

    url = await _serve(aiohttp_server, handler)
    function = _function(url, meta_data=MappingProxyType({"table": "a", "keep": 1}),
                         meta_data_token="tok-1")
    context = ToolContext("c", "s", app_name="shop", global_data={"tier": "gold"},
                          meta_data={"table": "b"}, conversation_type="chat")
    log: list[Any] = [{"role": "user", "content": "hi"}]
    await _call(function, http, context=context, post_conversation=log)
    await _call(_function(url), http)
    full, bare = bodies
    assert full["app_name"] == "shop" and full["global_data"] == {"tier": "gold"}
    assert full["meta_data_token"] == "tok-1"
    assert full["meta_data"] == {"table": "b", "keep": 1}, "session changes win"
    assert full["conversation_type"] == "chat" and full["call_log"] == log
    assert list(full)[-1] == "call_log"
    assert not {"global_data", "call_log", "caller_id_name", "project_id"} & set(bare)
    assert bare["argument"] == {"parsed": [{}], "raw": "{}"}


# ------------------------------------------------------------------ failures

async def test_no_reply_in_time_is_a_tool_timeout(aiohttp_server: Server,
                                                  http: HttpClient) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.Event().wait()  # never answers
        raise AssertionError

    fault = await _fails(_function(await _serve(aiohttp_server, handler), timeout=0.2), http)
    assert fault.error_type is ErrorType.TOOL_TIMEOUT and "0.2 seconds" in fault.detail


async def test_a_stalled_body_is_a_tool_timeout(aiohttp_server: Server,
                                                http: HttpClient) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"response": ')
        await asyncio.Event().wait()
        return response

    fault = await _fails(_function(await _serve(aiohttp_server, handler), timeout=0.2), http)
    assert fault.error_type is ErrorType.TOOL_TIMEOUT


@pytest.mark.parametrize("status", [302, 404, 500, 503])
async def test_non_2xx_is_a_tool_error_with_the_status(status: int, aiohttp_server: Server,
                                                       http: HttpClient) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": "/elsewhere"},
                            text='{"response": "ignored"}')

    fault = await _fails(_function(await _serve(aiohttp_server, handler)), http)
    assert fault.error_type is ErrorType.TOOL_ERROR and fault.status == status
    assert f"HTTP {status}" in fault.detail


@pytest.mark.parametrize(("body", "expected"), [
    (b"", "not JSON"),
    (b"<html>oops</html>", "not JSON"),
    (b'{"response": NaN}', "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[" * 50_000, "not JSON"),
    (b"[1, 2]", "must be a JSON object, not an array"),
    (b'"fine"', "must be a JSON object, not a string"),
    (b'{"response": 5}', "response must be a string"),
    (b'{"response": {"tool_result": 5}}', "response must be a string"),
    (b'{"action": "say hi"}', "action must be an object or a list, not a string"),
    (b'{"action": [{"say": "hi"}, "hangup"]}', "every action must be a JSON object"),
    (b'{"post_process": "maybe"}', "post_process must be true or false"),
    (b'{"response": "' + b"x" * MAX_REPLY_BYTES + b'"}', "larger than 256 KiB"),
])
async def test_garbage_replies_are_tool_errors(body: bytes, expected: str, aiohttp_server: Server,
                                               http: HttpClient) -> None:
    fault = await _fails(_function(await _serve(aiohttp_server, _replying(body))), http)
    assert fault.error_type is ErrorType.TOOL_ERROR
    assert expected in fault.detail


async def test_oversized_chunked_reply_is_cut_off(aiohttp_server: Server,
                                                  http: HttpClient) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(20):  # 320 KiB with no Content-Length
            await response.write(b" " * 16 * 1024)
        return response

    fault = await _fails(_function(await _serve(aiohttp_server, handler)), http)
    assert fault.error_type is ErrorType.TOOL_ERROR and fault.status == 200
    assert "larger than" in fault.detail


async def test_connection_refused_is_a_tool_error(http: HttpClient) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fault = await _fails(_function(f"http://127.0.0.1:{port}/swaig?key=s3cret"), http)
    assert fault.error_type is ErrorType.TOOL_ERROR and fault.status is None
    # It names where it tried (host and port), never the path or query: a
    # URL may carry a key, and the message reaches the model and the trace.
    assert fault.detail == \
        f"the webhook could not be reached (connection to 127.0.0.1:{port} failed)"


@pytest.mark.parametrize("url", ["", "not a url", "ftp://127.0.0.1/x"])
async def test_unusable_url_is_a_tool_error(url: str, http: HttpClient) -> None:
    fault = await _fails(_function(url), http)
    assert fault.error_type is ErrorType.TOOL_ERROR


async def test_function_without_webhook_is_a_tool_error(http: HttpClient) -> None:
    fault = await _fails(dataclasses.replace(_function("http://x"), webhook=None), http)
    assert fault.error_type is ErrorType.TOOL_ERROR and "no webhook URL" in fault.detail


async def test_the_signing_key_comes_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import hmac

    from interpreter.http import HandlerClient, HttpRequest, HttpResponse
    from interpreter.runtime.tools.runner import SwaigRunner

    seen: list[HttpRequest] = []

    def answer(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse(200, {}, b'{"response": "ok"}')

    monkeypatch.setenv("CALLKERNEL_WEBHOOK_SIGNING_KEY", "shared-secret")
    function = _function("https://app.example/swaig")
    await SwaigRunner().run(function, "{}", {}, CONTEXT, client=HandlerClient(answer),
                            request_id="r1")
    (request,) = seen
    digest = hmac.new(b"shared-secret", request.body or b"", hashlib.sha256).hexdigest()
    assert request.headers["X-Callkernel-Signature"] == f"sha256={digest}"
    monkeypatch.delenv("CALLKERNEL_WEBHOOK_SIGNING_KEY")
    await SwaigRunner().run(function, "{}", {}, CONTEXT, client=HandlerClient(answer),
                            request_id="r2")
    assert "X-Callkernel-Signature" not in seen[1].headers
