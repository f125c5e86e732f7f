"""A hostile model server on loopback, one case per way it misbehaves: every
one ends in a classified LlmError within bounded time and memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from interpreter.providers.llm.base import ChatMessage, LlmError, LlmRequest
from interpreter.providers.llm.openai import (
    MAX_EVENT_BYTES,
    MAX_REPLY_CHARS,
    MAX_TOOL_ARGUMENT_CHARS,
    MAX_TOOL_CALLS,
    OpenAIConfig,
    OpenAIProvider,
)

Writer = Callable[[web.StreamResponse], Awaitable[None]]
REQUEST = LlmRequest((ChatMessage("user", "hi"),))


def _event(delta: dict[str, object]) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta}]}).encode() + b"\n\n"


async def _endless_data_lines(response: web.StreamResponse) -> None:
    line = b"data: " + b"x" * 8000 + b"\n"
    for _ in range(MAX_EVENT_BYTES // 8000 + 50):
        await response.write(line)


async def _endless_text(response: web.StreamResponse) -> None:
    event = _event({"content": "word " * 200})
    for _ in range(MAX_REPLY_CHARS // 1000 + 50):
        await response.write(event)


async def _huge_arguments(response: web.StreamResponse) -> None:
    await response.write(_event({"tool_calls": [{"index": 0, "id": "c1", "function": {
        "name": "f", "arguments": ""}}]}))
    piece = _event({"tool_calls": [{"index": 0, "function": {"arguments": "a" * 8000}}]})
    for _ in range(MAX_TOOL_ARGUMENT_CHARS // 8000 + 50):
        await response.write(piece)


async def _many_calls(response: web.StreamResponse) -> None:
    for index in range(MAX_TOOL_CALLS + 5):
        await response.write(_event({"tool_calls": [{"index": index, "id": f"c{index}",
                                                     "function": {"name": "f",
                                                                  "arguments": "{}"}}]}))


async def _deep_json(response: web.StreamResponse) -> None:
    await response.write(b"data: " + b"[" * 100_000 + b"]" * 100_000 + b"\n\n")


async def _garbage(response: web.StreamResponse) -> None:
    await response.write(b"data: \xff\xfe{not json\n\n")


async def _trickle(response: web.StreamResponse) -> None:
    # Keep-alive comments forever, faster than any read timeout: only the
    # reply's total time limit can end it.
    while True:
        await response.write(b": ping\n\n")
        await asyncio.sleep(0.05)


async def _silent(response: web.StreamResponse) -> None:
    await asyncio.sleep(30)


CASES: dict[str, tuple[Writer, str, str]] = {
    "endless data lines": (_endless_data_lines, "protocol", "stream event over"),
    "endless text": (_endless_text, "protocol", "reply is over"),
    "huge tool arguments": (_huge_arguments, "protocol", "arguments for a tool call"),
    "too many tool calls": (_many_calls, "protocol", "more than"),
    "deeply nested event": (_deep_json, "protocol", "malformed"),
    "garbage": (_garbage, "protocol", "malformed"),
    "keep-alive forever": (_trickle, "timeout", "took over"),
    "silence": (_silent, "timeout", "sent nothing"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_hostile_model_server_ends_in_a_classified_error(case: str) -> None:
    write, kind, words = CASES[case]

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):
            await write(response)
        return response

    app = web.Application(handler_args={"handler_cancellation": True})
    app.router.add_post("/v1/chat/completions", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        provider = OpenAIProvider(OpenAIConfig(
            base_url=str(server.make_url("/v1")), timeout_s=1.5, connect_timeout_s=1.0,
            first_token_timeout_s=0.5))
        started = time.monotonic()
        try:
            with pytest.raises(LlmError) as caught:
                async for _ in provider.stream(REQUEST):
                    pass
        finally:
            await provider.close()
    assert (caught.value.kind, words in str(caught.value)) == (kind, True), str(caught.value)
    assert time.monotonic() - started < 5


def test_a_server_streaming_without_pause_still_times_out_on_the_virtual_clock() -> None:
    from interpreter.clock import run_virtual

    async def flood(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):
            while True:  # no pause at all: the socket never stops being readable
                await response.write(b": ping\n\n" * 64)
        return response

    async def main() -> LlmError:
        app = web.Application(handler_args={"handler_cancellation": True})
        app.router.add_post("/v1/chat/completions", flood)
        async with TestServer(app, host="127.0.0.1") as server:
            provider = OpenAIProvider(OpenAIConfig(base_url=str(server.make_url("/v1")),
                                                   timeout_s=1.0, first_token_timeout_s=0.5))
            try:
                async for _ in provider.stream(REQUEST):
                    pass
            except LlmError as error:
                return error
            finally:
                await provider.close()
        raise AssertionError("the stream ended by itself")

    def overrun(*_: object) -> None:
        raise AssertionError("virtual time did not move while the socket stayed readable")

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, overrun)
    signal.alarm(20)  # the bug this guards against is a hang: bound it
    try:
        error = run_virtual(main)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert error.kind == "timeout" and time.monotonic() - started < 10
