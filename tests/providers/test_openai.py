"""The OpenAI-compatible provider against a loopback server speaking the real
streaming wire format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from interpreter.providers.llm.base import (
    ChatMessage,
    Finished,
    LlmError,
    LlmRequest,
    StreamItem,
    TextDelta,
    ToolCall,
    ToolCallReady,
    ToolSpec,
)
from interpreter.providers.llm.openai import OpenAIConfig, OpenAIProvider

Server = Callable[[web.Application], Awaitable[TestServer]]
KEY = "sk-test-secret-key"


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000,
            "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": delta,
                                                  "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


USAGE = (b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,'
         b'"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":42,'
         b'"completion_tokens":7,"total_tokens":49}}\n\n')
TEXT_STREAM = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hello"}),
               chunk({"content": " there."}), chunk({}, "stop"), USAGE, b"data: [DONE]\n\n"]
TOOL_STREAM = [
    chunk({"role": "assistant", "content": None, "tool_calls": [{
        "index": 0, "id": "call_abc", "type": "function",
        "function": {"name": "check_order", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"order"}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "_id\": \"A1"}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "23\"}"}}]}),
    chunk({}, "tool_calls"), USAGE, b"data: [DONE]\n\n"]


async def _server(aiohttp_server: Server, parts: list[bytes], *, status: int = 200,
                  split: bool = False, seen: list[Any] | None = None,
                  cut: bool = False) -> OpenAIConfig:
    async def handler(request: web.Request) -> web.StreamResponse:
        if seen is not None:
            seen.append((dict(request.headers), await request.json()))
        if status != 200:
            return web.Response(status=status, text=parts[0].decode())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b": keep-alive\n\n")
        for index, part in enumerate(parts):
            if cut and index == 3:
                request.transport.close()  # type: ignore[union-attr]
                return response
            if split:
                half = len(part) // 2
                await response.write(part[:half])
                await asyncio.sleep(0.01)
                await response.write(part[half:])
            else:
                await response.write(part)
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    server = await aiohttp_server(app)
    return OpenAIConfig(base_url=str(server.make_url("/v1")), api_key=KEY, model="gpt-4o-mini",
                        timeout_s=5, first_token_timeout_s=2)


async def _collect(config: OpenAIConfig, request: LlmRequest) -> list[StreamItem]:
    provider = OpenAIProvider(config)
    try:
        return [item async for item in provider.stream(request)]
    finally:
        await provider.close()


REQUEST = LlmRequest(
    (ChatMessage("system", "Be brief."), ChatMessage("user", "Where is A123?"),
     ChatMessage("assistant", "", (ToolCall("call_1", "check_order", '{"order_id":"A123"}'),)),
     ChatMessage("tool", "shipped", tool_call_id="call_1")),
    (ToolSpec("check_order", "Check an order.", {"type": "object", "properties": {}}),),
    temperature=0.3, max_tokens=64)


async def test_text_stream_and_request_wire_format(aiohttp_server: Server) -> None:
    seen: list[Any] = []
    config = await _server(aiohttp_server, TEXT_STREAM, seen=seen)
    items = await _collect(config, REQUEST)
    assert items == [TextDelta("Hello"), TextDelta(" there."), Finished("stop", 42, 7)]
    ((headers, body),) = seen
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert body["model"] == "gpt-4o-mini" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][2]["tool_calls"][0]["function"]["name"] == "check_order"
    assert body["messages"][3] == {"role": "tool", "content": "shipped", "tool_call_id": "call_1"}
    assert body["tools"][0]["function"]["name"] == "check_order"
    assert (body["temperature"], body["max_tokens"]) == (0.3, 64)


async def test_tool_call_fragments_are_assembled(aiohttp_server: Server) -> None:
    config = await _server(aiohttp_server, TOOL_STREAM, split=True)
    items = await _collect(config, REQUEST)
    assert items == [ToolCallReady(ToolCall("call_abc", "check_order",
                                            '{"order_id": "A123"}')),
                     Finished("tool_calls", 42, 7)]


async def test_stream_cut_mid_way_is_a_protocol_error(aiohttp_server: Server) -> None:
    config = await _server(aiohttp_server, TEXT_STREAM, cut=True)
    with pytest.raises(LlmError) as caught:
        await _collect(config, REQUEST)
    assert caught.value.kind == "protocol" and caught.value.retryable


@pytest.mark.parametrize(("status", "body", "kind", "retryable"), [
    (429, '{"error": {"message": "Rate limit reached"}}', "rate_limit", True),
    (400, '{"error": {"code": "context_length_exceeded", "message": "maximum context length'
          ' is 8192 tokens"}}', "token_limit", False),
    (401, '{"error": {"message": "Incorrect API key"}}', "provider", False),
    (503, "upstream overloaded", "provider", True),
])
async def test_http_errors_are_classified(aiohttp_server: Server, status: int, body: str,
                                          kind: str, retryable: bool) -> None:
    config = await _server(aiohttp_server, [body.encode()], status=status)
    with pytest.raises(LlmError) as caught:
        await _collect(config, REQUEST)
    assert (caught.value.kind, caught.value.retryable, caught.value.status) == (
        kind, retryable, status)
    assert KEY not in str(caught.value)


async def test_a_silent_server_times_out(aiohttp_server: Server) -> None:
    async def silent(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response()

    app = web.Application()
    app.router.add_post("/v1/chat/completions", silent)
    server = await aiohttp_server(app)
    config = OpenAIConfig(base_url=str(server.make_url("/v1")), api_key=KEY,
                          timeout_s=5, first_token_timeout_s=0.3)
    with pytest.raises(LlmError) as caught:
        await asyncio.wait_for(_collect(config, REQUEST), 5)
    assert caught.value.kind == "timeout"


async def test_cancelling_the_stream_closes_the_connection(aiohttp_server: Server) -> None:
    closed = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            while True:
                await response.write(chunk({"content": "word "}))
                await asyncio.sleep(0.02)
        except (asyncio.CancelledError, ConnectionResetError):
            closed.set()
            raise

    app = web.Application(handler_args={"handler_cancellation": True})
    app.router.add_post("/v1/chat/completions", endless)
    server = await aiohttp_server(app)
    provider = OpenAIProvider(OpenAIConfig(base_url=str(server.make_url("/v1")), api_key=KEY))

    async def consume() -> None:
        async for _ in provider.stream(REQUEST):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(closed.wait(), 5)
    await provider.close()


def test_configuration_from_environment_never_shows_the_key() -> None:
    config = OpenAIConfig.from_env({"CALLKERNEL_LLM_BASE_URL": "http://127.0.0.1:8080/v1",
                                    "OPENAI_API_KEY": KEY, "CALLKERNEL_LLM_MODEL": "llama3"})
    assert (config.base_url, config.api_key, config.model) == (
        "http://127.0.0.1:8080/v1", KEY, "llama3")
    assert KEY not in repr(config) and KEY not in repr(OpenAIProvider(config))
