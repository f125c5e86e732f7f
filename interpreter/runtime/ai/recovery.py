"""A failure in an ai session: the call's one fault path (runtime/faults.py)
with the session's `error_recovery` policies; a fatal one ends the session
and the call, with the post_prompt summary still delivered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interpreter.errors import ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.runtime import faults
from interpreter.runtime.ai.next_move import Move
from interpreter.runtime.faults import Recovery

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession

__all__ = ["Recovery", "classify", "succeeded"]


def classify(session: AiSession, error_type: ErrorType, message: str, *,
             retryable: bool = True, then: str = "", **detail: JSONValue) -> Recovery:
    outcome = faults.classify(session.call, error_type, message,
                              policy=session.recovery_policy(error_type), retryable=retryable,
                              then=then, **detail)
    if outcome.fatal:
        session.move(Move.HANG_UP, f"error:{error_type.value}")
    return outcome


def succeeded(session: AiSession, *error_types: ErrorType) -> None:
    faults.succeeded(session.call, *error_types)
