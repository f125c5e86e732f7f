"""The call actor: one task, one inbox, all of a call's state.

Everything that happens to a call — the caller speaking or pressing digits,
a leg answering, an HTTP request finishing, a REST hangup — arrives as an
event in this call's inbox and is handled here, one at a time, in order. The
verb executor runs inside the same task and waits for the events it needs
through `wait_for`, so no other task ever writes call state.

Effects (requests, dials, timers) run as child tasks that only post events.
Each carries the epoch it was started in; when the call moves on (`new_epoch`),
results from older epochs are dropped and traced. When the call ends, effects
are cancelled, legs still up are hung up and drained, and ENDED is final.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from interpreter import ir
from interpreter.errors import CallFault, ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.runtime import events as ev
from interpreter.runtime.state import (
    CallState,
    IllegalTransition,
    LegState,
    advance,
    advance_leg,
    is_terminal,
)
from interpreter.runtime.trace import Trace
from interpreter.transports.protocols import CallerChannel, Telephony

if TYPE_CHECKING:
    from interpreter.runtime.executor import Executor

# How long the actor waits, after the call ended, for legs it hung up to report
# that they are gone before it gives up and traces them as abandoned.
DRAIN_SECONDS = 5.0


# Runs an `ai` verb for an executor (the agent loop plugs in here).
AiRunner = Callable[["Executor", ir.Ai], Awaitable[None]]


class CallEnded(Exception):
    """Unwinds the executor when the call ends (hangup, lost transport)."""

    def __init__(self, disposition: str) -> None:
        super().__init__(disposition)
        self.disposition = disposition


@dataclass(slots=True)
class Leg:
    leg_id: str
    destination: str
    state: LegState = LegState.DIALING


@dataclass(frozen=True, slots=True)
class CallResult:
    call_id: str
    disposition: str
    variables: dict[str, JSONValue]
    trace: Trace = field(repr=False)


def _ignore(event: ev.Event) -> None:
    pass


class EventSink:
    """Turns a transport's reports into events for one source (caller or leg)."""

    def __init__(self, call: Call, source: str) -> None:
        self._post: Callable[[ev.Event], None] = call.post
        self._source = source

    def detach(self) -> None:
        """The call is over: later reports are dropped, and the sink no longer
        keeps the call alive (no Call <-> sink reference cycle)."""
        self._post = _ignore

    def speech_started(self) -> None:
        self._post(ev.SpeechStarted(source=self._source))

    def transcript(self, text: str, final: bool = True, confidence: float = 1.0) -> None:
        self._post(ev.TranscriptReceived(text, final, confidence, source=self._source))

    def digit(self, digit: str) -> None:
        self._post(ev.DigitPressed(digit, source=self._source))

    def hung_up(self) -> None:
        if self._source == "caller":
            self._post(ev.CallerHungUp())
        else:
            self._post(ev.LegEnded(self._source))

    def closed(self, reason: str) -> None:
        if self._source == "caller":
            self._post(ev.TransportClosed(reason))

    def playout_finished(self, playout_id: int) -> None:
        self._post(ev.PlayoutFinished(playout_id, source=self._source))

    def playout_failed(self, playout_id: int, reason: str) -> None:
        self._post(ev.PlayoutFailed(playout_id, reason, source=self._source))

    def transcription_failed(self, reason: str) -> None:
        self._post(ev.TranscriptionFailed(reason, source=self._source))

    def leg_ringing(self, leg_id: str) -> None:
        self._post(ev.LegRinging(leg_id))

    def leg_answered(self, leg_id: str) -> None:
        self._post(ev.LegAnswered(leg_id))

    def leg_failed(self, leg_id: str, reason: str) -> None:
        self._post(ev.LegFailed(leg_id, reason))

    def leg_ended(self, leg_id: str) -> None:
        self._post(ev.LegEnded(leg_id))

    def leg_status(self, leg_id: str, status: str) -> None:
        self._post(ev.LegStatusReported(leg_id, status))


class Call:
    """One call: its state, its inbox, its effects and its trace."""

    def __init__(self, flow: ir.CompiledFlow, channel: CallerChannel, telephony: Telephony,
                 *, call_id: str | None = None, call_info: dict[str, JSONValue] | None = None,
                 envs: dict[str, JSONValue] | None = None,
                 trace_path: str | Path | None = None,
                 flow_loader: Callable[[str], Awaitable[ir.CompiledFlow]] | None = None,
                 ai_runner: AiRunner | None = None,
                 http: aiohttp.ClientSession | None = None) -> None:
        """`http`: a client session the host shares between its calls (and
        closes); without one the call opens its own and closes it at the end."""
        self.flow = flow
        self.channel = channel
        self.telephony = telephony
        self.call_id = call_id or str(uuid.uuid4())
        self.call_info: dict[str, JSONValue] = {"call_id": self.call_id, "direction": "inbound",
                                                "type": "phone", **(call_info or {})}
        self.envs: dict[str, JSONValue] = dict(envs or {})
        self.vars: dict[str, JSONValue] = {}
        self.state = CallState.NEW
        self.epoch = 1
        self.legs: dict[str, Leg] = {}
        self.pending_digits: list[str] = []
        self.ended_playouts: set[int] = set()
        self.flow_loader = flow_loader
        # What an ai session hands to the next one (global_data, meta_data and a
        # summary), so a transfer to another agent keeps the conversation's context.
        self.carried: dict[str, JSONValue] | None = None
        self.ai_runner = ai_runner
        self._loop = asyncio.get_running_loop()
        self.trace = Trace(self.call_id, self._loop.time, trace_path)
        self._inbox: asyncio.Queue[ev.Event] = asyncio.Queue()
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._effects: dict[int, tuple[str, asyncio.Task[None]]] = {}
        self._sinks: list[EventSink] = []
        self.sink = self.new_sink("caller")
        self._shared_http = http
        self._http: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------ running

    async def run(self) -> CallResult:
        """Execute the flow from `main` until the call ends; never raises."""
        from interpreter.runtime.executor import Executor

        self.channel.attach(self.sink)
        self.trace.record("call_started", call=self.call_info, flow=self.flow.content_hash)
        disposition = "error"
        try:
            self.set_state(CallState.RINGING)
            disposition = await Executor(self, self.channel).run_section(self.flow.main, {})
        except CallEnded as ended:
            disposition = ended.disposition
        except CallFault as fault:
            self.trace.record("error", type=fault.error_type.value, fatal=True,
                              message=fault.detail, next="hangup")
            disposition = f"error:{fault.error_type.value}"
        except Exception as bug:  # a bug must not leave the call untracked
            self.trace.record("error", type=ErrorType.STATE_ERROR.value, fatal=True,
                              message=f"internal error: {type(bug).__name__}: {bug}",
                              next="hangup")
            disposition = f"error:{ErrorType.STATE_ERROR.value}"
        finally:
            await self.finish(disposition)
        return CallResult(self.call_id, disposition, dict(self.vars), self.trace)

    def now(self) -> float:
        return self._loop.time()

    # ------------------------------------------------------------ the inbox

    def post(self, event: ev.Event) -> None:
        """Enqueue an event, stamped with its inbox position and time."""
        cls = type(event)
        names = _FIELD_NAMES.get(cls)
        if names is None:
            names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(event))
        values = {name: getattr(event, name) for name in names}
        values["seq"], values["at"] = next(self._seq), self._loop.time()
        self._inbox.put_nowait(cls(**values))

    def next_id(self) -> int:
        return next(self._ids)

    async def wait_for(self, accept: Callable[[ev.Event], bool],
                       timeout: float | None = None) -> ev.Event | None:
        """Handle events in order until one is accepted, or `timeout` passes (None)."""
        deadline = None if timeout is None else self._loop.time() + max(timeout, 0.0)
        while True:
            if deadline is None:
                event = await self._inbox.get()
            else:
                remaining = deadline - self._loop.time()
                if remaining <= 0 and self._inbox.empty():
                    return None
                try:
                    event = await asyncio.wait_for(self._inbox.get(), max(remaining, 0))
                except TimeoutError:
                    return None
            if self._handle(event, accept):
                return event

    def _handle(self, event: ev.Event, accept: Callable[[ev.Event], bool]) -> bool:
        if event.epoch and event.epoch != self.epoch:
            self.trace.record("event_dropped", event=event.type_name, seq=event.seq,
                              epoch=event.epoch, current_epoch=self.epoch)
            return False
        self.trace.record("event", event=event.type_name, seq=event.seq,
                          **_event_fields(event))
        match event:
            case ev.CallerHungUp():
                raise CallEnded("caller_hangup")
            case ev.TransportClosed(reason=reason):
                self.trace.record("error", type=ErrorType.MEDIA_ERROR.value, fatal=True,
                                  message=f"transport closed: {reason or 'no reason'}")
                raise CallEnded("transport_lost")
            case ev.HangupRequested():
                raise CallEnded("hangup_requested")
            case ev.VariablesSet(values=values):
                self.vars.update(values)
            case ev.LegRinging(leg_id=leg_id):
                self.move_leg(leg_id, LegState.RINGING)
            case ev.LegAnswered(leg_id=leg_id):
                self.move_leg(leg_id, LegState.ANSWERED)
            case ev.LegFailed(leg_id=leg_id):
                self.move_leg(leg_id, LegState.FAILED)
            case ev.LegEnded(leg_id=leg_id):
                self.move_leg(leg_id, LegState.ENDED)
            case ev.PlayoutFinished(playout_id=playout) | ev.PlayoutFailed(playout_id=playout):
                # Kept so a waiter that comes later (a background file waited
                # on after its end was reported) does not wait forever.
                self.ended_playouts.add(playout)
        if accept(event):
            return True
        if isinstance(event, ev.DigitPressed) and event.source == "caller":
            # Digits typed ahead (while a play runs) are kept for the next prompt.
            self.pending_digits.append(event.digit)
        return False

    # ------------------------------------------------------------ state

    def set_state(self, target: CallState) -> None:
        try:
            new = advance(self.state, target)
        except IllegalTransition as error:
            self.trace.record("illegal_transition", message=str(error))
            raise CallFault(ErrorType.STATE_ERROR, str(error)) from None
        if new is not self.state:
            self.trace.record("state", old=self.state.value, new=new.value)
            self.state = new

    def move_leg(self, leg_id: str, target: LegState) -> None:
        leg = self.legs.get(leg_id)
        if leg is None:
            self.trace.record("unknown_leg", leg=leg_id, state=target.value)
            return
        try:
            new = advance_leg(leg.state, target)
        except IllegalTransition as error:
            self.trace.record("illegal_transition", leg=leg_id, message=str(error))
            return
        if new is not leg.state:
            self.trace.record("leg_state", leg=leg_id, old=leg.state.value, new=new.value)
            leg.state = new

    def new_epoch(self, why: str) -> int:
        """Invalidate every effect started so far; their results will be dropped."""
        self.epoch += 1
        self.trace.record("epoch", epoch=self.epoch, why=why)
        return self.epoch

    # ------------------------------------------------------------ effects

    def start_effect(self, kind: str, work: Callable[[int], Coroutine[Any, Any, None]],
                     **details: Any) -> int:
        """Run `work(effect_id)` as a child task; it reports only by posting events."""
        effect_id = self.next_id()
        epoch = self.epoch

        async def guarded() -> None:
            try:
                await work(effect_id)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # an effect never raises into the actor
                self.post(ev.RequestFailed(effect_id, f"{type(error).__name__}: {error}",
                                           epoch=epoch))

        task = self._loop.create_task(guarded(), name=f"{self.call_id}:{kind}:{effect_id}")
        self._effects[effect_id] = (kind, task)
        task.add_done_callback(lambda _: self._effects.pop(effect_id, None))
        self.trace.record("effect_started", effect=kind, id=effect_id, epoch=epoch, **details)
        return effect_id

    def cancel_effect(self, effect_id: int) -> None:
        entry = self._effects.pop(effect_id, None)
        if entry is not None:
            entry[1].cancel()
            self.trace.record("effect_cancelled", effect=entry[0], id=effect_id)

    def new_sink(self, source: str) -> EventSink:
        """A sink for the caller's or a leg's reports, detached when the call ends."""
        sink = EventSink(self, source)
        self._sinks.append(sink)
        return sink

    def http(self) -> aiohttp.ClientSession:
        """The call's HTTP client, shared by its effects so connections are
        pooled; closed when the call ends."""
        if self._shared_http is not None and not self._shared_http.closed:
            return self._shared_http
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    @property
    def running_effects(self) -> int:
        return len(self._effects)

    # ------------------------------------------------------------ legs

    def dial(self, destination: str, timeout: float) -> Leg:
        leg = Leg(f"leg-{self.next_id()}", destination)
        self.legs[leg.leg_id] = leg
        self.trace.record("leg_dial", leg=leg.leg_id, destination=destination, timeout=timeout)
        self.telephony.dial(leg.leg_id, destination, timeout, self.new_sink(leg.leg_id))
        return leg

    def hangup_leg(self, leg: Leg, why: str) -> None:
        if is_terminal(leg.state):
            return
        self.trace.record("leg_hangup", leg=leg.leg_id, why=why)
        self.telephony.hangup(leg.leg_id)

    # ------------------------------------------------------------ ending

    async def finish(self, disposition: str) -> None:
        """End the call: terminal state, effects cancelled, legs hung up and drained."""
        if self.state is not CallState.ENDED:
            self.trace.record("state", old=self.state.value, new=CallState.ENDED.value)
            self.state = advance(self.state, CallState.ENDED)
        for effect_id in list(self._effects):
            self.cancel_effect(effect_id)
        for leg in self.legs.values():
            self.hangup_leg(leg, "call ended")
        await self._drain()
        if self._http is not None:
            await self._http.close()
        self.channel.hangup(disposition)
        # Reports after the end are dropped, and no sink keeps the call alive:
        # a finished call is freed by reference counting, not by a full GC.
        for sink in self._sinks:
            sink.detach()
        self.trace.record("call_ended", disposition=disposition, vars=self.vars)
        self.trace.close()

    async def _drain(self) -> None:
        """Handle what is still in the inbox, and what the hung-up legs report,
        without reviving anything: a leg that answers now is torn down."""
        deadline = self._loop.time() + DRAIN_SECONDS
        while True:
            live = [leg for leg in self.legs.values() if not is_terminal(leg.state)]
            if not live and self._inbox.empty():
                return
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                for leg in live:
                    self.trace.record("leg_abandoned", leg=leg.leg_id, state=leg.state.value)
                return
            try:
                event = await asyncio.wait_for(self._inbox.get(), remaining)
            except TimeoutError:
                continue
            self.trace.record("event_after_end", event=event.type_name, seq=event.seq,
                              **_event_fields(event))
            match event:
                case ev.LegAnswered(leg_id=leg_id) | ev.LegStatusReported(
                        leg_id=leg_id, status="answered"):
                    if leg_id in self.legs:
                        self.trace.record("leg_torn_down", leg=leg_id,
                                          why="answered after the call ended")
                        self.telephony.hangup(leg_id)
                case ev.LegEnded(leg_id=leg_id) | ev.LegFailed(leg_id=leg_id):
                    gone = self.legs.get(leg_id)
                    if gone is not None and not is_terminal(gone.state):
                        gone.state = LegState.ENDED
                        self.trace.record("leg_state", leg=leg_id, new=LegState.ENDED.value)


# Each event type's field names, and those a trace record shows (not seq/at/epoch).
_FIELD_NAMES: dict[type[ev.Event], tuple[str, ...]] = {}
_SHOWN_FIELDS: dict[type[ev.Event], tuple[str, ...]] = {}


def _event_fields(event: ev.Event) -> dict[str, Any]:
    cls = type(event)
    names = _SHOWN_FIELDS.get(cls)
    if names is None:
        names = _SHOWN_FIELDS[cls] = tuple(f.name for f in dataclasses.fields(event)
                                           if f.name not in ("seq", "at", "epoch"))
    fields = {name: getattr(event, name) for name in names}
    if event.epoch:
        fields["epoch"] = event.epoch
    return fields
