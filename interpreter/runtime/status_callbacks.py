"""Status callbacks: a verb's `status_url` and connect's `call_state_url`.

When something a flow asked to hear about happens (a play starts or ends, a
recording stops, a prompt has its result, a connect bridges, a dialled leg
rings), its event is POSTed to the URL at once: a status callback is real
time, so it goes to the host's outbox when it happens, not when the call
ends. Each is a `Delivery` of kind "status" with its own idempotency key, so
it is retried with back-off like a summary and a receiver can drop a repeat.

The bodies follow the RELAY events SignalWire sends for the same things
(`calling.call.play`, `.record`, `.collect`, `.connect`, `.state`): an
envelope with `event_type`, `timestamp` (Unix seconds) and `params`. Only what
this runtime knows is filled in; fields of the hosted platform it has no
counterpart for (`node_id`, `space_id`, `project_id`, `event_channel`, a
recording's `size`) are left out rather than invented. docs/flow-language.md
("Status callbacks") shows each body.

A URL's `user:pass@` becomes an `Authorization: Basic` header, as for
`post_prompt_url`; the URL itself goes through the host's client, so the
destination policy applies to it like to every outbound request.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.document.coerce import split_credentials
from interpreter.expressions import MappingScope
from interpreter.jsontypes import JSONValue
from interpreter.runtime.outbox import Delivery
from interpreter.runtime.scope import render_text
from interpreter.runtime.state import LegState
from interpreter.runtime.tools.webhook import basic_auth

if TYPE_CHECKING:
    from interpreter.runtime.call import Call, Leg

KIND = "status"
PLAY = "calling.call.play"
RECORD = "calling.call.record"
COLLECT = "calling.call.collect"
CONNECT = "calling.call.connect"
CALL_STATE = "calling.call.state"

# A leg's state as RELAY's call_state names it; a bridge is no call state of its own.
_LEG_CALL_STATES: Mapping[LegState, str] = {
    LegState.DIALING: "created", LegState.RINGING: "ringing",
    LegState.ANSWERED: "answered", LegState.FAILED: "ended", LegState.ENDED: "ended"}
# prompt_result → the collect result's type.
_COLLECT_TYPES: Mapping[str, str] = {
    "match_digits": "digit", "match_speech": "speech", "no_input": "no_input",
    "no_match": "no_match"}
_PHONE = re.compile(r"^\+?[0-9]+$")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a verb's callbacks go: the URL without credentials, and the
    Authorization header they became."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)


def target(url: ir.SwmlText | str | None, scope: MappingScope) -> Target | None:
    """The verb's callback URL rendered for this call; None when it has none."""
    if url is None:
        return None
    rendered = render_text(url, scope).strip()
    if not rendered:
        return None
    hook = split_credentials(rendered)
    if hook.user or hook.password:
        return Target(hook.url, {"Authorization": basic_auth(hook.user, hook.password)})
    return Target(hook.url)


def control_id() -> str:
    """An id for one play, prompt or recording, as RELAY gives its operations."""
    return str(uuid.uuid4())


def send(call: Call, to: Target | None, event_type: str, params: dict[str, JSONValue],
         state: str) -> None:
    """POST one event through the outbox, now (nothing when there is no target)."""
    if to is None:
        return
    body: dict[str, JSONValue] = {"event_type": event_type, "timestamp": time.time(),
                                  "params": params}
    call.send_status(Delivery(call.call_id, KIND, str(uuid.uuid4()), to.url, body,
                              dict(to.headers)), f"{event_type}:{state}")


def party_id(call: Call, source: str) -> str:
    """The call id of the party a verb ran on: the call's, or a dialled leg's
    (a leg id is unique only within its call, so it is qualified)."""
    return call.call_id if source == "caller" else f"{call.call_id}:{source}"


# ---------------------------------------------------------------- the verbs


def play(call: Call, to: Target | None, source: str, control: str, state: str) -> None:
    """`playing`, then `finished` or `error` (something could not be played)."""
    send(call, to, PLAY, {"call_id": party_id(call, source), "control_id": control,
                          "state": state}, state)


def record(call: Call, to: Target | None, source: str, control: str, state: str, *,
           url: str | None = None, duration: float | None = None) -> None:
    """`recording`, then `finished` (with the URL) or `no_input`."""
    params: dict[str, JSONValue] = {"call_id": party_id(call, source), "control_id": control,
                                    "state": state}
    if url:
        params["url"] = url
    if duration is not None:
        params["duration"] = round(max(duration, 0.0), 3)
    send(call, to, RECORD, params, state)


def collect(call: Call, to: Target | None, source: str, control: str) -> None:
    """The prompt's result, read from the variables it has just set."""
    if to is None:
        return
    found = str(call.vars.get("prompt_result", ""))
    kind = _COLLECT_TYPES.get(found, "error")
    result: dict[str, JSONValue] = {"type": kind}
    value = str(call.vars.get("prompt_value", ""))
    if kind == "digit":
        result["params"] = {"digits": value,
                            "terminator": str(call.vars.get("prompt_digit_terminator", ""))}
    elif kind == "speech":
        confidence = call.vars.get("prompt_speech_confidence")
        speech: dict[str, JSONValue] = {"text": value}
        if isinstance(confidence, int | float) and not isinstance(confidence, bool):
            speech["confidence"] = round(float(confidence) * 100, 1)  # RELAY's 0-100
        result["params"] = speech
    send(call, to, COLLECT, {"call_id": party_id(call, source), "control_id": control,
                             "result": result, "final": True}, kind)


def device(destination: str, from_number: str | None) -> dict[str, JSONValue]:
    """A dialled destination as RELAY describes a device: `phone` with
    from_number/to_number, `sip` with from/to; any other address (a resource,
    a queue, a stream) without a type of its own."""
    if destination.startswith(("sip:", "sips:")):
        sip: dict[str, JSONValue] = {"to": destination}
        if from_number:
            sip["from"] = from_number
        return {"type": "sip", "params": sip}
    if _PHONE.match(destination):
        phone: dict[str, JSONValue] = {"to_number": destination}
        if from_number:
            phone["from_number"] = from_number
        return {"type": "phone", "params": phone}
    other: dict[str, JSONValue] = {"to": destination}
    if from_number:
        other["from"] = from_number
    return {"params": other}


def connect(call: Call, to: Target | None, state: str, *, leg: Leg | None = None,
            from_number: str | None = None, failed_reason: str = "") -> None:
    """`connecting`, then `connected` and `disconnected`, or `failed`."""
    params: dict[str, JSONValue] = {"call_id": call.call_id, "connect_state": state}
    if failed_reason:
        params["failed_reason"] = failed_reason
    if leg is not None:
        params["peer"] = {"call_id": party_id(call, leg.leg_id),
                          "device": device(leg.destination, from_number)}
    send(call, to, CONNECT, params, state)


@dataclass(frozen=True, slots=True)
class LegStates:
    """connect's `call_state_url` for one dialled leg: called by the call
    with each state the leg moves to, and once when it is dialled (created).
    Holds no reference to the call, so a call keeping it makes no cycle."""

    to: Target
    events: tuple[str, ...]
    from_number: str | None = None

    def __call__(self, call: Call, leg: Leg) -> None:
        state = _LEG_CALL_STATES.get(leg.state)
        if state is None or state not in self.events:
            return
        parent: dict[str, JSONValue] = {"call_id": call.call_id}
        if isinstance(call.call_info.get("type"), str):
            parent["device_type"] = call.call_info["type"]
        send(call, self.to, CALL_STATE, {
            "call_id": party_id(call, leg.leg_id), "call_state": state,
            "direction": "outbound", "device": device(leg.destination, self.from_number),
            "parent": parent}, state)


@dataclass(frozen=True, slots=True)
class BackgroundRecording:
    """record_call's callback for when the recording stops (stop_record_call,
    a terminator key, the call's end): called by the call with itself.

    The transport does not report a recording that ends by itself (its
    max_length or silence timeouts): it is reported when it is stopped, with
    its duration only when that is certain (max_length caps it; silence
    timeouts could have ended it earlier, so then it is left out)."""

    to: Target
    source: str
    control: str
    url: str
    started: float  # loop time, after the beep
    max_length: float | None
    may_end_on_silence: bool

    def __call__(self, call: Call) -> None:
        duration = None if self.may_end_on_silence else call.now() - self.started
        if duration is not None and self.max_length:
            duration = min(duration, self.max_length)
        record(call, self.to, self.source, self.control, "finished", url=self.url,
               duration=duration)
