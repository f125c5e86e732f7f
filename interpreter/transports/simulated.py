"""A simulated caller and telephone network: text media with real timing.

`SimulatedCaller` plays a `CallerScript` against the runtime through the
`CallerChannel` protocol; `SimulatedNetwork` answers the runtime's dials from
the script's destinations through `Telephony`. Media is text, but time means
what it would with audio: agent speech lasts in proportion to its words, so a
caller can barge in mid-sentence and `stop_playout` returns exactly the words
whose time had fully elapsed. All timing comes from the loop's clock (timers
and sleeps), so under `run_virtual` a scenario runs exactly and instantly.

The script's `faults` make media fail as it would in production: speech
synthesis of a phrase, a file that cannot be fetched (played or as background
audio), and, per `say` step, speech-to-text that returns no words. Flows can
so be run through their tts_error, media_error and stt_error recovery.

Playout (simulated_media.py) and leg outcomes use loop timers, not tasks, so
a stop or a hangup takes effect synchronously and leaves nothing behind; the
only task is the caller's script, which `close()` cancels and awaits.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from interpreter.media.ports import CallSink, PlayoutFailure
from interpreter.transports.caller_script import (
    CallerScript,
    Cue,
    Hangup,
    Press,
    Say,
    Timing,
    Wait,
)
from interpreter.transports.simulated_media import (
    _EPSILON,
    Background,
    FaultInjector,
    MediaPath,
    Player,
    loop_now,
    stamp,
)

CALLER_SECONDS_PER_WORD = 0.35  # the caller's own speech
ENDPOINT_DELAY = 0.3  # from the caller's last word to the final transcript
DIGIT_INTERVAL = 0.15  # between DTMF digits
STATUS_DELAY = 0.1  # a status query's round trip
BUSY_AFTER = 0.5
DECLINED_AFTER = 1.0
GARBLED = "speech not recognized"  # the reason a garbled say's transcription fails


@dataclass(frozen=True, slots=True)
class CallerAction:
    """What the caller (or a called party) did, and when."""

    kind: str  # "say" | "press" | "hangup"
    value: str
    start: float
    end: float
    # Why it happened off its cue ("patience ran out", "linger"), or that the
    # flow could not understand it ("garbled").
    note: str = ""


class SimulatedCaller(MediaPath):
    """A `CallerChannel` whose caller follows a script; see docs/caller-scripts.md."""

    def __init__(self, script: CallerScript) -> None:
        self.script = script
        self.said: list[CallerAction] = []
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.end_reason: str | None = None  # "caller hung up", or the runtime's reason
        faults = FaultInjector(script.faults)
        self._player = Player(self._playout_finished, self._changed,
                              fault=faults.playout_fault, on_failed=self._playout_failed)
        self._background = Background(self._playout_finished, fault=faults.file_fault,
                                      on_failed=self._playout_failed)
        self._sink: CallSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._change = asyncio.Event()
        self._start = 0.0
        self._turns_seen = 0  # turns finished when the caller last acted
        self._lines_seen = 0  # lines heard when the caller last acted

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def attach(self, sink: CallSink) -> None:
        if self._sink is not None:
            raise RuntimeError("a SimulatedCaller is attached once, to one call")
        self._sink, self._start = sink, loop_now()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="caller script")

    def answer(self) -> None:
        if self.answered_at is None:
            self.answered_at = stamp()

    def _muted(self) -> bool:
        return self.ended

    def hangup(self, reason: str) -> None:
        if not self.ended:
            self._end(reason)

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
        # Player and Background call back into this caller through bound
        # methods: drop them, so a closed caller is freed without a full GC.
        self._player.release()
        self._background.release()
        self._task = None

    def _end(self, reason: str) -> None:
        self.ended_at, self.end_reason = stamp(), reason
        self._player.stop()
        self._background.stop()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    def _playout_finished(self, playout_id: int) -> None:
        if self._sink is not None and not self.ended:
            self._sink.playout_finished(playout_id)

    def _playout_failed(self, playout_id: int, failure: PlayoutFailure) -> None:
        if self._sink is not None and not self.ended:
            self._sink.playout_failed(playout_id, failure)

    def _changed(self) -> None:
        self._change.set()

    async def _run(self) -> None:
        previous_end = self._start
        for step in self.script.steps:
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
            while self._player.turn_start is None:
                if loop_now() >= deadline - _EPSILON:
                    return "patience ran out"
                await self._change_before(deadline)
            await _sleep_until(self._player.turn_start + timing.seconds)
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
        player = self._player
        if player.turn_start is not None or (
                not timing.after_hearing and player.turns_finished <= self._turns_seen):
            return None
        return player.silent_since + self.script.pause

    def _has_heard(self, phrase: str) -> bool:
        wanted = " ".join(phrase.lower().split())
        return any(wanted in " ".join(line.heard.lower().split())
                   for line in self._player.heard[self._lines_seen:])

    async def _change_before(self, when: float) -> None:
        # Clearing and waiting with no await between the check and here: no lost wake-up.
        self._change.clear()
        try:
            async with asyncio.timeout_at(when):
                await self._change.wait()
        except TimeoutError:
            pass

    async def _act(self, step: Say | Press | Hangup, note: str) -> None:
        assert self._sink is not None
        start = loop_now()
        if isinstance(step, Hangup):
            self._hang_up(note)
            return
        value = ""
        if isinstance(step, Say) and step.garbled:
            note = f"{note}, garbled" if note else "garbled"
        try:
            if isinstance(step, Say):
                value = step.text
                self._sink.speech_started()
                await asyncio.sleep(len(step.text.split()) * CALLER_SECONDS_PER_WORD
                                    + ENDPOINT_DELAY)
                if step.garbled:
                    self._sink.transcription_failed(GARBLED)
                else:
                    self._sink.transcript(step.text, final=True)
            else:
                for index, digit in enumerate(step.digits):
                    if index:
                        await asyncio.sleep(DIGIT_INTERVAL)
                    self._sink.digit(digit)
                    value += digit
        finally:
            # Kept even when the call ends mid-action: the record shows how far it got.
            self.said.append(CallerAction("say" if isinstance(step, Say) else "press", value,
                                          stamp(start), stamp(), note))
        self._turns_seen = self._player.turns_finished
        self._lines_seen = len(self._player.heard)

    def _hang_up(self, note: str) -> None:
        if self.ended or self._sink is None:
            return
        self._sink.hung_up()
        self.said.append(CallerAction("hangup", "", stamp(), stamp(), note))
        self._end("caller hung up")


async def _sleep_until(when: float) -> None:
    await asyncio.sleep(max(0.0, when - loop_now()))
