"""The OpenAI-compatible provider against a loopback server speaking the real
streaming wire format (real time, every wait bounded)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp
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
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
KEY = "sk-test-0123456789abcdef"
PATH = "/v1/chat/completions"


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    """One `chat.completion.chunk` event as OpenAI writes it (compact JSON,
    `usage: null` on every chunk when include_usage is on)."""
    body = {"id": "chatcmpl-AbC123", "object": "chat.completion.chunk", "created": 1732464000,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0ba0d124f1",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def call_delta(index: int, arguments: str, call_id: str | None = None,
               name: str | None = None) -> bytes:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id is not None:
        fragment |= {"id": call_id, "type": "function",
                     "function": {"name": name, "arguments": arguments}}
    return chunk({"tool_calls": [fragment]})


USAGE = (b'data: {"id":"chatcmpl-AbC123","object":"chat.completion.chunk","created":1732464000,'
         b'"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[],'
         b'"usage":{"prompt_tokens":42,"completion_tokens":7,"total_tokens":49,'
         b'"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
         b'"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}}}\n\n')
DONE = b"data: [DONE]\n\n"
TEXT_STREAM = [chunk({"role": "assistant", "content": "", "refusal": None}),
               chunk({"content": "Hello"}), chunk({"content": " there."}),
               chunk({}, "stop"), USAGE, DONE]
TOOL_STREAM = [
    chunk({"role": "assistant", "content": None, "tool_calls": [{
        "index": 0, "id": "call_abc", "type": "function",
        "function": {"name": "check_order", "arguments": ""}}], "refusal": None}),
    call_delta(0, '{"order'), call_delta(0, '_id": "A1'), call_delta(0, '23"}'),
    chunk({}, "tool_calls"), USAGE, DONE]

REQUEST = LlmRequest(
    (ChatMessage("system", "Be brief."), ChatMessage("user", "Where is A123?"),
     ChatMessage("assistant", "", (ToolCall("call_1", "check_order", '{"order_id":"A123"}'),)),
     ChatMessage("tool", "shipped", tool_call_id="call_1")),
    (ToolSpec("check_order", "Check an order.",
              {"type": "object", "properties": {"order_id": {"type": "string"}}}),),
    temperature=0.3, top_p=0.9, max_tokens=64, presence_penalty=0.1, frequency_penalty=0.2)


def streaming(parts: Iterable[bytes], *, split: bool = False, cut_after: int | None = None,
              seen: list[tuple[dict[str, str], Any]] | None = None) -> Handler:
    """A handler writing `parts` as an event stream; `split` writes each part in
    two TCP writes, `cut_after` drops the connection after that many parts."""
    async def handler(request: web.Request) -> web.StreamResponse:
        if seen is not None:
            seen.append((dict(request.headers), await request.json()))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b": OPENROUTER PROCESSING\n\n")  # a comment, as proxies send
        for index, part in enumerate(parts):
            if index == cut_after:
                assert request.transport is not None
                request.transport.close()
                return response
            if split:
                half = len(part) // 2
                await response.write(part[:half])
                # A real pause so the client reads half an event on its own.
                await asyncio.sleep(0.01)
                part = part[half:]
            await response.write(part)
        return response
    return handler


def answering(status: int, body: str) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type="application/json")
    return handler


async def serve(aiohttp_server: Server, handler: Handler, *, cancellation: bool = True,
                **config: Any) -> OpenAIConfig:
    app = web.Application(handler_args={"handler_cancellation": cancellation})
    app.router.add_post(PATH, handler)
    server = await aiohttp_server(app)
    settings: dict[str, Any] = {"timeout_s": 5.0, "connect_timeout_s": 2.0,
                                "first_token_timeout_s": 2.0} | config
    return OpenAIConfig(base_url=str(server.make_url("/v1")), api_key=KEY, **settings)


async def collect(config: OpenAIConfig, request: LlmRequest = REQUEST) -> list[StreamItem]:
    provider = OpenAIProvider(config)
    try:
        return await asyncio.wait_for(_drain(provider, request), 10)
    finally:
        await provider.close()


async def _drain(provider: OpenAIProvider, request: LlmRequest) -> list[StreamItem]:
    return [item async for item in provider.stream(request)]


async def failure(config: OpenAIConfig, request: LlmRequest = REQUEST) -> LlmError:
    with pytest.raises(LlmError) as caught:
        await collect(config, request)
    assert KEY not in str(caught.value)
    return caught.value


async def test_text_streams_in_order_and_the_request_is_openai_wire_format(
        aiohttp_server: Server) -> None:
    seen: list[tuple[dict[str, str], Any]] = []
    config = await serve(aiohttp_server, streaming(TEXT_STREAM, seen=seen))
    assert await collect(config) == [TextDelta("Hello"), TextDelta(" there."),
                                     Finished("stop", 42, 7)]
    ((headers, body),) = seen
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert body == {
        "model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Where is A123?"},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "check_order", "arguments": '{"order_id":"A123"}'}}]},
            {"role": "tool", "content": "shipped", "tool_call_id": "call_1"}],
        "tools": [{"type": "function", "function": {
            "name": "check_order", "description": "Check an order.",
            "parameters": {"type": "object",
                           "properties": {"order_id": {"type": "string"}}}}}],
        "temperature": 0.3, "top_p": 0.9, "max_tokens": 64, "presence_penalty": 0.1,
        "frequency_penalty": 0.2}


async def test_request_model_wins_and_no_tools_means_no_tools_key(
        aiohttp_server: Server) -> None:
    seen: list[tuple[dict[str, str], Any]] = []
    config = await serve(aiohttp_server, streaming(TEXT_STREAM, seen=seen))
    await collect(config, LlmRequest((ChatMessage("user", "hi"),), model="llama3.1"))
    ((_, body),) = seen
    assert body["model"] == "llama3.1" and "tools" not in body


async def test_tool_call_fragments_split_across_tcp_writes_are_assembled(
        aiohttp_server: Server) -> None:
    config = await serve(aiohttp_server, streaming(TOOL_STREAM, split=True))
    assert await collect(config) == [
        ToolCallReady(ToolCall("call_abc", "check_order", '{"order_id": "A123"}')),
        Finished("tool_calls", 42, 7)]


async def test_crlf_events_split_inside_the_line_ending_are_parsed(
        aiohttp_server: Server) -> None:
    crlf = [part.replace(b"\n", b"\r\n") for part in TEXT_STREAM]
    # Cut each event between its \r and \n, and inside "data:".
    pieces = [piece for part in crlf for piece in (part[:3], part[3:-3], part[-3:])]
    config = await serve(aiohttp_server, streaming(pieces, split=True))
    assert await collect(config) == [TextDelta("Hello"), TextDelta(" there."),
                                     Finished("stop", 42, 7)]


async def test_parallel_tool_calls_are_kept_apart_by_index(aiohttp_server: Server) -> None:
    stream = [chunk({"role": "assistant", "content": None}),
              call_delta(0, "", "call_a", "check_order"), call_delta(0, '{"order_id":'),
              call_delta(1, '{"city":', "call_b", "weather"), call_delta(0, '"A1"}'),
              call_delta(1, '"Paris"}'), chunk({}, "tool_calls"), DONE]
    config = await serve(aiohttp_server, streaming(stream))
    assert await collect(config) == [
        ToolCallReady(ToolCall("call_a", "check_order", '{"order_id":"A1"}')),
        ToolCallReady(ToolCall("call_b", "weather", '{"city":"Paris"}')),
        Finished("tool_calls", 0, 0)]


async def test_whole_tool_calls_without_index_stay_separate(aiohttp_server: Server) -> None:
    # Older Ollama: each call whole in one delta, no `index`, finish_reason "stop".
    calls = [{"id": f"call_{n}", "type": "function",
              "function": {"name": "lookup", "arguments": f'{{"n":{n}}}'}} for n in (1, 2)]
    stream = [chunk({"role": "assistant", "content": "", "tool_calls": calls}),
              chunk({}, "stop"), DONE]
    config = await serve(aiohttp_server, streaming(stream))
    assert await collect(config) == [
        ToolCallReady(ToolCall("call_1", "lookup", '{"n":1}')),
        ToolCallReady(ToolCall("call_2", "lookup", '{"n":2}')),
        Finished("tool_calls", 0, 0)]


async def test_a_stream_cut_mid_way_is_a_retryable_protocol_error(
        aiohttp_server: Server) -> None:
    config = await serve(aiohttp_server, streaming(TEXT_STREAM, cut_after=3))
    error = await failure(config)
    assert (error.kind, error.retryable) == ("protocol", True)


@pytest.mark.parametrize("stream", [
    pytest.param([chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"})],
                 id="ends-unfinished"),
    pytest.param([chunk({"content": "Hi"}), b'data: {"id":"chatcmpl-AbC123","choi\n\n'],
                 id="malformed-json"),
    pytest.param([b"data: [1, 2]\n\n"], id="not-an-object"),
    # Past aiohttp's line limit (twice its 256 KiB read buffer).
    pytest.param([b"data: " + b"x" * 1_200_000 + b"\n\n"], id="line-too-long"),
])
async def test_broken_streams_are_protocol_errors(aiohttp_server: Server,
                                                  stream: list[bytes]) -> None:
    config = await serve(aiohttp_server, streaming(stream))
    error = await failure(config)
    assert (error.kind, error.retryable) == ("protocol", True)


async def test_a_stream_without_trailing_blank_line_still_finishes(
        aiohttp_server: Server) -> None:
    config = await serve(aiohttp_server, streaming([*TEXT_STREAM[:-1], b"data: [DONE]"]))
    assert (await collect(config))[-1] == Finished("stop", 42, 7)


@pytest.mark.parametrize(("event", "kind", "retryable"), [
    # OpenAI: an error object in a data event, at HTTP 200.
    (b'data: {"error":{"message":"The server had an error while processing your request.",'
     b'"type":"server_error","param":null,"code":null}}\n\n', "provider", True),
    # llama.cpp before late 2025: a non-standard `error:` field, then [DONE].
    (b'error: {"code":400,"message":"the request exceeds the available context size. try '
     b'increasing the context size or enable context shift","type":"invalid_request_error"}'
     b"\n\n" + DONE, "token_limit", False),
])
async def test_errors_reported_inside_the_stream_are_classified(
        aiohttp_server: Server, event: bytes, kind: str, retryable: bool) -> None:
    config = await serve(aiohttp_server, streaming([TEXT_STREAM[0], event]))
    error = await failure(config)
    assert (error.kind, error.retryable) == (kind, retryable)
    assert "mid-stream" in str(error)


@pytest.mark.parametrize(("status", "body", "kind", "retryable"), [
    (429, '{"error":{"message":"Rate limit reached for gpt-4o-mini on tokens per min (TPM)",'
          '"type":"tokens","param":null,"code":"rate_limit_exceeded"}}', "rate_limit", True),
    (400, '{"error":{"message":"This model\'s maximum context length is 128000 tokens. However, '
          'your messages resulted in 130512 tokens.","type":"invalid_request_error",'
          '"param":"messages","code":"context_length_exceeded"}}', "token_limit", False),
    (400, '{"error":{"code":400,"message":"request (4390 tokens) exceeds the available context '
          'size (4096 tokens), try increasing it","type":"exceed_context_size_error"}}',
     "token_limit", False),
    (401, '{"error":{"message":"Incorrect API key provided: sk-test***cdef.",'
          '"type":"invalid_request_error","param":null,"code":"invalid_api_key"}}',
     "provider", False),
    (404, '{"error":{"message":"The model `gpt-9` does not exist","code":"model_not_found"}}',
     "provider", False),
    (500, '{"error":{"message":"The server had an error while processing your request.",'
          '"type":"server_error"}}', "provider", True),
    (503, "upstream connect error or disconnect/reset before headers", "provider", True),
])
async def test_http_errors_are_classified(aiohttp_server: Server, status: int, body: str,
                                          kind: str, retryable: bool) -> None:
    config = await serve(aiohttp_server, answering(status, body))
    error = await failure(config)
    assert (error.kind, error.retryable, error.status) == (kind, retryable, status)
    assert str(error).startswith(f"HTTP {status}: ")


async def test_error_messages_are_short_and_never_show_the_key(aiohttp_server: Server) -> None:
    echo = f"proxy failure\nrequest headers: Authorization: Bearer {KEY}\n" + "x" * 5000
    config = await serve(aiohttp_server, answering(502, echo))
    error = await failure(config)
    assert str(error) == "HTTP 502: proxy failure request headers: Authorization: Bearer *** " \
        + "x" * (200 - len("proxy failure request headers: Authorization: Bearer *** "))


async def test_a_server_that_never_answers_times_out_in_time(aiohttp_server: Server) -> None:
    async def silent(_: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response()

    config = await serve(aiohttp_server, silent, first_token_timeout_s=0.3)
    started = asyncio.get_running_loop().time()
    error = await failure(config)
    assert error.kind == "timeout" and error.retryable
    assert asyncio.get_running_loop().time() - started < 2


async def test_a_reply_slower_than_the_total_timeout_times_out(aiohttp_server: Server) -> None:
    async def dawdling(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for _ in range(200):  # keep-alives never let the read timeout fire
            await response.write(b": keep-alive\n\n")
            await asyncio.sleep(0.05)
        return response

    config = await serve(aiohttp_server, dawdling, timeout_s=0.4)
    started = asyncio.get_running_loop().time()
    error = await failure(config)
    assert error.kind == "timeout" and "0.4 s" in str(error)
    assert asyncio.get_running_loop().time() - started < 2


async def test_a_refused_connection_is_a_timeout() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = await failure(OpenAIConfig(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY,
                                       connect_timeout_s=1.0))
    assert (error.kind, error.retryable) == ("timeout", True)


@pytest.mark.parametrize("how", ["cancel", "break"])
async def test_stopping_the_consumer_closes_the_server_request(aiohttp_server: Server,
                                                               how: str) -> None:
    closed = asyncio.Event()
    writing = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for _ in range(250):  # bounded, so a failing test still ends its server
                await response.write(chunk({"content": "word "}))
                writing.set()
                await asyncio.sleep(0.02)
        except (asyncio.CancelledError, ConnectionResetError):
            closed.set()  # aiohttp cancels the handler when the client goes away
            raise
        return response

    config = await serve(aiohttp_server, endless, cancellation=True)
    provider = OpenAIProvider(config)

    async def consume() -> None:
        async for _ in provider.stream(REQUEST):
            if how == "break":
                break  # the generator's finalizer closes the response

    task = asyncio.create_task(consume())
    await asyncio.wait_for(writing.wait(), 5)
    if how == "cancel":
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    else:
        await asyncio.wait_for(task, 5)
    await asyncio.wait_for(closed.wait(), 5)
    await provider.close()


async def test_a_given_session_is_used_and_left_open(aiohttp_server: Server) -> None:
    config = await serve(aiohttp_server, streaming(TEXT_STREAM))
    async with aiohttp.ClientSession() as session:
        provider = OpenAIProvider(config, session)
        assert [item async for item in provider.stream(REQUEST)][-1] == Finished("stop", 42, 7)
        await provider.close()
        assert not session.closed


def test_configuration_comes_from_the_environment() -> None:
    assert OpenAIConfig.from_env({}) == OpenAIConfig(
        "https://api.openai.com/v1", "", "gpt-4o-mini")
    config = OpenAIConfig.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:1/v1",
                                    "CALLKERNEL_LLM_BASE_URL": "http://127.0.0.1:8080/v1",
                                    "OPENAI_API_KEY": KEY, "CALLKERNEL_LLM_MODEL": "llama3"},
                                   timeout_s=3.0)
    assert (config.base_url, config.api_key, config.model, config.timeout_s) == (
        "http://127.0.0.1:8080/v1", KEY, "llama3", 3.0)


def test_reprs_never_show_credentials() -> None:
    config = OpenAIConfig(base_url="http://user:hunter2pass@127.0.0.1:8000/v1", api_key=KEY,
                          extra_headers={"api-key": KEY})
    for text in (repr(config), str(config), repr(OpenAIProvider(config))):
        assert KEY not in text and "hunter2pass" not in text


def test_the_operator_maps_the_documents_model_names_to_served_ones() -> None:
    config = OpenAIConfig.from_env({"CALLKERNEL_LLM_MODEL": "llama3.1",
                                    "CALLKERNEL_LLM_MODEL_MAP":
                                        "gpt-4o-mini = qwen2.5 , *=llama3.1:8b"})
    assert config.served_model("gpt-4o-mini") == "qwen2.5"
    assert config.served_model("gpt-4.1") == "llama3.1:8b"
    assert config.served_model(None) == "llama3.1:8b"
    plain = OpenAIConfig.from_env({"CALLKERNEL_LLM_MODEL": "llama3.1"})
    assert (plain.served_model(None), plain.served_model("gpt-4o")) == ("llama3.1", "gpt-4o")
