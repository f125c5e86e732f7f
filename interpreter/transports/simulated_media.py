"""The simulated media path's clockwork: agent speech played by the clock,
background audio, and the faults a caller script injects.

Text media with real timing: agent speech lasts in proportion to its words,
so a barge-in stops it mid-sentence and `Player.stop` returns exactly the
words whose time had fully elapsed. Everything runs on loop timers, so a stop
takes effect synchronously and leaves nothing behind, and under `run_virtual`
a scenario runs exactly and instantly.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from interpreter.media.ports import (
    FALLBACK_VOICE,
    FailureKind,
    Heard,
    ListenSettings,
    PlayoutFailure,
    Recording,
    Utterance,
)
from interpreter.transports.caller_script import Faults

WORDS_PER_SECOND = 2.5  # agent speech: a word every 0.4 s
URL_SECONDS = 2.0  # a played file, whatever it holds
RING_SECONDS = 2.0  # one ringback item

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


def loop_now() -> float:
    return asyncio.get_running_loop().time()


def stamp(when: float | None = None) -> float:
    """A time for the records, to the microsecond: float sums of virtual time
    would otherwise print as 28.150000000000002."""
    return round(loop_now() if when is None else when, 6)


def _never_fails(_: object) -> Fault | None:
    return None


# Why an item fails: the kind of failure and its reason.
Fault = tuple[FailureKind, str]


def _ignore_failure(playout_id: int, failure: PlayoutFailure) -> None:
    """For a path with no faults to report."""


def _never_files_fail(_: str) -> str | None:
    return None


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

    def playout_fault(self, item: Utterance) -> Fault | None:
        """Why `item` fails to play, or None; asked as it starts, so an item
        never reached (the playout stopped first) uses up no failure."""
        if item.kind == "url":
            reason = self.file_fault(item.value)
            return None if reason is None else (FailureKind.MEDIA, reason)
        if item.kind != "say":
            return None
        text = _words(item.value)
        for index, fault in enumerate(self._faults.tts):
            # The flow's voice is "" or the one its language names: any but the fallback.
            if (_words(fault.saying) in text
                    and (fault.all_voices or item.voice != FALLBACK_VOICE)
                    and (fault.times == 0 or self._failures[index] < fault.times)):
                self._failures[index] += 1
                return FailureKind.SPEECH, \
                    f'synthesis failed for voice "{item.voice or "default"}"'
        return None

    def file_fault(self, url: str) -> str | None:
        return f"could not fetch {url}" if url in self._faults.files else None


def _words(text: str) -> str:
    return " ".join(text.lower().split())


class Player:
    """Plays queued items by the clock; a contiguous run of playing is a *turn*.

    An item that fails (`fault` says why) plays nothing: it and everything
    queued after it are dropped, the turn ends, and `on_failed` gets the id of
    the play() call the item came from. The caller heard nothing of it, so it
    is not kept in `heard`, and the turn does not count as finished."""

    def __init__(self, on_finished: Callable[[int], None], on_change: Callable[[], None], *,
                 fault: Callable[[Utterance], Fault | None] = _never_fails,
                 on_failed: Callable[[int, PlayoutFailure], None] = _ignore_failure) -> None:
        self.heard: list[AgentLine] = []
        self.turns_finished = 0  # turns that played out, not those stopped or failed
        self.turn_start: float | None = None  # None while silent
        self.silent_since = 0.0
        # Each item with the id of its play() call and its index there, to name
        # the playout and the item that failed.
        self._queue: deque[tuple[int, int, Utterance]] = deque()
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
        self._queue.extend((playout_id, index, item) for index, item in enumerate(items))
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
        playout_id, index, item = self._queue.popleft()
        fault = self._fault(item)
        if fault is not None:
            self._end_turn(loop_now())
            self._on_failed(playout_id, PlayoutFailure(fault[0], index, fault[1]))
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
                 fault: Callable[[str], str | None] = _never_files_fail,
                 on_failed: Callable[[int, PlayoutFailure], None] = _ignore_failure) -> None:
        self.played: list[AgentLine] = []
        self._track: tuple[str, float] | None = None  # url, start; None while silent
        self._timer: asyncio.Handle | None = None
        self._on_finished = on_finished
        self._fault = fault
        self._on_failed = on_failed

    def release(self) -> None:
        """Forget the callbacks (the owner is done with this track)."""
        self._on_finished, self._fault, self._on_failed = (
            _ignore_finished, _never_files_fail, _ignore_failure)

    def play(self, playout_id: int, url: str, loops: int) -> None:
        if loops < 0:
            raise ValueError(f"loops must be 0 (until stopped) or more, not {loops}")
        self.stop()
        loop = asyncio.get_running_loop()
        reason = self._fault(url)
        if reason is not None:
            # Deferred like every report, so it arrives after this call returns;
            # a stop before then cancels it: the runtime no longer wants the track.
            self._timer = loop.call_soon(self._on_failed, playout_id,
                                         PlayoutFailure(FailureKind.MEDIA, 0, reason))
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


class MediaPath:
    """What a simulated party hears: the foreground player and the background
    track, silent once `_muted()` (the call ended, the leg was closed); and
    what the runtime asked of it besides (listen settings, digits sent,
    recordings)."""

    _player: Player
    _background: Background
    listening: ListenSettings = ListenSettings()
    digits_sent: str = ""
    recordings: tuple[str, ...] = ()

    def listen(self, settings: ListenSettings) -> None:
        self.listening = settings

    def send_digits(self, digits: str) -> None:
        self.digits_sent += digits

    def start_recording(self, control_id: str, recording: Recording) -> str:
        self.recordings = (*self.recordings, control_id)
        return f"callkernel://recordings/{control_id}.{recording.format}"

    def stop_recording(self, control_id: str) -> None:
        self.recordings = tuple(r for r in self.recordings if r != control_id)

    def _muted(self) -> bool:
        raise NotImplementedError

    @property
    def heard(self) -> list[AgentLine]:
        return self._player.heard

    @property
    def background(self) -> list[AgentLine]:
        """The background tracks played, each from start to end."""
        return self._background.played

    def play(self, playout_id: int, items: Sequence[Utterance]) -> None:
        if not self._muted():
            self._player.play(playout_id, items)

    def stop_playout(self) -> Heard:
        return self._player.stop()

    def play_background(self, playout_id: int, url: str, loops: int) -> None:
        if not self._muted():
            self._background.play(playout_id, url, loops)

    def stop_background(self) -> None:
        self._background.stop()
