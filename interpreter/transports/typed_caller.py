"""A caller whose lines are typed as the call goes (`callkernel console`).

The simulated callers follow a script; these follow a queue of typed lines
instead, through the same `ScriptFollower`: each line becomes a step (`say`,
`/digits` → press, `/wait` → wait, `/hangup` and the end of input → hangup)
when it is taken. `TypedTextCaller` speaks on text media as `run
--real-time` does and reports to its `LineSink` as a `LiveCaller` does;
`TypedAudioCaller` speaks each line with the embedded TTS into the audio
runtime, as `run --audio` does, and reports the agent's lines when they
start to sound.

When a line goes depends on who types it:

- Interactive (a terminal): as soon as it is typed, whatever the agent is
  doing; typing while the agent speaks is barging in.
- Piped (a file): when the call is quiet: the agent has finished a turn
  since the caller's last line and been silent for the script's `pause`;
  or, if nothing was played since, after `QUIET_SECONDS` with nothing
  playing and no model request, tool or dial in flight (the call waits for
  input without a word, as a recording or a digit prompt does). Patience
  still bounds the wait: past it, the line goes anyway.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from interpreter.media.clock import MediaClock
from interpreter.media.playout import Samples
from interpreter.media.ports import Heard, ListenSettings, Utterance
from interpreter.providers.stt.base import SttProvider, SttSession
from interpreter.providers.tts.base import TtsProvider
from interpreter.transports.audio_caller import AudioCaller
from interpreter.transports.caller_script import (
    DTMF_DIGITS,
    CallerScript,
    Hangup,
    Press,
    Say,
    Step,
    Timing,
    Wait,
)
from interpreter.transports.live import LineSink, LiveCaller, background_name, caller_text
from interpreter.transports.script_follower import ScriptFollower
from interpreter.transports.simulated_media import _EPSILON, loop_now

# Piped input: how long the call must be quiet, with nothing played since the
# caller's last line, before the next line goes.
QUIET_SECONDS = 2.0
MAX_WAIT_SECONDS = 3600.0

HELP = """\
Type what the caller says, one line at a time, and press Enter.
  /digits 123#   press DTMF keys (0-9 * # A-D)
  /wait 2.5      stay silent this many seconds before the next line
  /hangup        hang up (so does Ctrl-D, or the end of piped input)
  /help          this help"""


# ------------------------------------------------------------------ lines → steps


def step_for(line: str) -> Step | str | None:
    """The step a typed line asks for; a message for the typist (help, or what
    is wrong with the line) as a string; None for a blank line."""
    text = line.strip()
    if not text:
        return None
    if not text.startswith("/"):
        return Say(text)
    command, _, argument = text.partition(" ")
    argument = "".join(argument.split())
    match command.lower():
        case "/digits" | "/press":
            digits = argument.upper()
            if not digits or set(digits) - DTMF_DIGITS:
                return "/digits takes DTMF keys: 0-9 * # A-D, e.g. /digits 123#"
            return Press(digits)
        case "/wait":
            try:
                seconds = float(argument)
            except ValueError:
                seconds = -1.0
            if not 0 <= seconds <= MAX_WAIT_SECONDS:
                return f"/wait takes seconds from 0 to {MAX_WAIT_SECONDS:g}, e.g. /wait 2.5"
            return Wait(seconds)
        case "/hangup":
            return Hangup()
        case "/help" | "/?":
            return HELP
    return f"unknown command {command} (/help lists them)"


class TypedLines:
    """Lines as they are typed, in order; `end()` when there will be no more.
    Fed from the loop's thread (`put`, `end`) or from a reader thread through
    `loop.call_soon_threadsafe`."""

    def __init__(self, lines: Sequence[str] = (), *, ended: bool = False) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        for line in lines:
            self._queue.put_nowait(line)
        if ended:
            self._queue.put_nowait(None)

    def put(self, line: str) -> None:
        self._queue.put_nowait(line)

    def end(self) -> None:
        self._queue.put_nowait(None)

    async def next(self) -> str | None:
        """The next line; None once input has ended (and from then on)."""
        line = await self._queue.get()
        if line is None:
            self._queue.put_nowait(None)
        return line


# ------------------------------------------------------------------ the call's activity


# Events that end an effect (their `effect_id`); docs/trace.md lists them.
_EFFECT_ENDS = frozenset({"LlmFinished", "LlmFailed", "ToolReturned", "ToolFailed",
                          "RequestCompleted", "EffectFailed", "IncludeFetched"})
_DIALING = frozenset({"dialing", "ringing"})


class Activity:
    """What the call is busy with that the caller cannot hear: model requests,
    tools and requests in flight, legs being dialed. Fed the call's trace
    records as they are made."""

    def __init__(self) -> None:
        self._effects: set[str] = set()
        self._legs: set[str] = set()
        self.idle_since = 0.0  # loop time the call last became idle
        self.changed: Callable[[], None] = lambda: None

    @property
    def busy(self) -> bool:
        return bool(self._effects or self._legs)

    def record(self, record: dict[str, Any]) -> None:
        was = self.busy
        kind = record.get("kind")
        if kind == "effect_started":
            self._effects.add(str(record.get("id")))
        elif kind == "effect_cancelled":
            self._effects.discard(str(record.get("id")))
        elif kind == "event" and record.get("event") in _EFFECT_ENDS:
            self._effects.discard(str(record.get("effect_id")))
        elif kind == "leg_dial":
            self._legs.add(str(record.get("leg")))
        elif kind == "leg_state" and record.get("new") not in _DIALING:
            self._legs.discard(str(record.get("leg")))
        elif kind == "call_ended":
            self._effects.clear()
            self._legs.clear()
        if was and not self.busy:
            self.idle_since = loop_now()
        if was != self.busy:
            self.changed()


@dataclass(frozen=True, slots=True)
class Typing:
    """Where a typed caller's lines come from and how they go."""

    lines: TypedLines
    interactive: bool  # lines go as typed; else when the call is quiet
    notice: Callable[[str], None]  # help, and what is wrong with a line
    activity: Activity = field(default_factory=Activity)


# ------------------------------------------------------------------ the callers


class TypedSteps(ScriptFollower):
    """The steps of a `ScriptFollower` taken from typed lines (a mixin placed
    before the caller class)."""

    typing: Typing

    def _typed_init(self, typing: Typing) -> None:
        self.typing = typing
        typing.activity.changed = self._changed

    async def _steps(self) -> AsyncIterator[Step]:
        while True:
            line = await self.typing.lines.next()
            if line is None:
                # Typed: at once; piped: after the agent's answer to the last line.
                yield Hangup()
                return
            step = step_for(line)
            if isinstance(step, str):
                self.typing.notice(step)
            elif step is not None:
                yield step

    async def _cue(self, timing: Timing, previous_end: float) -> str:
        if self.typing.interactive:
            return ""  # the typist's timing is the cue
        deadline = loop_now() + self.script.patience
        while (ready := self._quiet_at(previous_end)) is None or loop_now() < ready - _EPSILON:
            if loop_now() >= deadline - _EPSILON:
                return "patience ran out"
            await self._change_before(deadline if ready is None else min(ready, deadline))
        return ""

    def _quiet_at(self, previous_end: float) -> float | None:
        """When a piped line may go; None while the agent speaks or the call is busy."""
        hearing, activity = self._hearing(), self.typing.activity
        if hearing.turn_start is not None or activity.busy:
            return None
        if hearing.turns_finished > self._turns_seen:
            return hearing.silent_since + self.script.pause
        return max(hearing.silent_since, previous_end, activity.idle_since) + QUIET_SECONDS


class TypedTextCaller(TypedSteps, LiveCaller):
    """A typed caller on text media, reporting to `view` as `run --real-time`'s caller does."""

    def __init__(self, script: CallerScript, view: LineSink, typing: Typing) -> None:
        super().__init__(script, view)
        self._typed_init(typing)


class HintedStt:
    """The recognizer, told to expect the line being spoken, as `run --audio`
    tells it the script's lines: the console tests the flow and the audio
    path, not how far the embedded model guesses words it was not given."""

    def __init__(self, stt: SttProvider) -> None:
        self._stt = stt
        self.sample_rate = stt.sample_rate
        self.hints: tuple[str, ...] = ()

    def session(self, settings: ListenSettings) -> SttSession:
        return self._stt.session(replace(settings, hints=settings.hints + self.hints))


class TypedAudioCaller(TypedSteps, AudioCaller):
    """A typed caller on the audio runtime. What it says and presses is shown
    when it starts; the agent's lines when their first sound plays; a cut-off
    line when it is cut."""

    def __init__(self, script: CallerScript, view: LineSink, typing: Typing, *,
                 clock: MediaClock, tts: TtsProvider, stt: SttProvider,
                 keep_audio: bool) -> None:
        self.stt = HintedStt(stt)
        super().__init__(script, clock, tts, self.stt, keep_audio=keep_audio)
        self._typed_init(typing)
        self.view = view
        self._pending: deque[tuple[int, str, str]] = deque()  # playout id, who, text
        self._sounding = False  # the head of _pending has been shown
        self._heard_seen = self._said_seen = self._tracks_seen = 0

    async def _speak(self, step: Say) -> float | None:
        self.stt.hints = (step.text,)
        self._show(loop_now(), "caller", step.text)
        return await super()._speak(step)

    def play(self, playout_id: int, items: Sequence[Utterance]) -> None:
        super().play(playout_id, items)
        said = " ".join(item.value for item in items if item.kind == "say")
        other = next((item for item in items if item.kind not in ("say", "silence")), None)
        if self.ended or not (said or other):
            return
        if said:
            self._pending.append((playout_id, "agent", said))
        elif other is not None and other.kind == "ring":
            self._pending.append((playout_id, "sound",
                                  f"[ring {other.value}]" if other.value else "[ring]"))
        elif other is not None:
            self._pending.append((playout_id, "agent", f"[{other.kind} {other.value}]"))

    def _outbound(self, frame: Samples) -> None:
        super()._outbound(frame)
        if self._pending and not self._sounding and np.any(frame):
            self._sounding = True
            _, who, text = self._pending[0]
            self._show(loop_now(), who, text)

    def playout_ended(self, playout_id: int, *, failed: bool) -> None:
        super().playout_ended(playout_id, failed=failed)
        if self._pending and self._pending[0][0] <= playout_id:
            self._sounding = False
        while self._pending and self._pending[0][0] <= playout_id:
            self._pending.popleft()
        self.catch_up()

    def stop_playout(self) -> Heard:
        heard = super().stop_playout()
        self._pending.clear()
        self._sounding = False
        self.catch_up()
        return heard

    def play_background(self, playout_id: int, url: str, loops: int) -> None:
        super().play_background(playout_id, url, loops)
        self._show(loop_now(), "sound", f"[{background_name(url)} starts]")

    def catch_up(self) -> None:
        """Show what ended since the last look: cut-off lines, presses and
        hangups, background audio."""
        for line in self.heard[self._heard_seen:]:
            if line.cut_off:
                text = f"(cut off; heard: \"{line.heard}\")" if line.heard \
                    else "(cut off before a word was heard)"
                self._show(line.end, "agent", text)
        self._heard_seen = len(self.heard)
        for action in self.said[self._said_seen:]:
            if action.kind != "say":  # a line is shown when it starts
                self._show(action.end, "caller", caller_text(action))
        self._said_seen = len(self.said)
        for track in self.background[self._tracks_seen:]:
            self._show(track.end, "sound", f"[{background_name(track.text)} "
                       f"{'stopped' if track.cut_off else 'ends'}]")
        self._tracks_seen = len(self.background)

    def hangup(self, reason: str) -> None:
        super().hangup(reason)
        self.catch_up()

    async def close(self) -> None:
        await super().close()
        self.catch_up()

    def _show(self, when: float, who: str, text: str) -> None:
        self.view.emit(when - self.view.start, who, text)
