"""One fault path: a failure becomes its error type, its attempt count, a
recovery and one `error` trace record, for the verbs and the ai verb alike.

One rule for every error type: a failure is recovered (the phrase is spoken
and the call goes on: retry, fallback, skip, or the model is told) until the
policy's `max_retries` retries have failed too; then, or at once for a fatal
type or a failure that cannot be retried, it is fatal: the goodbye is spoken
and the call ends. Consecutive failures are counted per type on the call; a
success of the same kind resets the count (`succeeded`).

`record` is the only writer of `error` records, so every one has the same
fields: type, fatal, message, attempt, phrase, next, and any detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from interpreter.errors import ErrorType, RecoveryPolicy
from interpreter.jsontypes import JSONValue

if TYPE_CHECKING:
    from interpreter.runtime.call import Call


@dataclass(frozen=True, slots=True)
class Recovery:
    error_type: ErrorType
    fatal: bool
    phrase: str  # what the caller hears: the recovery phrase, or the goodbye
    attempt: int  # consecutive failures of this type, this one included


def classify(call: Call, error_type: ErrorType, message: str, *,
             policy: RecoveryPolicy | None = None, retryable: bool = True,
             then: str = "", **detail: JSONValue) -> Recovery:
    """Count the failure, decide, and trace it with what happens next (`then`
    when recovered; `{attempt}` in it is filled in). `policy` defaults to
    the error type's own."""
    policy = policy or error_type.default_policy
    attempt = call.failures.get(error_type, 0) + 1
    call.failures[error_type] = attempt
    fatal = policy.fatal or not retryable or attempt > policy.max_retries
    phrase = goodbye(policy.phrase) if fatal else policy.phrase
    record(call, error_type, message, fatal=fatal, attempt=attempt, phrase=phrase,
           next="goodbye and hang up" if fatal else then.format(attempt=attempt), **detail)
    return Recovery(error_type, fatal, phrase, attempt)


def record(call: Call, error_type: ErrorType, message: str, *, fatal: bool,
           next: str, attempt: int = 1, phrase: str = "", **detail: JSONValue) -> None:
    """Trace a failure that needs no decision (it is handled where it happened:
    a background track that failed, an illegal move the model is told about)."""
    call.trace.record("error", type=error_type.value, fatal=fatal, message=message,
                      attempt=attempt, phrase=phrase, next=next, **detail)


def succeeded(call: Call, *error_types: ErrorType) -> None:
    for error_type in error_types:
        call.failures.pop(error_type, None)


def goodbye(phrase: str) -> str:
    return phrase if "hang up" in phrase.lower() else \
        f"{phrase} I'm sorry, I have to end the call now. Goodbye."
