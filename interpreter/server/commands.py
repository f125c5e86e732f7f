"""REST v1 commands to a live call: say, transfer, unhold and inject an event.

Each command becomes an event posted to the call's inbox (runtime/events.py),
as the hangup in server/calls.py does: the handler never touches the call's
state, it only reads enough of it to refuse what cannot apply (an unknown
section, a leg the call does not have, a call not on hold). The actor traces
`command_received` with who sent it and runs the command at its next safe
point (runtime/commands.py). Every one answers 202 with the call's record;
404 for an unknown call, 409 `call-ended` once it has ended (nothing revives
it), 400 for a body that is not what the command takes.

What each does is in docs/rest-api.md (from openapi.py); when the call runs
it, runtime/commands.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from interpreter.media.keys import DIGITS as DTMF_DIGITS
from interpreter.runtime import events as ev
from interpreter.runtime.commands import transfer_target
from interpreter.server.auth import TOKEN, requires
from interpreter.server.call_registry import CallNotLive, CallRecord, Phase
from interpreter.server.calls import CALLS, record_json
from interpreter.server.problems import Problem
from interpreter.server.requests import read_command
from interpreter.server.store import Scope

if TYPE_CHECKING:
    from interpreter.runtime.call import Call

# About two minutes of speech: an operator's message, not a document.
MAX_SAY_CHARS = 2000
MAX_DEST_CHARS = 256
MAX_DIGITS = 64
# Why a leg may fail, as the telephony ports report it.
LEG_FAILURES = ("busy", "no_answer", "declined", "failed")

routes = web.RouteTableDef()


# ------------------------------------------------------------ handlers

@routes.post("/v1/calls/{call_id}/say")
@requires(Scope.CALLS)
async def say(request: web.Request) -> web.Response:
    """Have the agent say `text` to the caller, after what it is saying now."""
    body = _fields(await read_command(request), "say", required=("text",))
    text = _text(body, "text", MAX_SAY_CHARS)
    record, _ = await _live(request)
    _post(request, record, ev.SayRequested(text, by=_by(request)))
    return _accepted(record)


@routes.post("/v1/calls/{call_id}/transfer")
@requires(Scope.CALLS)
async def transfer(request: web.Request) -> web.Response:
    """Hand the call to a section of its flow, a number or a SIP address."""
    body = _fields(await read_command(request), "transfer", required=("dest",))
    dest = _text(body, "dest", MAX_DEST_CHARS)
    record, call = await _live(request)
    if transfer_target(call.flow, dest) is None:
        raise Problem("invalid-request", f"dest {dest!r} is neither a section of the call's "
                                         "flow, a phone number (+15551230000) nor a SIP "
                                         "address (sip:name@host)")
    _post(request, record, ev.TransferRequested(dest, by=_by(request)))
    return _accepted(record)


@routes.post("/v1/calls/{call_id}/unhold")
@requires(Scope.CALLS)
async def unhold(request: web.Request) -> web.Response:
    """Take the caller off the ai verb's hold (the platform's `ai_unhold`)."""
    if request.can_read_body:
        _fields(await read_command(request), "unhold")
    record, call = await _live(request)
    if call.hold_until is None:
        raise Problem("not-on-hold", f"call {record.call_id} is not on hold (it is "
                                     f"{call.state.value})")
    _post(request, record, ev.UnholdRequested(by=_by(request)))
    return _accepted(record)


@routes.post("/v1/calls/{call_id}/inject")
@requires(Scope.CALLS)
async def inject(request: web.Request) -> web.Response:
    """Post an external event from the allow-list (INJECTABLE) to the call."""
    body = await read_command(request)
    name = body.get("event")
    injectable = INJECTABLE.get(name) if isinstance(name, str) else None
    if injectable is None:
        raise Problem("invalid-request", f"`event` is one of {', '.join(INJECTABLE)}, "
                                         f"not {name!r}")
    fields = _fields(body, f"the {name} event", required=("event", *injectable.required),
                     optional=injectable.optional)
    events = injectable.build(fields)
    record, call = await _live(request)
    leg_id = fields.get("leg_id")
    if isinstance(leg_id, str) and leg_id not in call.legs:
        legs = ", ".join(call.legs) or "none yet"
        raise Problem("unknown-leg", f"call {record.call_id} has no leg {leg_id!r} "
                                     f"(its legs: {legs})")
    _post(request, record, ev.EventInjected(str(name), by=_by(request)), *events)
    return _accepted(record)


# ------------------------------------------------------------ injectable events

@dataclass(frozen=True, slots=True)
class Injectable:
    """An event an operator may inject: the fields it takes and how the
    checked fields become the events posted (never a class named by the client)."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    build: Callable[[Mapping[str, Any]], tuple[ev.Event, ...]]


def _leg(kind: Callable[[str], ev.Event]) -> Injectable:
    return Injectable(("leg_id",), (),
                      lambda body: (kind(_text(body, "leg_id", MAX_DEST_CHARS)),))


def _leg_failed(body: Mapping[str, Any]) -> tuple[ev.Event, ...]:
    reason = body.get("reason", "failed")
    if reason not in LEG_FAILURES:
        raise Problem("invalid-request", f"`reason` is one of {', '.join(LEG_FAILURES)}, "
                                         f"not {reason!r}")
    return (ev.LegFailed(_text(body, "leg_id", MAX_DEST_CHARS), reason),)


def _digits(body: Mapping[str, Any]) -> tuple[ev.Event, ...]:
    digits = _text(body, "digits", MAX_DIGITS)
    wrong = sorted(set(digits) - set(DTMF_DIGITS))
    if wrong:
        raise Problem("invalid-request", f"`digits` are DTMF keys (0-9, *, #, A-D), not "
                                         f"{''.join(wrong)!r}")
    return tuple(ev.DigitPressed(digit) for digit in digits)


def _speech(body: Mapping[str, Any]) -> tuple[ev.Event, ...]:
    """The caller's words, as a recognizer's final transcript would bring them."""
    confidence = body.get("confidence", 1.0)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) \
            or not 0.0 <= confidence <= 1.0:
        raise Problem("invalid-request", "`confidence` is a number from 0 to 1")
    return (ev.TranscriptReceived(_text(body, "text", MAX_SAY_CHARS), True,
                                  float(confidence)),)


# The allow-list, by the name a client gives as `event`.
INJECTABLE: dict[str, Injectable] = {
    "leg_ringing": _leg(ev.LegRinging),
    "leg_answered": _leg(ev.LegAnswered),
    "leg_failed": Injectable(("leg_id",), ("reason",), _leg_failed),
    "leg_ended": _leg(ev.LegEnded),
    "digits": Injectable(("digits",), (), _digits),
    "speech": Injectable(("text",), ("confidence",), _speech),
}


# ------------------------------------------------------------ request parts

def _fields(body: dict[str, Any], what: str, *, required: tuple[str, ...] = (),
            optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The body, refused (400) when a field is missing or not one it takes."""
    allowed = (*required, *optional)
    unknown = sorted(body.keys() - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "no fields"
        raise Problem("invalid-request", f"unknown field(s) {', '.join(unknown)}; {what} "
                                         f"takes {takes}")
    missing = [name for name in required if name not in body]
    if missing:
        raise Problem("invalid-request", f"{what} needs {', '.join(missing)}")
    return body


def _text(body: Mapping[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Problem("invalid-request", f"`{key}` must be a non-empty string")
    if len(value) > limit:
        raise Problem("invalid-request", f"`{key}` is {len(value):,} characters; at most "
                                         f"{limit:,}")
    return value.strip()


def _by(request: web.Request) -> str:
    """Who sent the command, for the trace: the token's public id."""
    return f"rest:{request[TOKEN].token_id}"


async def _live(request: web.Request) -> tuple[CallRecord, Call]:
    """The call's record and running call; 404 unknown, 409 ended."""
    record = await request.app[CALLS].get(request.match_info["call_id"])  # NotFound: 404
    if record.phase is Phase.ENDED or record.call is None:
        raise _ended(CallNotLive(record.call_id, record.entry.disposition))
    return record, record.call


def _post(request: web.Request, record: CallRecord, *events: ev.Event) -> None:
    """Into the call's inbox, back to back (nothing runs between two posts)."""
    registry = request.app[CALLS]
    for event in events:
        try:
            registry.post(record.call_id, event)
        except CallNotLive as error:
            raise _ended(error) from None


def _ended(error: CallNotLive) -> Problem:
    return Problem("call-ended", str(error))


def _accepted(record: CallRecord) -> web.Response:
    return web.json_response(record_json(record), status=202)
