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

Playout and leg outcomes use loop timers, not tasks, so a stop or a hangup
takes effect synchronously and leaves nothing behind; the only task is the
caller's script, which `close()` cancels and awaits.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from interpreter.transports.caller_script import (
    CallerScript,
    Cue,
    Faults,
    Hangup,
    Press,
    Say,
    Timing,
    Wait,
)
from interpreter.transports.protocols import (
    FALLBACK_VOICE,
    TTS_FAILURE,
    CallSink,
    Heard,
    Utterance,
)

WORDS_PER_SECOND = 2.5  # agent speech: a word every 0.4 s
URL_SECONDS = 2.0  # a played file, whatever it holds
RING_SECONDS = 2.0  # one ringback item
CALLER_SECONDS_PER_WORD = 0.35  # the caller's own speech
ENDPOINT_DELAY = 0.3  # from the caller's last word to the final transcript
DIGIT_INTERVAL = 0.15  # between DTMF digits
STATUS_DELAY = 0.1  # a status query's round trip
BUSY_AFTER = 0.5
DECLINED_AFTER = 1.0
GARBLED = "speech not recognized"  # the reason a garbled say's transcription fails

# Virtual time is float arithmetic and asyncio fires a timer up to its clock
# resolution (1 ns) early; records are kept to the microsecond, so compare so.
_EPSILON = 1e-6


def utterance_seconds(item: Utterance) -> float:
    """How long an item plays."""
    if item.kind == "say":
        return len(item.value.split()) / WORDS_PER_SECOND
    if item.kind != "silence":
        return {"url": URL_SECONDS, "ring": RING_SECONDS}.get(item.kind, 0.0)
    try:
        seconds = float(item.value)
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class AgentLine:
    """One item played to the caller or a called party (silence is not kept),
    or one background track (kind "background")."""

    kind: str
    text: str  # the item's value: the words, URL or ring spec
    start: float
    end: float
    cut_off: bool = False
    heard: str = ""  # the words fully played, for say items


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


def loop_now() -> float:
    return asyncio.get_running_loop().time()


def stamp(when: float | None = None) -> float:
    """A time for the records, to the microsecond: float sums of virtual time
    would otherwise print as 28.150000000000002."""
    return round(loop_now() if when is None else when, 6)


def _never_fails(_: object) -> str | None:
    return None


def _ignore_failure(playout_id: int, reason: str) -> None:
    """For a path with no faults to report."""


def _ignore_finished(playout_id: int) -> None:
    """For a released player."""


def _ignore_change() -> None:
    """For a released player."""


class FaultInjector:
    """Which items fail, as a script's `faults` say; it counts each tts fault's
    failures, so one injector serves one call."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        self._failures = [0] * len(faults.tts)

    def playout_fault(self, item: Utterance) -> str | None:
        """Why `item` fails to play, or None; asked as it starts, so an item
        never reached (the playout stopped first) uses up no failure."""
        if item.kind == "url":
            return self.file_fault(item.value)
        if item.kind != "say":
            return None
        text = _words(item.value)
        for index, fault in enumerate(self._faults.tts):
            # The flow's voice is "" or the one its language names: any but the fallback.
            if (_words(fault.saying) in text
                    and (fault.all_voices or item.voice != FALLBACK_VOICE)
                    and (fault.times == 0 or self._failures[index] < fault.times)):
                self._failures[index] += 1
                return f'{TTS_FAILURE} synthesis failed for voice "{item.voice or "default"}"'
        return None

    def file_fault(self, url: str) -> str | None:
        return f"media: could not fetch {url}" if url in self._faults.files else None


def _words(text: str) -> str:
    return " ".join(text.lower().split())


class Player:
    """Plays queued items by the clock; a contiguous run of playing is a *turn*.

    An item that fails (`fault` says why) plays nothing: it and everything
    queued after it are dropped, the turn ends, and `on_failed` gets the id of
    the play() call the item came from. The caller heard nothing of it, so it
    is not kept in `heard`, and the turn does not count as finished."""

    def __init__(self, on_finished: Callable[[int], None], on_change: Callable[[], None], *,
                 fault: Callable[[Utterance], str | None] = _never_fails,
                 on_failed: Callable[[int, str], None] = _ignore_failure) -> None:
        self.heard: list[AgentLine] = []
        self.turns_finished = 0  # turns that played out, not those stopped or failed
        self.turn_start: float | None = None  # None while silent
        self.silent_since = 0.0
        # Each item with the id of its play() call, to name the playout that failed.
        self._queue: deque[tuple[int, Utterance]] = deque()
        self._playout_id = 0
        self._item: Utterance | None = None
        self._item_start = 0.0
        self._played: list[str] = []  # words fully played in this turn
        self._timer: asyncio.Handle | None = None
        self._on_finished = on_finished
        self._on_change = on_change
        self._fault = fault
        self._on_failed = on_failed

    def release(self) -> None:
        """Forget the callbacks (the owner is done with this player)."""
        self._on_finished, self._on_change = _ignore_finished, _ignore_change
        self._fault, self._on_failed = _never_fails, _ignore_failure

    def play(self, playout_id: int, items: Sequence[Utterance]) -> None:
        # Appending keeps one turn going; only the latest id reports finished.
        self._playout_id = playout_id
        self._queue.extend((playout_id, item) for item in items)
        if self.turn_start is None:
            self.turn_start = loop_now()
            self._played = []
            # Deferred, so an empty playout reports after play() returns.
            self._timer = asyncio.get_running_loop().call_soon(self._next)
            self._on_change()

    def stop(self) -> Heard:
        if self.turn_start is None:
            return Heard("", 0, 0.0)
        now = loop_now()
        if self._timer is not None:
            self._timer.cancel()
        partial: list[str] = []
        if self._item is not None:
            if self._item.kind == "say":
                words = self._item.value.split()
                spoken = int((now - self._item_start) * WORDS_PER_SECOND + _EPSILON)
                partial = words[:spoken]
            self._record(now, cut_off=True, heard=" ".join(partial))
        played = [*self._played, *partial]
        heard = Heard(" ".join(played), len(played), stamp(now - self.turn_start))
        self._end_turn(now)
        return heard

    def _end_turn(self, now: float) -> None:
        self._queue.clear()
        self._item = self._timer = self.turn_start = None
        self.silent_since = now
        self._on_change()

    def _next(self) -> None:
        if not self._queue:
            self.turns_finished += 1
            self._end_turn(loop_now())
            self._on_finished(self._playout_id)
            return
        playout_id, item = self._queue.popleft()
        reason = self._fault(item)
        if reason is not None:
            self._end_turn(loop_now())
            self._on_failed(playout_id, reason)
            return
        self._item = item
        self._item_start = loop_now()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(utterance_seconds(self._item), self._item_done)

    def _item_done(self) -> None:
        assert self._item is not None
        words = self._item.value.split() if self._item.kind == "say" else []
        self._played.extend(words)
        self._record(loop_now(), cut_off=False, heard=" ".join(words))
        self._on_change()  # a caller may be listening for a phrase
        self._next()

    def _record(self, end: float, *, cut_off: bool, heard: str) -> None:
        assert self._item is not None
        if self._item.kind != "silence":
            self.heard.append(AgentLine(self._item.kind, self._item.value,
                                        stamp(self._item_start), stamp(end), cut_off, heard))


class Background:
    """Audio under the agent's speech, apart from the `Player`'s turns: one
    track at a time, playing `loops` times URL_SECONDS, or until stopped when
    `loops` is 0. `played` keeps each track, cut off if stopped or replaced."""

    def __init__(self, on_finished: Callable[[int], None], *,
                 fault: Callable[[str], str | None] = _never_fails,
                 on_failed: Callable[[int, str], None] = _ignore_failure) -> None:
        self.played: list[AgentLine] = []
        self._track: tuple[str, float] | None = None  # url, start; None while silent
        self._timer: asyncio.Handle | None = None
        self._on_finished = on_finished
        self._fault = fault
        self._on_failed = on_failed

    def release(self) -> None:
        """Forget the callbacks (the owner is done with this track)."""
        self._on_finished, self._fault, self._on_failed = (
            _ignore_finished, _never_fails, _ignore_failure)

    def play(self, playout_id: int, url: str, loops: int) -> None:
        if loops < 0:
            raise ValueError(f"loops must be 0 (until stopped) or more, not {loops}")
        self.stop()
        loop = asyncio.get_running_loop()
        reason = self._fault(url)
        if reason is not None:
            # Deferred like every report, so it arrives after this call returns;
            # a stop before then cancels it: the runtime no longer wants the track.
            self._timer = loop.call_soon(self._on_failed, playout_id, reason)
            return
        self._track = (url, loop.time())
        if loops:
            self._timer = loop.call_later(loops * URL_SECONDS, self._ended, playout_id)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._record(cut_off=True)

    def _ended(self, playout_id: int) -> None:
        self._timer = None
        self._record(cut_off=False)
        self._on_finished(playout_id)

    def _record(self, *, cut_off: bool) -> None:
        if self._track is not None:
            url, start = self._track
            self.played.append(AgentLine("background", url, stamp(start), stamp(), cut_off))
            self._track = None


class SimulatedCaller:
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
    def heard(self) -> list[AgentLine]:
        return self._player.heard

    @property
    def background(self) -> list[AgentLine]:
        """The background tracks played, each from start to end."""
        return self._background.played

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

    def play(self, playout_id: int, items: Sequence[Utterance]) -> None:
        if not self.ended:
            self._player.play(playout_id, items)

    def stop_playout(self) -> Heard:
        return self._player.stop()

    def play_background(self, playout_id: int, url: str, loops: int) -> None:
        if not self.ended:
            self._background.play(playout_id, url, loops)

    def stop_background(self) -> None:
        self._background.stop()

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

    def _playout_failed(self, playout_id: int, reason: str) -> None:
        if self._sink is not None and not self.ended:
            self._sink.playout_failed(playout_id, reason)

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
