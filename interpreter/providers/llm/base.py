"""The LLM provider protocol: a chat request in, a stream of deltas out.

A provider streams `TextDelta`s as the model writes, a `ToolCallReady` for
each complete tool call, and one `Finished` with token counts. Failures are
`LlmError`s whose `kind` the agent loop maps to llm_timeout / llm_error.
Cancelling the iteration must stop the work (close the HTTP response), so a
barge-in stops paying for tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from interpreter.errors import CallFault, ErrorType
from interpreter.ir import ToolSpec as ToolSpec

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text exactly as the model produced it


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    # An assistant message the caller cut short: `content` is what they heard.
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class LlmRequest:
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    model: str | None = None  # None: the provider's default model


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallReady:
    call: ToolCall


@dataclass(frozen=True, slots=True)
class Finished:
    reason: str = "stop"  # "stop" | "tool_calls" | "length"
    input_tokens: int = 0
    output_tokens: int = 0


StreamItem = TextDelta | ToolCallReady | Finished

# A post-call summary request: the post_prompt, then one user message that
# opens with this and holds the conversation.
SUMMARY_OPENING = "The conversation:\n"

LlmErrorKind = Literal["timeout", "rate_limit", "token_limit", "provider", "protocol"]


class LlmError(CallFault):
    """A provider failure, classified: llm_timeout for a timeout, llm_error for
    the rest; `retryable` says whether trying again can help."""

    def __init__(self, kind: LlmErrorKind, message: str, *, status: int | None = None,
                 retryable: bool = True) -> None:
        super().__init__(ErrorType.LLM_TIMEOUT if kind == "timeout" else ErrorType.LLM_ERROR,
                         message)
        self.kind: LlmErrorKind = kind
        self.status = status
        self.retryable = retryable

    def __str__(self) -> str:
        return self.detail


class LlmProvider(Protocol):
    """Anything that turns a chat request into a stream of deltas."""

    def stream(self, request: LlmRequest) -> AsyncIterator[StreamItem]:
        """Stream the reply; raise LlmError on failure (also mid-stream)."""
        ...
