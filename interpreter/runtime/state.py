"""Call and leg states, each with one guarded transition function.

A call moves NEW → RINGING → ANSWERED and between ANSWERED, IN_AI,
TRANSFERRING and BRIDGED while it runs; ENDED is terminal: no event revives
it. Every change goes through `advance`, which refuses illegal moves, so a
late event (a leg answering after the hangup) cannot put a finished call back
into service.
"""

from __future__ import annotations

import enum


class CallState(enum.Enum):
    NEW = "new"
    RINGING = "ringing"
    ANSWERED = "answered"
    IN_AI = "in_ai"
    TRANSFERRING = "transferring"
    BRIDGED = "bridged"
    ENDED = "ended"


_LIVE = {CallState.ANSWERED, CallState.IN_AI, CallState.TRANSFERRING, CallState.BRIDGED}
_CALL_MOVES: dict[CallState, frozenset[CallState]] = {
    CallState.NEW: frozenset({CallState.RINGING, CallState.ANSWERED, CallState.ENDED}),
    CallState.RINGING: frozenset({CallState.ANSWERED, CallState.ENDED}),
    **{state: frozenset(_LIVE - {state} | {CallState.ENDED}) for state in _LIVE},
    CallState.ENDED: frozenset(),
}


class IllegalTransition(Exception):
    """A state change the machine does not allow; the caller traces it."""


def advance(current: CallState, target: CallState) -> CallState:
    """The new state, or IllegalTransition. Staying put is always allowed
    except out of ENDED, which nothing leaves."""
    if current is target and current is not CallState.ENDED:
        return current
    if target not in _CALL_MOVES[current]:
        raise IllegalTransition(f"call cannot go from {current.value} to {target.value}")
    return target


class LegState(enum.Enum):
    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    BRIDGED = "bridged"
    FAILED = "failed"
    ENDED = "ended"


_LEG_MOVES: dict[LegState, frozenset[LegState]] = {
    LegState.DIALING: frozenset({LegState.RINGING, LegState.ANSWERED, LegState.FAILED,
                                 LegState.ENDED}),
    LegState.RINGING: frozenset({LegState.ANSWERED, LegState.FAILED, LegState.ENDED}),
    LegState.ANSWERED: frozenset({LegState.BRIDGED, LegState.FAILED, LegState.ENDED}),
    LegState.BRIDGED: frozenset({LegState.ENDED}),
    LegState.FAILED: frozenset(),
    LegState.ENDED: frozenset(),
}


def advance_leg(current: LegState, target: LegState) -> LegState:
    if current is target and target not in (LegState.FAILED, LegState.ENDED):
        return current
    if target not in _LEG_MOVES[current]:
        raise IllegalTransition(f"leg cannot go from {current.value} to {target.value}")
    return target


def is_terminal(state: CallState | LegState) -> bool:
    return state in (CallState.ENDED, LegState.FAILED, LegState.ENDED)
