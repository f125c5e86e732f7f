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
import contextlib
import dataclasses
import itertools
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interpreter import ir, limits
from interpreter.errors import CallFault, ErrorType
from interpreter.http import AiohttpClient, HttpClient
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import CallerChannel, Heard, PlayoutFailure, Telephony, Utterance
from interpreter.runtime import events as ev
from interpreter.runtime import faults
from interpreter.runtime.outbox import Delivery, Outbox
from interpreter.runtime.state import (
    CallState,
    IllegalTransition,
    LegState,
    advance,
    advance_leg,
    is_terminal,
)
from interpreter.runtime.tools.base import ToolReply
from interpreter.runtime.trace import Trace, TraceSink

if TYPE_CHECKING:
    from interpreter.runtime.executor import Executor

# How long the actor waits, after the call ended, for legs it hung up to report
# that they are gone before it gives up and traces them as abandoned.
DRAIN_SECONDS = 5.0
# Beyond an effect's own timeout, how long its wait lasts before the effect is
# treated as lost (a client that does not honour its timeout).
EFFECT_GRACE = 5.0
# The longest a transport may take to report that a playout ended, beyond
# how long it should last: past it the playout is treated as failed.
PLAYOUT_GRACE = 30.0


# Runs an `ai` verb for an executor (the agent loop plugs in here).
AiRunner = Callable[["Executor", ir.Ai], Awaitable[None]]


class CallEnded(Exception):
    """Unwinds the executor when the call ends (hangup, lost transport);
    `farewell` is spoken to the caller first."""

    def __init__(self, disposition: str, farewell: str = "") -> None:
        super().__init__(disposition)
        self.disposition = disposition
        self.farewell = farewell


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

    def playout_stopped(self, playout_id: int, heard: Heard, cause: str) -> None:
        self._post(ev.PlayoutStopped(playout_id, source=self._source, heard=heard.text,
                                     cause=cause))

    def playout_paused(self, paused: bool, why: str) -> None:
        self._post(ev.PlayoutPaused(paused, why, source=self._source))

    def speech_noted(self, note: str) -> None:
        self._post(ev.SpeechNoted(note, source=self._source))

    def playout_failed(self, playout_id: int, failure: PlayoutFailure) -> None:
        self._post(ev.PlayoutFailed(playout_id, failure.kind, failure.item, failure.reason,
                                    source=self._source))

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
                 trace_path: str | Path | None = None, trace_retain: int | None = None,
                 trace_sink: TraceSink | None = None,
                 flow_loader: Callable[[str], Awaitable[ir.CompiledFlow]] | None = None,
                 ai_runner: AiRunner | None = None,
                 http: HttpClient | None = None,
                 outbox: Outbox | None = None) -> None:
        """`http`: the client the host shares between its calls (and closes);
        without one the call opens its own and closes it at the end.
        `outbox`: where post-call work goes when the call ends; without one
        it stays in `outgoing` for whoever runs the call. `trace_retain`: how
        many trace records stay in memory (None: all; the file gets them all)."""
        self.flow = flow
        self.channel = channel
        # Background recordings (record_call) that end on a key: control id → keys.
        self.recording_terminators: dict[str, str] = {}
        # Status callbacks (runtime/status_callbacks.py), called with the call:
        # a background recording's when it stops, by control id; a dialled
        # leg's state changes (connect's call_state_url), by leg id.
        self.recording_stopped: dict[str, Callable[[Call], None]] = {}
        self.leg_watchers: dict[str, Callable[[Call, Leg], None]] = {}
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
        self.trace = Trace(self.call_id, self._loop.time, trace_path, sink=trace_sink,
                           retain=trace_retain)
        # Consecutive failures per error type (runtime/faults.py).
        self.failures: dict[ErrorType, int] = {}
        # Speech that failed to transcribe while nothing listened for it (the
        # agent was speaking): kept for the next wait that does.
        self.held: deque[ev.Event] = deque(maxlen=HELD_EVENTS)
        # Operator commands (say, transfer, unhold) that arrived while the call
        # was busy: run in order at its next safe point (runtime/commands.py).
        self.commands: deque[ev.Command] = deque()
        # When the ai verb's hold ends (loop time), while the caller is on hold:
        # written by the actor only, read by the REST unhold (409 when None).
        # The session's sub-state, not a CallState: the call is still in_ai.
        self.hold_until: float | None = None
        self._inbox: deque[ev.Event] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._effects: dict[int, tuple[str, asyncio.Task[None]]] = {}
        self._sinks: list[EventSink] = []
        self.sink = self.new_sink("caller")
        self._shared_http = http
        self.outbox = outbox
        # Trace every streamed word as its own `event` record (off by default).
        self.trace_words = False
        self.outgoing: list[Delivery] = []
        self._http: AiohttpClient | None = None

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
            if ended.farewell:
                await self._say_farewell(ended.farewell)
        except CallFault as fault:
            faults.record(self, fault.error_type, fault.detail, fatal=True, next="hangup")
            disposition = f"error:{fault.error_type.value}"
        except Exception as bug:  # a bug must not leave the call untracked
            faults.record(self, ErrorType.STATE_ERROR,
                          f"internal error: {type(bug).__name__}: {bug}", fatal=True,
                          next="hangup")
            disposition = f"error:{ErrorType.STATE_ERROR.value}"
        finally:
            await self.finish(disposition)
        return CallResult(self.call_id, disposition, dict(self.vars), self.trace)

    def now(self) -> float:
        return self._loop.time()

    async def _say_farewell(self, text: str) -> None:
        """Speak `text` over whatever was playing, and wait until it is heard
        (or the caller hangs up, or it takes too long)."""
        items = [Utterance("say", text, interruptible=False)]
        self.channel.stop_playout()
        playout = self.next_id()
        self.channel.play(playout, items)
        self.trace.record("farewell", playout=playout, text=text)
        with contextlib.suppress(CallEnded):
            await self.wait_for(lambda e: isinstance(e, ev.PlayoutFinished | ev.PlayoutFailed)
                                and e.playout_id == playout, playout_deadline(items))

    # ------------------------------------------------------------ the inbox

    def post(self, event: ev.Event) -> None:
        """Enqueue an event, stamped with its inbox position and time.

        Stamped in place before anyone else sees it: rebuilding every event
        to stamp it cost more than handling it. An event posted a second time
        is copied first, so a stamp never changes once seen."""
        if event.seq:
            event = dataclasses.replace(event)
        object.__setattr__(event, "seq", next(self._seq))
        object.__setattr__(event, "at", self._loop.time())
        self._inbox.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def next_id(self) -> int:
        return next(self._ids)

    async def wait_for(self, accept: Callable[[ev.Event], bool],
                       timeout: float | None = None) -> ev.Event | None:
        """Handle events in order until one is accepted, or `timeout` passes (None).

        Events held for later (speech that failed while nobody listened) are
        offered first. One future and one timer per wait, no task."""
        for held in self.held:
            if accept(held):
                self.held.remove(held)
                return held
        if timeout is not None and not 0.0 <= timeout <= LONGEST_WAIT:
            # A duration from a variable, rendered at run time, can be anything.
            timeout = LONGEST_WAIT if timeout > 0 or timeout != timeout else 0.0
        deadline = None if timeout is None else self._loop.time() + timeout
        while True:
            event = await self._next(deadline)
            if event is None:
                return None
            if self._handle(event, accept):
                return event

    async def _next(self, deadline: float | None) -> ev.Event | None:
        while not self._inbox:
            if deadline is not None and self._loop.time() >= deadline:
                return None
            waiter = self._waiter = self._loop.create_future()
            timer = None if deadline is None else self._loop.call_at(deadline, _wake, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        return self._inbox.popleft()

    def _handle(self, event: ev.Event, accept: Callable[[ev.Event], bool]) -> bool:
        if event.epoch and event.epoch != self.epoch:
            self.trace.record("event_dropped", event=event.type_name, seq=event.seq,
                              epoch=event.epoch, current_epoch=self.epoch)
            return False
        if self.trace_words or type(event) is not ev.LlmDelta:
            # Streamed words are one event each: most of a trace, and the turn
            # and barge_in records hold the text; kept only when asked for.
            self.trace.record("event", event=event.type_name, seq=event.seq,
                              **_event_fields(event))
        if isinstance(event, ev.Command):
            # What an operator asked, and who: the trace says why the call did it.
            self.trace.record("command_received", command=event.command, seq=event.seq,
                              **_event_fields(event))
        match event:
            case ev.CallerHungUp():
                raise CallEnded("caller_hangup")
            case ev.TransportClosed(reason=reason):
                faults.record(self, ErrorType.MEDIA_ERROR,
                              f"transport closed: {reason or 'no reason'}", fatal=True,
                              next="the call ends")
                raise CallEnded("transport_lost")
            case ev.HangupRequested(farewell=farewell):
                raise CallEnded("hangup_requested", farewell)
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
            case ev.DigitPressed(digit=digit, source="caller") if self.recording_terminators:
                self._end_recordings(digit)
            case ev.PlayoutFinished(playout_id=playout) | ev.PlayoutFailed(playout_id=playout):
                # Kept so a waiter that comes later (a background file waited
                # on after its end was reported) does not wait forever.
                self.ended_playouts.add(playout)
        if accept(event):
            return True
        self._not_taken(event)
        return False

    def _end_recordings(self, digit: str) -> None:
        """record_call's terminators: a background recording ends on its key,
        whatever the call is doing (the key still reaches what waits for it)."""
        for control, terminators in list(self.recording_terminators.items()):
            if digit in terminators:
                del self.recording_terminators[control]
                self.channel.stop_recording(control)
                self.trace.record("record_stopped", control_id=control,
                                  why=f"terminator {digit}")
                self.report_recording_stopped(control)

    def _hold(self, event: ev.Event, why: str) -> None:
        if len(self.held) == self.held.maxlen:
            self.trace.record("event_ignored", event=self.held[0].type_name,
                              seq=self.held[0].seq, why="too many events held")
        self.held.append(event)
        self.trace.record("event_kept", event=event.type_name, seq=event.seq, why=why)

    def drop_held(self, kind: type[ev.Event], why: str) -> None:
        """Held events of `kind` nobody will take now."""
        for event in [e for e in self.held if isinstance(e, kind)]:
            self.held.remove(event)
            self.trace.record("event_ignored", event=event.type_name, seq=event.seq, why=why)

    def _not_taken(self, event: ev.Event) -> None:
        """An event the wait did not take is kept for later or traced as ignored."""
        match event:
            case ev.DigitPressed(source="caller"):
                # Digits typed ahead (while a play or an ai session runs) are
                # kept for the next prompt.
                self.pending_digits.append(event.digit)
                self.trace.record("event_kept", event=event.type_name, seq=event.seq,
                                  why="digits are kept for the next prompt")
            case ev.TranscriptionFailed(source="caller"):
                self._hold(event, "held until the caller is listened to")
            case ev.SayRequested() | ev.TransferRequested() | ev.UnholdRequested():
                # The agent is mid-reply or a verb is under way: the command
                # waits for the next safe point rather than cut into either.
                self.commands.append(event)
                self.trace.record("event_kept", event=event.type_name, seq=event.seq,
                                  why="a command waits for the call's next safe point")
            case ev.TranscriptReceived(source="caller", final=True) \
                    if self.state is CallState.IN_AI:
                # Words said while the agent waited something out (a recovery
                # phrase): answered when it next listens, not lost.
                self._hold(event, "the agent answers them when it next listens")
            case ev.EventInjected() | ev.VariablesSet() | ev.LegRinging() | ev.LegAnswered() \
                    | ev.LegFailed() | ev.LegEnded() | ev.PlayoutFinished() | ev.PlayoutFailed() \
                    | ev.PlayoutPaused() | ev.SpeechNoted() | ev.TranscriptReceived(final=False):
                # Applied to the call's state above, or only traced (a partial
                # transcript matters only to a wait that takes it).
                pass
            case _:
                self.trace.record("event_ignored", event=event.type_name, seq=event.seq,
                                  why="nothing in the call was waiting for it")

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
            self._leg_moved(leg)

    def _leg_moved(self, leg: Leg) -> None:
        watcher = self.leg_watchers.get(leg.leg_id)
        if watcher is not None:
            watcher(self, leg)
            if is_terminal(leg.state):
                del self.leg_watchers[leg.leg_id]

    def new_epoch(self, why: str) -> int:
        """Invalidate every effect started so far; their results will be dropped."""
        self.epoch += 1
        self.trace.record("epoch", epoch=self.epoch, why=why)
        return self.epoch

    # ------------------------------------------------------------ effects

    def start_effect(self, kind: str, work: Callable[[int], Coroutine[Any, Any, None]],
                     fault: ErrorType = ErrorType.STATE_ERROR, **details: Any) -> int:
        """Run `work(effect_id)` as a child task; it reports only by posting events.

        Whatever it raises — foreseen or not — reaches the actor as
        `EffectFailed`, classified as the CallFault's type or else `fault`,
        so the wait for it always ends."""
        effect_id = self.next_id()
        epoch = self.epoch

        async def guarded() -> None:
            try:
                await work(effect_id)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # an effect never raises into the actor
                error_type = error.error_type if isinstance(error, CallFault) else fault
                message = error.detail if isinstance(error, CallFault) else \
                    f"{kind} failed: {type(error).__name__}: {error}"
                self.post(ev.EffectFailed(effect_id, error_type, message, epoch=epoch))

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

    def send_status(self, delivery: Delivery, event: str) -> None:
        """Hand a status callback to the outbox now: unlike post-call work it
        is real time, so it does not wait for the call's end."""
        if self.outbox is None:
            self.trace.record("status_callback_skipped", url=delivery.url, event=event,
                              key=delivery.key, why="this call has no outbox")
            return
        self.outbox.submit(delivery)
        self.trace.record("status_callback", url=delivery.url, event=event, key=delivery.key)

    def report_recording_stopped(self, control: str) -> None:
        """A background recording stopped: its status callback, if it has one."""
        stopped = self.recording_stopped.pop(control, None)
        if stopped is not None:
            stopped(self)

    def post_call(self, delivery: Delivery) -> None:
        """Queue post-call work (a summary); it leaves when the call ends."""
        self.outgoing.append(delivery)
        self.trace.record("post_call_queued", delivery=delivery.kind, key=delivery.key,
                          url=delivery.url)

    def new_sink(self, source: str) -> EventSink:
        """A sink for the caller's or a leg's reports, detached when the call ends."""
        sink = EventSink(self, source)
        self._sinks.append(sink)
        return sink

    def http(self) -> HttpClient:
        """The client the call's effects send requests with."""
        if self._shared_http is not None:
            return self._shared_http
        if self._http is None:
            self._http = AiohttpClient()
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
        for control in list(self.recording_stopped):
            self.report_recording_stopped(control)  # a recording ends with its call
        while self.commands:
            command = self.commands.popleft()
            self.trace.record("command_dropped", command=command.command, seq=command.seq,
                              why="the call ended before a safe point to run it")
        await self._drain()
        self.leg_watchers.clear()  # legs abandoned in the drain report no more
        if self._http is not None:
            await self._http.close()
            self._http = None
        self.channel.hangup(disposition)
        # Reports after the end are dropped, and no sink keeps the call alive:
        # a finished call is freed by reference counting, not by a full GC.
        for sink in self._sinks:
            sink.detach()
        if self.outbox is not None:
            for delivery in self.outgoing:
                self.outbox.submit(delivery)
            self.trace.record("post_call_handed", deliveries=len(self.outgoing))
            self.outgoing = []
        self.trace.record("call_ended", disposition=disposition, vars=self.vars)
        self.trace.close()

    async def _drain(self) -> None:
        """Handle what is still in the inbox, and what the hung-up legs report,
        without reviving anything: a leg that answers now is torn down."""
        deadline = self._loop.time() + DRAIN_SECONDS
        while True:
            live = [leg for leg in self.legs.values() if not is_terminal(leg.state)]
            if not live and not self._inbox:
                return
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                for leg in live:
                    self.trace.record("leg_abandoned", leg=leg.leg_id, state=leg.state.value)
                return
            event = await self._next(self._loop.time() + remaining)
            if event is None:
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
                        self._leg_moved(gone)


# The longest any single wait of a call may last (a sleep, a timeout from a
# variable): a day, as the schema's maxima say.
LONGEST_WAIT = float(limits.WAIT_MAX_SECONDS)
# Seconds a played file may last, for the playout deadline (a hold's limit).
LONGEST_FILE = 900.0


def playout_deadline(items: Sequence[Utterance]) -> float:
    """How long a playout may take before a missing report is a failure:
    generously longer than it should last."""
    seconds = PLAYOUT_GRACE
    for item in items:
        if item.kind == "say":
            seconds += 0.6 * len(item.value.split())
        elif item.kind == "silence":
            with contextlib.suppress(ValueError):
                seconds += min(max(float(item.value), 0.0), LONGEST_FILE)
        else:
            seconds += LONGEST_FILE
    return seconds


# Caller events kept for a later wait (call.held).
HELD_EVENTS = 16


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


# Each event type's field names a trace record shows (not seq/at/epoch).
_SHOWN_FIELDS: dict[type[ev.Event], tuple[str, ...]] = {}


def _event_fields(event: ev.Event) -> dict[str, Any]:
    cls = type(event)
    names = _SHOWN_FIELDS.get(cls)
    if names is None:
        names = _SHOWN_FIELDS[cls] = tuple(f.name for f in dataclasses.fields(event)
                                           if f.name not in ("seq", "at", "epoch"))
    fields = {name: getattr(event, name) for name in names}
    if isinstance(event, ev.ToolReturned) and isinstance(event.reply, ToolReply):
        fields["reply"] = _reply_fields(event.reply)
    if event.epoch:
        fields["epoch"] = event.epoch
    return fields


def _reply_fields(reply: ToolReply) -> dict[str, JSONValue]:
    """A tool reply as its trace record shows it: JSON, not a Python repr
    (the trace redacts it like any other value)."""
    return {"response": reply.response,
            "actions": [{"name": action.name, "value": action.value}
                        for action in reply.actions],
            "post_process": reply.post_process}
