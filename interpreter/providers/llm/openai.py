"""OpenAI-compatible chat completions over aiohttp, streamed with SSE.

Works with OpenAI, vLLM, the llama.cpp server and Ollama's /v1 endpoint.
Text deltas are yielded as they arrive; tool-call fragments are assembled by
index and yielded whole when the stream finishes. Failures are classified
`LlmError`s. The response is read inside `async with`, so a consumer that
stops iterating (a barge-in cancels the task) closes the connection at once
and the server stops generating. Retrying is the agent loop's business.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.http_exceptions import LineTooLong
from yarl import URL

from interpreter import limits, safejson
from interpreter.clock import real_io
from interpreter.jsontypes import JSONObject, JSONValue
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
# How servers word an overflowing prompt: OpenAI and vLLM "maximum context
# length", llama.cpp "exceeds the available context size" (sometimes as a 500).
_CONTEXT_HINTS = ("context length", "context_length", "maximum context", "context size",
                  "context_size", "context window")
_EXCERPT_CHARS = 200
_ERROR_BODY_BYTES = 4096  # enough for any JSON error; a proxy's HTML page is cut
_NOT_RETRYABLE = frozenset({400, 401, 403, 404, 422})
# What one streamed reply may hold, checked as it arrives: a server that
# streams without end must not grow the process (docs/limits.md).
MAX_EVENT_BYTES = limits.LLM_EVENT_MAX_BYTES  # one SSE event's data lines together
MAX_REPLY_CHARS = limits.LLM_REPLY_MAX_CHARS  # the reply's text
MAX_TOOL_ARGUMENT_CHARS = limits.LLM_TOOL_ARGUMENTS_MAX_CHARS  # one tool call's arguments
MAX_TOOL_CALLS = limits.LLM_TOOL_CALLS_MAX  # tool calls in one reply


@dataclass(frozen=True, slots=True)
class OpenAIConfig:
    base_url: str = DEFAULT_BASE_URL
    api_key: str = field(default="", repr=False)
    model: str = DEFAULT_MODEL
    timeout_s: float = 30.0  # the whole reply
    connect_timeout_s: float = 5.0
    first_token_timeout_s: float = 10.0  # longest silence: before the first byte and between
    extra_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    # The model a document names (prompt.model, params.ai_model: the hosted
    # platform's names) → the model this server serves; "*" for any other.
    model_map: Mapping[str, str] = field(default_factory=dict)

    def served_model(self, requested: str | None) -> str:
        """The model to ask for: the document's (mapped), else the default."""
        name = requested or self.model
        return self.model_map.get(name, self.model_map.get("*", name))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **overrides: Any) -> OpenAIConfig:
        """CALLKERNEL_LLM_* variables, falling back to the OpenAI SDK's names."""
        values: dict[str, Any] = {
            "base_url": env.get("CALLKERNEL_LLM_BASE_URL") or env.get("OPENAI_BASE_URL")
            or DEFAULT_BASE_URL,
            "api_key": env.get("CALLKERNEL_LLM_API_KEY") or env.get("OPENAI_API_KEY") or "",
            "model": env.get("CALLKERNEL_LLM_MODEL") or DEFAULT_MODEL,
            "model_map": _model_map(env.get("CALLKERNEL_LLM_MODEL_MAP", "")),
        }
        return cls(**(values | overrides))

    def __repr__(self) -> str:  # by hand: the base URL may carry user:password
        return f"OpenAIConfig(base_url={_shown(self.base_url)!r}, model={self.model!r})"


def _model_map(spec: str) -> dict[str, str]:
    """"gpt-4o-mini=llama3.1:8b, *=llama3.1:8b" → {document name: served name}."""
    pairs = (item.partition("=") for item in spec.split(",") if item.strip())
    return {name.strip(): served.strip() for name, _, served in pairs
            if name.strip() and served.strip()}


def _shown(base_url: str) -> str:
    url = URL(base_url)
    return str(url.with_user(None)) if url.absolute else base_url


def wire_message(message: ChatMessage) -> JSONObject:
    out: JSONObject = {"role": message.role, "content": message.content}
    if message.tool_calls:
        # null, not "", beside tool calls: what the OpenAI SDK sends and what
        # strict chat templates (vLLM, llama.cpp) expect.
        out["content"] = message.content or None
        out["tool_calls"] = [{"id": call.id, "type": "function",
                              "function": {"name": call.name, "arguments": call.arguments}}
                             for call in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def request_body(request: LlmRequest, model: str) -> JSONObject:
    """The wire request; `model` is the one to ask for (OpenAIConfig.served_model)."""
    body: JSONObject = {
        "model": model, "stream": True,
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
        self._given = session
        self._owned: aiohttp.ClientSession | None = None
        # What authenticates us is scrubbed from error messages, since an error
        # body may echo the request (some proxies do). Short header values
        # (an org id, a version) are left alone so messages stay readable.
        headers = (value for value in config.extra_headers.values() if len(value) >= 8)
        self._secrets = tuple(s for s in (config.api_key, *headers) if s)

    def __repr__(self) -> str:
        return f"OpenAIProvider(base_url={_shown(self.config.base_url)!r}, " \
               f"model={self.config.model!r})"

    async def close(self) -> None:
        """Close the session this provider created (a given one is the caller's)."""
        if self._owned is not None:
            await self._owned.close()
            self._owned = None

    def _session(self) -> aiohttp.ClientSession:
        if self._given is not None:
            return self._given
        if self._owned is None or self._owned.closed:
            self._owned = aiohttp.ClientSession()
        return self._owned

    def _excerpt(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = "".join(ch if ch.isprintable() else " " for ch in text)
        return " ".join(text.split())[:_EXCERPT_CHARS]

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamItem]:
        config = self.config
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream",
                   **config.extra_headers}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        timeout = aiohttp.ClientTimeout(total=config.timeout_s,
                                        sock_connect=config.connect_timeout_s,
                                        sock_read=config.first_token_timeout_s)
        url = config.base_url.rstrip("/") + "/chat/completions"
        try:
            with real_io():
                body = request_body(request, config.served_model(request.model))
                async with self._session().post(url, json=body, headers=headers,
                                                timeout=timeout) as response:
                    if response.status >= 300:
                        raw = await response.content.read(_ERROR_BODY_BYTES)
                        text = raw.decode("utf-8", "replace")
                        raise classify(response.status, text,
                                       f"HTTP {response.status}: {self._excerpt(text)}")
                    async for item in self._events(response.content):
                        yield item
        except (TimeoutError, aiohttp.ClientError, LineTooLong) as error:
            raise self._failure(error) from None

    def _failure(self, error: Exception) -> LlmError:
        """Classify a transport failure (the message never carries the request)."""
        config = self.config
        match error:
            case aiohttp.ConnectionTimeoutError():
                return LlmError("timeout", "cannot connect to the model within "
                                f"{config.connect_timeout_s:g} s")
            case aiohttp.SocketTimeoutError():
                return LlmError("timeout", "the model sent nothing for "
                                f"{config.first_token_timeout_s:g} s")
            case TimeoutError():
                return LlmError("timeout", f"the model's reply took over {config.timeout_s:g} s")
            # Cut or garbled mid-way: this reply is lost, another attempt may succeed.
            case aiohttp.ServerDisconnectedError() | aiohttp.ClientPayloadError() | LineTooLong():
                return LlmError("protocol", f"the model's stream broke ({type(error).__name__})")
            case aiohttp.InvalidURL():
                return LlmError("provider", "the model's base URL is invalid", retryable=False)
            # Refused, unreachable, DNS: to the caller, a model that does not answer.
            case aiohttp.ClientConnectionError():
                return LlmError("timeout", f"cannot reach the model: {self._excerpt(str(error))}")
        return LlmError("provider", f"model request failed ({type(error).__name__})")

    async def _events(self, content: aiohttp.StreamReader) -> AsyncIterator[StreamItem]:
        """Parse SSE: `data:` lines joined until a blank line, `:` comments, `[DONE]`.

        `content` yields whole lines however the bytes were split on the wire."""
        reply = _Reply()
        data: list[str] = []
        errors: list[str] = []
        size = 0  # bytes of the event being read
        async for raw in content:
            size += len(raw)
            if size > MAX_EVENT_BYTES:
                raise LlmError("protocol", "the model sent a stream event over "
                               f"{MAX_EVENT_BYTES // 1024} KiB")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    data.append(value)
                elif name == "error":
                    errors.append(value)  # llama.cpp before late 2025, at HTTP 200
                continue
            size = 0  # comments (empty name) and event:/id:/retry: carry nothing for us
            for item in self._dispatch(reply, data, errors):
                yield item
            if reply.done:
                break
        else:  # the spec drops an event cut by EOF; a server omitting the last blank line means it
            for item in self._dispatch(reply, data, errors):
                yield item
        for item in reply.finish():
            yield item

    def _dispatch(self, reply: _Reply, data: list[str], errors: list[str]) -> list[StreamItem]:
        """Act on one complete event and empty the line buffers."""
        if errors:
            raise self._stream_error(_parse("\n".join(errors)))
        event = "\n".join(data)
        data.clear()
        if not event.strip():
            return []  # a comment-only event or an empty `data:` keep-alive
        if event == "[DONE]":
            reply.done = True
            return []
        chunk = _parse(event)
        if not isinstance(chunk, dict):
            raise LlmError("protocol", "the model sent a stream event that is not an object")
        if "error" in chunk:  # how OpenAI and current llama.cpp report a failure mid-stream
            raise self._stream_error(chunk)
        return list(reply.feed(chunk))

    def _stream_error(self, payload: JSONValue) -> LlmError:
        error = payload.get("error", payload) if isinstance(payload, dict) else payload
        # Ollama's shape is {"error": "message"}; the others nest an object.
        detail = error if isinstance(error, str) else _str(_obj(error).get("message"))
        status = _count(_obj(error).get("code")) or None
        text = json.dumps(error)
        return classify(status, text, f"model error{f' {status}' if status else ''} "
                                      f"mid-stream: {self._excerpt(detail or text)}")


def classify(status: int | None, text: str, message: str) -> LlmError:
    """The LlmError for an error answer: `text` is searched, `message` is shown."""
    lowered = text.lower()
    if status == 429:
        return LlmError("rate_limit", message, status=status)
    if any(hint in lowered for hint in _CONTEXT_HINTS) or (status == 400 and "tokens" in lowered):
        return LlmError("token_limit", message, status=status, retryable=False)
    return LlmError("provider", message, status=status, retryable=status not in _NOT_RETRYABLE)


def _parse(event: str) -> JSONValue:
    try:
        return safejson.loads(event, max_depth=limits.VALUE_MAX_DEPTH,
                              max_bytes=MAX_EVENT_BYTES)
    except ValueError:
        raise LlmError("protocol", "the model sent a malformed stream event") from None


@dataclass(slots=True)
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    size: int = 0


@dataclass(slots=True)
class _Reply:
    """One streamed completion being assembled: tool calls, finish reason, usage."""

    calls: dict[int, _PendingCall] = field(default_factory=dict)
    reason: str | None = None
    usage: JSONObject = field(default_factory=dict)
    done: bool = False
    text_chars: int = 0

    def feed(self, chunk: JSONObject) -> Iterator[StreamItem]:
        # The wire is untrusted: a field of the wrong type reads as absent.
        self.usage = _obj(chunk.get("usage")) or self.usage
        for choice in _objects(chunk.get("choices")):
            delta = _obj(choice.get("delta"))
            if text := _str(delta.get("content")):
                self.text_chars += len(text)
                if self.text_chars > MAX_REPLY_CHARS:
                    raise LlmError("protocol", "the model's reply is over "
                                   f"{MAX_REPLY_CHARS // 1024}K characters")
                yield TextDelta(text)
            for fragment in _objects(delta.get("tool_calls")):
                self._add(fragment)
            self.reason = _str(choice.get("finish_reason")) or self.reason

    def _add(self, fragment: JSONObject) -> None:
        index, new_id = fragment.get("index"), _str(fragment.get("id"))
        if not isinstance(index, int):
            # Servers that omit `index` (older Ollama) send each call whole:
            # a fragment with a new id starts a call, one without continues the last.
            last = max(self.calls, default=-1)
            starts = last < 0 or (bool(new_id) and new_id != self.calls[last].id)
            index = last + 1 if starts else last
        if index not in self.calls and len(self.calls) >= MAX_TOOL_CALLS:
            raise LlmError("protocol", f"the model called more than {MAX_TOOL_CALLS} tools "
                           "in one reply")
        pending = self.calls.setdefault(index, _PendingCall())
        function = _obj(fragment.get("function"))
        pending.id = new_id or pending.id
        pending.name = _str(function.get("name")) or pending.name  # some servers repeat it
        arguments = _str(function.get("arguments"))
        pending.size += len(arguments)
        if pending.size > MAX_TOOL_ARGUMENT_CHARS:
            # Refused here: a call this size would be sent back in every later
            # request of the conversation (and refused there with HTTP 413).
            raise LlmError("protocol", f"the model's arguments for a tool call are over "
                           f"{MAX_TOOL_ARGUMENT_CHARS // 1024}K characters")
        pending.arguments.append(arguments)

    def finish(self) -> Iterator[StreamItem]:
        if not self.done and self.reason is None:
            raise LlmError("protocol", "the model's stream ended before it finished")
        for index in sorted(self.calls):
            pending = self.calls[index]
            yield ToolCallReady(ToolCall(pending.id or f"call_{index}", pending.name,
                                         "".join(pending.arguments)))
        reason = self.reason or "stop"
        if self.calls and reason == "stop":
            reason = "tool_calls"  # Ollama reports "stop" even when it called tools
        yield Finished(reason, _count(self.usage.get("prompt_tokens")),
                       _count(self.usage.get("completion_tokens")))


def _count(value: JSONValue) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: JSONValue) -> str:
    return value if isinstance(value, str) else ""


def _obj(value: JSONValue) -> JSONObject:
    return value if isinstance(value, dict) else {}


def _objects(value: JSONValue) -> list[JSONObject]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
