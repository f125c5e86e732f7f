"""Following a caller script: the one implementation of its steps and cues,
shared by the text caller (simulated.py) and the audio caller
(audio_caller.py), which differ only in how a line is spoken and in how they
know what the agent is doing (`Hearing`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from interpreter.media.ports import CallSink
from interpreter.transports.caller_script import (
    CallerScript,
    Cue,
    Hangup,
    Press,
    Say,
    Sound,
    Step,
    Timing,
    Wait,
)
from interpreter.transports.simulated_media import _EPSILON, AgentLine, loop_now, stamp

DIGIT_INTERVAL = 0.15  # between DTMF digits


class Hearing(Protocol):
    """What the caller hears of the agent."""

    @property
    def heard(self) -> list[AgentLine]: ...
    @property
    def turns_finished(self) -> int:
        """Turns that played out (not those stopped or failed)."""
    @property
    def turn_start(self) -> float | None:
        """When the turn playing now started; None while the agent is silent."""
    @property
    def silent_since(self) -> float: ...


@dataclass(frozen=True, slots=True)
class CallerAction:
    """What the caller (or a called party) did, and when."""

    kind: str  # "say" | "press" | "hangup" | "sound"
    value: str
    start: float
    end: float
    # Why it happened off its cue ("patience ran out", "linger"), or that the
    # flow could not understand it ("garbled").
    note: str = ""


class ScriptFollower:
    """Plays `script` against the call through `_sink`, and keeps the call's
    life on the caller's side (answered, ended, the script's task).
    Subclasses say how a line is spoken (`_speak`) and a sound made
    (`_sound`), what the caller hears (`_hearing`), what stops when the call
    ends (`_stop_media`) and what a closed caller lets go (`_release`)."""

    script: CallerScript
    said: list[CallerAction]
    _sink: CallSink | None

    def _follow_init(self, script: CallerScript) -> None:
        self.script = script
        self.said = []
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.end_reason: str | None = None  # "caller hung up", or the runtime's reason
        self._sink = None
        self._task: asyncio.Task[None] | None = None
        self._change = asyncio.Event()
        self._start = 0.0
        self._turns_seen = 0  # turns finished when the caller last acted
        self._lines_seen = 0  # lines heard when the caller last acted

    # ------------------------------------------------------------ for subclasses

    def _hearing(self) -> Hearing:
        raise NotImplementedError

    async def _speak(self, step: Say) -> float | None:
        """Say the line; when its speech ended (None: now)."""
        raise NotImplementedError

    async def _sound(self, step: Sound) -> None:
        """Make the sound (text media has none: it takes no time)."""

    def _stop_media(self, reason: str) -> None:
        """The call ended: nothing more plays."""

    def _release(self) -> None:
        """The caller is closed: drop what it holds."""

    # ------------------------------------------------------------ the call's life

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def _begin(self, sink: CallSink) -> None:
        """Attached to its call: the script starts."""
        if self._sink is not None:
            raise RuntimeError(f"a {type(self).__name__} is attached once, to one call")
        self._sink, self._start = sink, loop_now()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="caller script")

    def answer(self) -> None:
        if self.answered_at is None:
            self.answered_at = stamp()

    def hangup(self, reason: str) -> None:
        if not self.ended:
            self._end(reason)

    def _end(self, reason: str) -> None:
        self.ended_at, self.end_reason = stamp(), reason
        self._stop_media(reason)
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def finished(self) -> None:
        """Wait until the script is over (hung up, lingered out, or ended by the call);
        re-raises an error the script met."""
        if self._task is not None:
            await asyncio.wait({self._task})
            if not self._task.cancelled():
                self._task.result()

    async def close(self) -> None:
        """End the call on the caller's side if still up; wait for the script task."""
        if not self.ended:
            self._end("closed")
        await self.finished()
        self._release()
        self._task = None

    def _changed(self) -> None:
        """What the caller hears changed: cues are looked at again."""
        self._change.set()

    # ------------------------------------------------------------ the script

    async def _run(self) -> None:
        previous_end = self._start
        async for step in self._steps():
            if isinstance(step, Wait):
                await asyncio.sleep(step.seconds)
            else:
                note = await self._cue(step.timing, previous_end)
                await self._act(step, note)
                if self.ended:
                    return
            previous_end = loop_now()
        await asyncio.sleep(self.script.linger)
        self._hang_up("linger")

    async def _cue(self, timing: Timing, previous_end: float) -> str:
        """Wait for the step's cue; the note says if patience ran out instead."""
        deadline = loop_now() + self.script.patience
        hearing = self._hearing()
        if timing.cue is Cue.AT:
            await _sleep_until(self._start + timing.seconds)
        elif timing.cue is Cue.AFTER:
            await _sleep_until(previous_end + timing.seconds)
        else:
            while timing.after_hearing and not self._has_heard(timing.after_hearing):
                if loop_now() >= deadline - _EPSILON:
                    return "patience ran out"
                await self._change_before(deadline)
        if timing.cue is Cue.BARGE_IN:
            # The utterance playing now, or else the next one to start.
            while (start := hearing.turn_start) is None:
                if loop_now() >= deadline - _EPSILON:
                    return "patience ran out"
                await self._change_before(deadline)
            await _sleep_until(start + timing.seconds)
        elif timing.cue is Cue.TURN:
            while (ready := self._turn_over_at(timing)) is None or loop_now() < ready - _EPSILON:
                if loop_now() >= deadline - _EPSILON:
                    return "patience ran out"
                await self._change_before(deadline if ready is None else min(ready, deadline))
        return ""

    def _turn_over_at(self, timing: Timing) -> float | None:
        """When the caller may act on the TURN cue: the agent finished a turn after
        the caller's last action (or played the phrase waited for) and has been
        silent for `pause`; None while not yet. A stopped turn does not count as
        finished: the caller (or a hangup) cut it off."""
        hearing = self._hearing()
        if hearing.turn_start is not None or (
                not timing.after_hearing and hearing.turns_finished <= self._turns_seen):
            return None
        return hearing.silent_since + self.script.pause

    async def _steps(self) -> AsyncIterator[Step]:
        """The steps to take, in order: the script's (a console's come as typed)."""
        for step in self.script.steps:
            yield step

    def _has_heard(self, phrase: str) -> bool:
        wanted = " ".join(phrase.lower().split())
        return any(wanted in " ".join(line.heard.lower().split())
                   for line in self._hearing().heard[self._lines_seen:])

    async def _change_before(self, when: float) -> None:
        # Clearing and waiting with no await between the check and here: no lost wake-up.
        self._change.clear()
        try:
            async with asyncio.timeout_at(when):
                await self._change.wait()
        except TimeoutError:
            pass

    async def _act(self, step: Say | Press | Hangup | Sound, note: str) -> None:
        assert self._sink is not None
        start = loop_now()
        if isinstance(step, Hangup):
            self._hang_up(note, drop=step.drop)
            return
        if isinstance(step, Sound):
            try:
                await self._sound(step)
            finally:
                self.said.append(CallerAction("sound", step.name, stamp(start), stamp(), note))
            return
        value = ""
        ended: float | None = None
        if isinstance(step, Say) and step.garbled:
            note = f"{note}, garbled" if note else "garbled"
        try:
            if isinstance(step, Say):
                value = step.text
                ended = await self._speak(step)
            else:
                for index, digit in enumerate(step.digits):
                    if index:
                        await asyncio.sleep(DIGIT_INTERVAL)
                    self._press(digit)
                    value += digit
        finally:
            # Kept even when the call ends mid-action: the record shows how far it got.
            self.said.append(CallerAction("say" if isinstance(step, Say) else "press", value,
                                          stamp(start), stamp(ended), note))
        hearing = self._hearing()
        self._turns_seen = hearing.turns_finished
        self._lines_seen = len(hearing.heard)

    def _press(self, digit: str) -> None:
        """One key: reported to the call as a DTMF event (an audio caller
        plays its tones instead)."""
        assert self._sink is not None
        self._sink.digit(digit)

    def _hang_up(self, note: str, *, drop: bool = False) -> None:
        if self.ended or self._sink is None:
            return
        if drop:
            self._sink.closed("the caller's connection dropped")
        else:
            self._sink.hung_up()
        self.said.append(CallerAction("hangup", "dropped" if drop else "", stamp(), stamp(),
                                      note))
        self._end("connection dropped" if drop else "caller hung up")


async def _sleep_until(when: float) -> None:
    await asyncio.sleep(max(0.0, when - loop_now()))
