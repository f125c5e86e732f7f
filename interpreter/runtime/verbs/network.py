"""Verbs that reach other parties: connect (legs), request (HTTP), send_sms, ai."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interpreter import ir, limits
from interpreter.errors import CallFault, ErrorType
from interpreter.http import HttpError, HttpRequest
from interpreter.runtime import events as ev
from interpreter.runtime import status_callbacks as status
from interpreter.runtime.call import EFFECT_GRACE, CallEnded, Leg
from interpreter.runtime.scope import render, render_text, utterances
from interpreter.runtime.state import CallState, LegState
from interpreter.runtime.tools.limits import outside_json
from interpreter.runtime.verbs import media

if TYPE_CHECKING:
    from interpreter.runtime.executor import Executor

# How long to wait for a status answer when a leg's outcome went missing.
STATUS_QUERY_SECONDS = 5.0
# `request` with timeout 0 means "platform default"; ours is bounded.
DEFAULT_REQUEST_TIMEOUT = 30.0
MAX_RESPONSE_BYTES = limits.REQUEST_VERB_MAX_BYTES
MAX_SAVED_HEADERS = 64
# What a caller hears while a connect rings, when the flow gives no ringback file.
DEFAULT_RINGBACK = "builtin:ringback"


async def run(executor: Executor, verb: ir.Verb) -> None:
    match verb:
        case ir.Connect():
            await connect(executor, verb)
        case ir.Request():
            await request(executor, verb)
        case ir.SendSms():
            # No SMS provider is wired into this runtime yet: report it honestly.
            executor.call.vars["send_sms_result"] = "failed"
            executor.call.trace.record("sms_not_sent", to=render_text(verb.to_number,
                                                                     executor.scope),
                                       why="no SMS provider is configured")


async def ai(executor: Executor, verb: ir.Ai) -> None:
    runner = executor.call.ai_runner
    if runner is None:
        executor.call.vars.update(ai_result="failed", return_value="failed")
        raise CallFault(ErrorType.STATE_ERROR, "this runtime has no ai agent loop configured")
    # An agent talks: like play, the ai verb answers a call not yet answered.
    media.answer(executor)
    await runner(executor, verb)


# ---------------------------------------------------------------- connect


async def connect(executor: Executor, verb: ir.Connect) -> None:
    """Dial each group in turn (the legs of a group ring in parallel); bridge
    the first that answers and confirms; wait while bridged."""
    call = executor.call
    reason = "no destinations"
    waiting = _play_while_waiting(executor, verb)
    reports = _Reports.of(executor, verb)
    if verb.groups:
        status.connect(call, reports.to, "connecting")
    try:
        for group in verb.groups:
            destinations = [render_text(d, executor.scope) for d in group]
            leg, reason = await _ring_group(executor, verb, destinations, reports.legs)
            if leg is None:
                continue
            if verb.confirm is not None and not await _confirmed(executor, verb, leg):
                call.hangup_leg(leg, "not confirmed")
                reason = "not_confirmed"
                continue
            _stop_waiting(executor, waiting)
            waiting = None
            status.connect(call, reports.to, "connected", leg=leg,
                           from_number=reports.caller_id)
            try:
                await _bridge(executor, leg, verb.max_duration)
            finally:
                status.connect(call, reports.to, "disconnected", leg=leg,
                               from_number=reports.caller_id)
            call.vars.update(connect_result="connected", connect_failed_reason="")
            break
        else:
            _stop_waiting(executor, waiting)
            call.vars.update(connect_result="failed", connect_failed_reason=reason)
            call.trace.record("connect_failed", reason=reason)
            status.connect(call, reports.to, "failed", failed_reason=reason)
    except CallEnded as ended:
        if call.state is not CallState.BRIDGED:  # still dialling: the connect failed
            status.connect(call, reports.to, "failed", failed_reason=ended.disposition)
        raise
    if isinstance(verb.result, ir.Switch):
        executor.choose_switch(verb.result, required=False)
    elif isinstance(verb.result, ir.Cond):
        executor.choose_cond(verb.result)


@dataclass(frozen=True, slots=True)
class _Reports:
    """Where a connect's status callbacks go, rendered when it starts."""

    to: status.Target | None  # status_url
    legs: status.LegStates | None
    caller_id: str | None

    @classmethod
    def of(cls, executor: Executor, verb: ir.Connect) -> _Reports:
        caller_id = render_text(verb.from_number, executor.scope) or None
        hook = verb.call_state
        to = status.target(hook.url, executor.scope) if hook is not None else None
        return cls(status.target(verb.status_url, executor.scope),
                   status.LegStates(to, hook.events, caller_id)
                   if to is not None and hook is not None else None, caller_id)


def _play_while_waiting(executor: Executor, verb: ir.Connect) -> int | None:
    """The caller hears the ringback (its first file), or the media runtime's
    own ringing, while legs ring and a confirm section runs on the called
    party: never silence."""
    if executor.source != "caller" or not verb.groups:
        return None
    files = [u.value for u in utterances(verb.ringback, executor.scope) if u.kind == "url"]
    audio = files[0] if files else DEFAULT_RINGBACK
    playout = executor.call.next_id()
    executor.channel.play_background(playout, audio, 0)
    executor.call.trace.record("background_started", playout=playout, url=audio, loops=0,
                               why="connect")
    return playout


def _stop_waiting(executor: Executor, playout: int | None) -> None:
    if playout is not None:
        executor.channel.stop_background()
        executor.call.trace.record("background_stopped", playout=playout)


async def _ring_group(executor: Executor, verb: ir.Connect, destinations: list[str],
                      watcher: status.LegStates | None) -> tuple[Leg | None, str]:
    call = executor.call
    if call.state is CallState.ANSWERED or call.state is CallState.IN_AI:
        call.set_state(CallState.TRANSFERRING)
    legs = {leg.leg_id: leg for leg in (call.dial(d, verb.timeout) for d in destinations)}
    if watcher is not None:
        for leg in legs.values():
            call.leg_watchers[leg.leg_id] = watcher
            watcher(call, leg)  # created
    reasons: list[str] = []

    def about_ours(event: ev.Event) -> bool:
        return getattr(event, "leg_id", None) in legs and not isinstance(event, ev.LegRinging)

    # The transport reports no_answer at the dial timeout; the grace covers
    # its lateness before we assume the outcome was lost and go and ask.
    deadline = call.now() + verb.timeout + 1.0
    winner: Leg | None = None
    while winner is None and any(not _done(leg) for leg in legs.values()):
        event = await call.wait_for(about_ours, deadline - call.now())
        if event is None:
            winner = await _reconcile(executor, [leg for leg in legs.values() if not _done(leg)])
            if winner is None:
                reasons.append("no_answer")
            break
        if isinstance(event, ev.LegAnswered):
            winner = legs[event.leg_id]
        elif isinstance(event, ev.LegFailed):
            reasons.append(event.reason)
    for leg in legs.values():
        if leg is not winner:
            call.hangup_leg(leg, "another leg answered" if winner else "giving up")
    if winner is None and call.state is CallState.TRANSFERRING:
        call.set_state(CallState.ANSWERED)
    return winner, (reasons[-1] if reasons else "no_answer")


def _done(leg: Leg) -> bool:
    return leg.state in (LegState.FAILED, LegState.ENDED)


async def _reconcile(executor: Executor, legs: list[Leg]) -> Leg | None:
    """A leg whose outcome never arrived: ask for its status, so the call
    never stays ringing forever (the answered event may have been lost)."""
    call = executor.call
    for leg in legs:
        call.trace.record("leg_status_query", leg=leg.leg_id, state=leg.state.value)
        call.telephony.query(leg.leg_id)
        event = await call.wait_for(
            lambda e, leg_id=leg.leg_id: isinstance(e, ev.LegStatusReported)  # type: ignore[misc]
            and e.leg_id == leg_id, STATUS_QUERY_SECONDS)
        status = event.status if isinstance(event, ev.LegStatusReported) else "unknown"
        call.trace.record("leg_reconciled", leg=leg.leg_id, status=status)
        if status == "answered":
            call.move_leg(leg.leg_id, LegState.ANSWERED)
            return leg
        call.move_leg(leg.leg_id, LegState.FAILED)
    return None


async def _confirmed(executor: Executor, verb: ir.Connect, leg: Leg) -> bool:
    """Run the confirm section on the called party before bridging; it
    declines by hanging up."""
    from interpreter.runtime.executor import Executor as _Executor
    from interpreter.runtime.executor import LegDeclined, ScriptEnded

    call = executor.call
    channel = call.telephony.channel(leg.leg_id)
    channel.attach(call.new_sink(leg.leg_id))
    confirm = verb.confirm
    block = confirm.section.body if isinstance(confirm, ir.Destination) and confirm.section \
        else confirm if isinstance(confirm, tuple) else ()
    on_leg = _Executor(call, channel, source=leg.leg_id)
    call.trace.record("confirm_started", leg=leg.leg_id)
    try:
        await on_leg.run_block(block)
    except LegDeclined:
        call.trace.record("confirm_declined", leg=leg.leg_id)
        return False
    except ScriptEnded as ended:
        # `return` ends the confirm section, not the call: it accepts. A fatal
        # failure while confirming declines this leg; the caller's call goes on.
        if ended.disposition.startswith("error"):
            call.trace.record("confirm_declined", leg=leg.leg_id, why=ended.disposition)
            return False
    call.trace.record("confirm_accepted", leg=leg.leg_id)
    return True


async def _bridge(executor: Executor, leg: Leg, max_duration: float) -> None:
    """Bridged until either side hangs up, or for connect's max_duration."""
    call = executor.call
    call.telephony.bridge(leg.leg_id)
    call.move_leg(leg.leg_id, LegState.BRIDGED)
    call.set_state(CallState.BRIDGED)
    try:
        ended = await call.wait_for(lambda e: isinstance(e, ev.LegEnded | ev.LegFailed)
                                    and e.leg_id == leg.leg_id, max_duration)
    except CallEnded as gone:
        # A provider that carried the bridge itself (a media stream's call
        # control) takes the caller away: our side of the call ends, which is
        # the transfer succeeding, not the caller hanging up.
        if gone.disposition == "caller_hangup" and \
                getattr(call.telephony, "transferred_to", None) is not None:
            raise CallEnded("transferred") from None
        raise
    if ended is None:
        call.hangup_leg(leg, f"max_duration ({max_duration:g} s) reached")
    call.trace.record("bridge_ended", leg=leg.leg_id,
                      why="leg ended" if ended is not None else "max_duration")
    call.set_state(CallState.ANSWERED)


# ---------------------------------------------------------------- request


async def request(executor: Executor, verb: ir.Request) -> None:
    """An HTTP request as an effect; its result lands in variables (the SWML `request` method)."""
    call = executor.call
    url = render_text(verb.url, executor.scope)
    headers = {name: render_text(value, executor.scope) for name, value in verb.headers}
    body = render(verb.body, executor.scope)
    timeout = verb.timeout or DEFAULT_REQUEST_TIMEOUT

    if body is not None and not isinstance(body, str):
        data: bytes | None = json.dumps(body, ensure_ascii=False).encode()
        headers.setdefault("Content-Type", "application/json")
    else:
        data = body.encode() if body is not None else None
    outgoing = HttpRequest(verb.method, url, headers, data, timeout=timeout,
                           connect_timeout=verb.connect_timeout or None,
                           max_bytes=MAX_RESPONSE_BYTES, truncate=True, follow_redirects=True)

    async def work(effect_id: int) -> None:
        epoch = call.epoch
        try:
            response = await call.http().send(outgoing)
        except HttpError as error:
            call.post(ev.EffectFailed(effect_id, ErrorType.STATE_ERROR, f"{error.kind}: {error}",
                                      epoch=epoch))
            return
        saved = {k.lower(): v for k, v in list(response.headers.items())[:MAX_SAVED_HEADERS]}
        call.post(ev.RequestCompleted(effect_id, response.status, saved, response.text(),
                                      epoch=epoch))

    effect = call.start_effect("request", work, method=verb.method, url=url)
    # The client's own timeout ends the exchange; the grace covers a client
    # that does not honour it, so this wait always ends.
    event = await call.wait_for(lambda e: isinstance(e, ev.RequestCompleted | ev.EffectFailed)
                                and e.effect_id == effect, timeout + EFFECT_GRACE)
    call.vars["request_url"] = url
    if isinstance(event, ev.RequestCompleted):
        ok = 200 <= event.status < 300
        call.vars.update(request_result="success" if ok else "failed",
                         return_value="success" if ok else "failed",
                         request_response_code=event.status,
                         request_response_headers=dict(event.headers),
                         request_response_body=event.body)
        if verb.save_variables:
            try:
                parsed = outside_json(event.body)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                call.vars["request_response"] = parsed
        call.trace.record("request_finished", status=event.status, bytes=len(event.body))
    else:
        if event is None:
            call.cancel_effect(effect)
        error = event.error if isinstance(event, ev.EffectFailed) else \
            f"no reply within {timeout + EFFECT_GRACE:g} seconds"
        call.vars.update(request_result="failed", return_value="failed",
                         request_response_code=0, request_response_body="")
        call.trace.record("request_failed", error=error)
