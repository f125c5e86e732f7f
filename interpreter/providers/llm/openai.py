"""OpenAI-compatible chat completions over aiohttp, streamed with SSE.

Works with OpenAI, vLLM, the llama.cpp server and Ollama's /v1 endpoint.
Text deltas are yielded as they arrive; tool-call fragments are assembled by
index and yielded whole when the stream finishes. Failures are classified
`LlmError`s. The response is read inside `async with`, so a consumer that
stops iterating (a barge-in cancels the task) closes the connection at once
and the server stops generating.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from interpreter.clock import real_io
from interpreter.providers.llm.base import (
    ChatMessage,
    Finished,
    LlmError,
    LlmRequest,
    StreamItem,
    TextDelta,
    ToolCall,
    ToolCallReady,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
_TOKEN_LIMIT_HINTS = ("context length", "context_length", "maximum context", "too many tokens",
                      "max_tokens")


@dataclass(frozen=True, slots=True)
class OpenAIConfig:
    base_url: str = DEFAULT_BASE_URL
    api_key: str = field(default="", repr=False)
    model: str = DEFAULT_MODEL
    timeout_s: float = 30.0
    connect_timeout_s: float = 5.0
    first_token_timeout_s: float = 10.0
    extra_headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> OpenAIConfig:
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "base_url": env.get("CALLKERNEL_LLM_BASE_URL") or env.get("OPENAI_BASE_URL")
            or DEFAULT_BASE_URL,
            "api_key": env.get("CALLKERNEL_LLM_API_KEY") or env.get("OPENAI_API_KEY") or "",
            "model": env.get("CALLKERNEL_LLM_MODEL") or DEFAULT_MODEL,
        }
        values.update(overrides)
        return cls(**values)


def wire_message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [{"id": call.id, "type": "function",
                              "function": {"name": call.name, "arguments": call.arguments}}
                             for call in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def request_body(request: LlmRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model or model, "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [wire_message(m) for m in request.messages],
        "temperature": request.temperature, "top_p": request.top_p,
        "max_tokens": request.max_tokens, "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
    }
    if request.tools:
        body["tools"] = [{"type": "function", "function": {
            "name": tool.name, "description": tool.description,
            "parameters": dict(tool.parameters)}} for tool in request.tools]
    return body


class OpenAIProvider:
    """An LlmProvider for any OpenAI-compatible `/chat/completions` endpoint."""

    def __init__(self, config: OpenAIConfig, session: aiohttp.ClientSession | None = None):
        self.config = config
        self._session = session
        self._owns_session = session is None

    def __repr__(self) -> str:
        return f"OpenAIProvider(base_url={self.config.base_url!r}, model={self.config.model!r})"

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamItem]:
        config = self.config
        headers = {"Content-Type": "application/json", **config.extra_headers}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        timeout = aiohttp.ClientTimeout(total=config.timeout_s,
                                        sock_connect=config.connect_timeout_s,
                                        sock_read=config.first_token_timeout_s)
        url = config.base_url.rstrip("/") + "/chat/completions"
        try:
            with real_io():
                async with self._http().post(url, json=request_body(request, config.model),
                                             headers=headers, timeout=timeout) as response:
                    if response.status >= 300:
                        raise _http_error(response.status, await response.text())
                    async for item in _events(response):
                        yield item
        except LlmError:
            raise
        except TimeoutError:
            raise LlmError("timeout", "the model did not answer in time") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as error:
            # The stream was cut mid-way: retryable, the reply is incomplete.
            raise LlmError("protocol", f"the model's stream was cut ({type(error).__name__})") \
                from None
        except aiohttp.ClientConnectionError as error:
            raise LlmError("timeout", f"cannot reach the model ({type(error).__name__})") \
                from None
        except aiohttp.ClientError as error:
            raise LlmError("provider", f"model request failed: {type(error).__name__}") \
                from None


def _http_error(status: int, body: str) -> LlmError:
    excerpt = " ".join(body.split())[:200]
    message = f"HTTP {status}: {excerpt}"
    if status == 429:
        return LlmError("rate_limit", message, status=status)
    if status == 400 and any(hint in body.lower() for hint in _TOKEN_LIMIT_HINTS):
        return LlmError("token_limit", message, status=status, retryable=False)
    if status in (400, 401, 403, 404, 422):
        return LlmError("provider", message, status=status, retryable=False)
    return LlmError("provider", message, status=status)


async def _events(response: aiohttp.ClientResponse) -> AsyncIterator[StreamItem]:
    """Parse the SSE stream: `data:` lines, blank-line separated, `[DONE]` last."""
    calls: dict[int, dict[str, str]] = {}
    reason: str | None = None
    usage: dict[str, Any] = {}
    done = False
    data_lines: list[str] = []
    async for raw in response.content:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith(":"):
            continue  # an SSE comment (keep-alive)
        if line.startswith("data:"):
            data_lines.append(line[5:].lstrip())
            continue
        if line or not data_lines:
            continue
        data, data_lines = "\n".join(data_lines), []
        if data == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise LlmError("protocol", "the model sent a malformed stream event") from None
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                yield TextDelta(str(delta["content"]))
            for fragment in delta.get("tool_calls") or []:
                slot = calls.setdefault(int(fragment.get("index", 0)),
                                        {"id": "", "name": "", "arguments": ""})
                function = fragment.get("function") or {}
                slot["id"] = fragment.get("id") or slot["id"]
                slot["name"] = function.get("name") or slot["name"]
                slot["arguments"] += function.get("arguments") or ""
            reason = choice.get("finish_reason") or reason
    if not done and reason is None:
        raise LlmError("protocol", "the model's stream ended before it finished")
    for index in sorted(calls):
        slot = calls[index]
        yield ToolCallReady(ToolCall(slot["id"] or f"call_{index}", slot["name"],
                                     slot["arguments"]))
    yield Finished(reason or "stop", int(usage.get("prompt_tokens", 0)),
                   int(usage.get("completion_tokens", 0)))
