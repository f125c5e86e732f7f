"""The one exception hierarchy of callkernel.

    CallkernelError
    ├── DocumentError        a flow document cannot be used; carries diagnostics
    │   └── DocumentTooLarge the input is over the configured size limit
    ├── PatternError         a flow's regular expression is invalid (patterns.py)
    ├── PatternTimeout       a flow pattern's match ran over its bound (patterns.py)
    └── CallFault            something failed while a call ran; carries its
        │                    ErrorType (one of ten, each with a default
        │                    RecoveryPolicy a flow may override)
        ├── LlmError         the model failed (llm_timeout / llm_error);
        │                    providers/llm/base.py
        └── ToolFault        a tool gave no usable reply (tool_*);
                             runtime/tools/base.py

A fault never crosses tasks as an exception: an effect that fails posts
`EffectFailed` (runtime/events.py), and runtime/faults.py turns any fault
into its recovery.

Errors raised while reading a document always carry `Diagnostic`s with a
source location, so a CLI or an HTTP handler can show them without knowing
where they came from.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from interpreter.diagnostics import Diagnostic


class CallkernelError(Exception):
    """Base of every error callkernel raises on purpose."""


class DocumentError(CallkernelError):
    """A flow document failed to load, validate or compile."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        first = str(self.diagnostics[0]) if self.diagnostics else "invalid document"
        more = len(self.diagnostics) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))


class DocumentTooLarge(DocumentError):
    """The document is over the size limit; refused before parsing."""


class CallFault(CallkernelError):
    """A classified failure during a call."""

    def __init__(self, error_type: ErrorType, message: str) -> None:
        self.error_type = error_type
        self.detail = message
        super().__init__(f"{error_type.value}: {message}")


class ErrorType(enum.Enum):
    """The ten classified runtime error types, with their default policy.

    They refine the seven categories the hosted platform publishes (STT, TTS,
    LLM, Tool, Transfer, State, Media). A flow overrides any of them in the
    `ai` verb's `error_recovery` map.
    """

    LLM_TIMEOUT = "llm_timeout"
    LLM_ERROR = "llm_error"
    TOOL_TIMEOUT = "tool_timeout"
    TOOL_ERROR = "tool_error"
    TOOL_INVALID_CALL = "tool_invalid_call"
    TTS_ERROR = "tts_error"
    STT_ERROR = "stt_error"
    TRANSFER_FAILED = "transfer_failed"
    STATE_ERROR = "state_error"
    MEDIA_ERROR = "media_error"

    @property
    def default_policy(self) -> RecoveryPolicy:
        return _DEFAULT_POLICIES[self]


@dataclass(frozen=True, slots=True)
class RecoveryPolicy:
    """What happens when an error of one type occurs: the phrase the caller
    hears, whether the call ends, and how many retries come first."""

    phrase: str
    fatal: bool
    max_retries: int


_HOLD_ON = "I'm sorry, can you hold on for a second?"
_DEFAULT_POLICIES = {
    ErrorType.LLM_TIMEOUT: RecoveryPolicy(_HOLD_ON, False, 2),
    ErrorType.LLM_ERROR: RecoveryPolicy(_HOLD_ON, False, 2),
    ErrorType.TOOL_TIMEOUT: RecoveryPolicy(
        "Sorry, that is taking longer than expected.", False, 1),
    ErrorType.TOOL_ERROR: RecoveryPolicy("Sorry, I couldn't complete that just now.", False, 1),
    ErrorType.TOOL_INVALID_CALL: RecoveryPolicy("One moment, please.", False, 3),
    ErrorType.TTS_ERROR: RecoveryPolicy(
        "There was an error with the current voice, sorry for the trouble.", False, 2),
    ErrorType.STT_ERROR: RecoveryPolicy(
        "Sorry, I didn't catch that. Could you say it again?", False, 2),
    ErrorType.TRANSFER_FAILED: RecoveryPolicy(
        "I'm sorry, I couldn't connect your call.", False, 1),
    ErrorType.STATE_ERROR: RecoveryPolicy(
        "Sorry, something went wrong on my side. Let's try that again.", False, 1),
    ErrorType.MEDIA_ERROR: RecoveryPolicy(
        "I'm sorry, I am having a problem. I have to hang up now.", True, 0),
}
