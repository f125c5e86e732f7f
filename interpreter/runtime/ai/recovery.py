"""Classifying a failure in an ai session: count it, decide, trace it.

One rule for every error type: a failure is recovered (the phrase is spoken
and the session goes on: retry, fallback, or the model is told) until the
policy's `max_retries` retries have failed too; then, or at once for a fatal
type or a failure that cannot be retried, it is fatal: the goodbye is spoken
and the call ends, with the post_prompt summary still delivered. A success
of the same kind resets the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from interpreter.errors import ErrorType
from interpreter.jsontypes import JSONValue

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession


@dataclass(frozen=True, slots=True)
class Recovery:
    fatal: bool
    phrase: str  # what the caller hears: the recovery phrase, or the goodbye
    attempt: int  # consecutive failures of this type, this one included


def classify(session: AiSession, error_type: ErrorType, message: str, *,
             retryable: bool = True, then: str = "", **detail: JSONValue) -> Recovery:
    """Count the failure and trace it with what happens next (`then` when
    recovered; `{attempt}` in it is filled in)."""
    policy = session.policy(error_type)
    attempt = session.failures.get(error_type, 0) + 1
    session.failures[error_type] = attempt
    fatal = policy.fatal or not retryable or attempt > policy.max_retries
    phrase = goodbye(policy.phrase) if fatal else policy.phrase
    session.call.trace.record("error", type=error_type.value, fatal=fatal, message=message,
                              attempt=attempt, phrase=phrase,
                              next="goodbye and hang up" if fatal else then.format(attempt=attempt),
                              **detail)
    if fatal:
        session.ended = f"error:{error_type.value}"
        session.hangup_after = True
    return Recovery(fatal, phrase, attempt)


def succeeded(session: AiSession, *error_types: ErrorType) -> None:
    for error_type in error_types:
        session.failures.pop(error_type, None)


def goodbye(phrase: str) -> str:
    return phrase if "hang up" in phrase.lower() else \
        f"{phrase} I'm sorry, I have to end the call now. Goodbye."
