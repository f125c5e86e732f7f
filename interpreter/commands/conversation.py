"""The conversation view of a call: one timestamped line per thing said or done.

Lines come from three sources: what the simulated caller did (`caller`), what
it heard (`agent` for speech and prompts, `sound` for ringback, ring tones
and background audio), and the trace records worth a line (`call`). Times
are seconds since the call started.

`conversation()` builds the whole view after the call (the virtual-clock
default). `LiveTraceSink` + `LiveView` print the same lines as they happen
(`run --real-time`): trace records as they are made, and what a live caller
(transports/live.py) reports: its actions as they finish, agent speech when
it starts playing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TextIO, runtime_checkable

from interpreter.runtime.call import Call
from interpreter.runtime.trace import TraceSink
from interpreter.transports.caller_script import CallerScript
from interpreter.transports.live import LiveCaller, background_name, caller_text, played_line
from interpreter.transports.script_follower import CallerAction
from interpreter.transports.simulated_media import AgentLine

Line = tuple[float, str, str]  # seconds since the call started, who, text

# At the same instant: what the caller did, then what the runtime did about
# it, then what was played, then what the caller heard of it (transcribed).
_ORDER = {"caller": 0, "call": 1, "sound": 2, "agent": 2, "heard": 3}


def _state(record: dict[str, Any]) -> str:
    old, new = record.get("old"), record["new"]
    if new == "in_ai":
        return "ai session starts"
    if old == "in_ai":
        return "ai session over" if new != "ended" else "call is ended"
    if (old, new) == ("transferring", "answered"):
        return "transfer over: back to the flow"
    return f"call is {new}"


def _barge_in(record: dict[str, Any]) -> str:
    heard = record.get("heard") or ""
    barge = "barge-in on noise" if record.get("cause") == "noise" else "barge-in"
    if not heard:
        return f"{barge} before the agent said a word"
    return f"{barge}; agent was heard saying: \"{heard}\""


# Trace kinds worth a line, and how to say them (leg_state is said by RecordLines).
_SHOWN: dict[str, Callable[[dict[str, Any]], str]] = {
    "state": _state,
    "barge_declined": lambda r: f"caller's words did not interrupt ({r['why']}); "
    "answered next",
    "attention_timeout": lambda r: f"caller silent for {r['seconds']:g} s: the agent is "
    "asked to get their attention",
    "inactivity_timeout": lambda r: f"caller silent for {r['seconds']:g} s: the ai "
    "session ends",
    "leg_dial": lambda r: f"dialing {r['destination']} ({r['leg']})",
    "leg_reconciled": lambda r: f"{r['leg']} status query: {r['status']}",
    "leg_torn_down": lambda r: f"{r['leg']} torn down: {r['why']}",
    "connect_failed": lambda r: f"connect failed: {r['reason']}",
    "transferred": lambda r: f"transferred to section {r['to']}",
    "prompt_result": lambda r: f"prompt: {r['result']} {r.get('value') or ''}".rstrip(),
    "request_finished": lambda r: f"request answered {r['status']}",
    "request_failed": lambda r: f"request failed: {r['error']}",
    "error": lambda r: f"{'FATAL ' if r.get('fatal') else ''}{r['type']}: {r['message']}",
    "not_executed": lambda r: f"{r['method']} not executed",
    "call_ended": lambda r: f"ended: {r['disposition']}",
    "step_change": lambda r: f"step {r['old']} → {r['new']} ({r['trigger']})",
    "context_change": lambda r: f"context {r['old']} → {r['new']} ({r['trigger']})",
    "effect_started": lambda r: f"calling {r['function']}({r.get('arguments', '')})"
    if r.get("effect") == "tool" else "",
    "tool_returned": lambda r: f"{r['function']} returned: {r.get('response')}",
    "barge_in": _barge_in,
    "tool_cancelled": lambda r: f"{r['function']} cancelled: {r['why']}",
    "gather_answer": lambda r: f"gathered {r['key']}: {r['answer']}",
    "language_change": lambda r: f"language {r['old']} → {r['new']}",
    "hold": lambda r: f"caller on hold for {r['seconds']:g} s",
    "digits_sent": lambda r: f"sent digits {r['digits']}",
    "digits_refused": lambda r: f"send_digits refused {r['digits']!r}: {r['why']}",
    "recording_started": lambda r: f"recording the call ({r['control_id']}): {r['url']}",
    "recorded": lambda r: f"recorded ({r['result']}): {r['url']}" if r.get("result") ==
    "success" else f"recorded nothing ({r['result']})",
    "record_stopped": lambda r: f"recording {r['control_id']} stopped"
    + (f" ({r['why']})" if r.get("why") else ""),
    "unhold": lambda r: "caller back from hold",
}


class RecordLines:
    """Trace records → `call` lines, in record order. Keeps what a later
    record needs: why a leg failed (its LegFailed event comes just before
    the leg_state record that says it did)."""

    def __init__(self) -> None:
        self._leg_failures: dict[str, str] = {}

    def text(self, record: dict[str, Any]) -> str:
        kind = str(record.get("kind"))
        if kind == "event" and record.get("event") == "LegFailed":
            self._leg_failures[str(record.get("leg_id"))] = str(record.get("reason") or "")
            return ""
        if kind == "event" and record.get("event") == "SpeechNoted":
            return f"speech: {record.get('note')}"
        if kind == "event" and record.get("event") == "PlayoutPaused" \
                and not record.get("paused"):
            # Pause, then decide: said when the agent went on (a barge-in that
            # was decided says so itself).
            return f"agent went on after the caller's speech: {record.get('why')}"
        if kind == "leg_state":
            new = record.get("new")
            why = self._leg_failures.pop(str(record.get("leg")), "") if new == "failed" else ""
            return f"{record.get('leg')} {new}" + (f": {why}" if why else "")
        show = _SHOWN.get(kind)
        try:
            return show(record) if show is not None else ""
        except (KeyError, TypeError, ValueError):  # a record of an older or newer shape
            return ""


class CallerRecords(Protocol):
    """What a simulated caller (text or audio) kept of the call."""

    @property
    def heard(self) -> list[AgentLine]: ...
    @property
    def background(self) -> list[AgentLine]: ...
    @property
    def said(self) -> list[CallerAction]: ...


@runtime_checkable
class TranscribedRecords(Protocol):
    """An audio caller that transcribed what it heard of the agent
    (`run --audio --transcribe`): per agent line, its start and the text of
    a `heard` line shown under it."""

    @property
    def heard_checks(self) -> list[tuple[float, str]]: ...


def conversation(caller: CallerRecords, call: Call, start: float = 0.0) -> list[Line]:
    """The whole call as lines, in time order. `start`: the loop time the call
    started at (the caller's records are loop times, the trace's are not)."""
    lines: list[Line] = []
    for line in caller.heard:
        who, text = played_line(line.kind, line.text)
        if line.cut_off:
            text += f"  (cut off; heard: \"{line.heard}\")" if line.heard \
                else "  (cut off before a word was heard)"
        lines.append((line.start - start, who, text))
    for track in caller.background:
        lines.append((track.start - start, "sound",
                      f"[{background_name(track.text)} until {track.end - start:.2f} s"
                      f"{', stopped' if track.cut_off else ''}]"))
    for action in caller.said:
        lines.append((action.start - start, "caller", caller_text(action)))
    if isinstance(caller, TranscribedRecords):
        for when, text in caller.heard_checks:
            lines.append((when - start, "heard", text))
    said = RecordLines()
    for record in call.trace.records:
        text = said.text(record)
        if text:
            lines.append((float(record["t"]), "call", text))
    lines = [(round(t, 6), who, text) for t, who, text in lines]
    return sorted(lines, key=lambda line: (line[0], _ORDER[line[1]]))


def print_lines(lines: Sequence[Line], out: TextIO) -> None:
    for line in lines:
        print(format_line(line), file=out)


def format_line(line: Line) -> str:
    t, who, text = line
    return f"{t:8.2f}  {who:<6}  {text}"


# ---------------------------------------------------------------- live


class FollowedCaller(Protocol):
    """A live caller (text or audio) that shows the lines it has due when asked."""

    def catch_up(self) -> None: ...


class LiveView:
    """Prints lines as they happen, flushed, never going back in time."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start = 0.0  # the loop time the call started at; set before it starts
        self.broken: BrokenPipeError | None = None  # the reader went away
        self._last = 0.0
        self._records = RecordLines()
        self._caller: FollowedCaller | None = None

    def emit(self, t: float, who: str, text: str) -> None:
        """Print a line now (stamped no earlier than the last one)."""
        self._last = max(self._last, t)
        if self.broken is not None:
            return
        try:
            print(format_line((self._last, who, text)), file=self.out, flush=True)
        except BrokenPipeError as error:
            # Raised here it would end the call as an internal error; the
            # command raises it once the call is over.
            self.broken = error

    def record(self, record: dict[str, Any]) -> None:
        """A trace record, as it is made."""
        text = self._records.text(record)
        if self._caller is not None:
            self._caller.catch_up()  # what the caller did comes before the call's answer
        if text:
            self.emit(float(record.get("t", 0.0)), "call", text)

    def follow(self, caller: FollowedCaller) -> None:
        """Show what `caller` did and heard up to now before each record's line."""
        self._caller = caller

    def caller(self, script: CallerScript) -> LiveCaller:
        """A simulated caller that reports to this view, followed by it."""
        caller = LiveCaller(script, self)
        self.follow(caller)
        return caller


class LiveTraceSink:
    """A trace sink that shows each record on a `LiveView` and passes it on."""

    def __init__(self, view: LiveView, inner: TraceSink | None = None) -> None:
        self.view, self.inner = view, inner

    def write(self, record: dict[str, Any]) -> None:
        if self.inner is not None:
            self.inner.write(record)
        self.view.record(record)

    def flush(self) -> None:
        if self.inner is not None:
            self.inner.flush()

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()

