"""Small transport doubles for call tests that need exact control of timing.

They implement the transport protocols and only report through the sinks,
like a real transport; each report is scheduled on the loop's (virtual) clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from interpreter.media.ports import (
    CallerChannel,
    CallSink,
    Heard,
    LegSink,
    ListenSettings,
    Recording,
    Utterance,
)

SECONDS_PER_WORD = 0.4


def later(seconds: float, action: Callable[[], None]) -> asyncio.TimerHandle:
    return asyncio.get_running_loop().call_later(seconds, action)


@dataclass
class ScriptedChannel:
    """A caller whose actions are fixed in time: (seconds, sink method, args)."""

    actions: list[tuple[float, str, tuple[object, ...]]] = field(default_factory=list)
    played: list[tuple[float, str]] = field(default_factory=list)
    # play_background calls as (time, playout id, url, loops), and stop times.
    backgrounds: list[tuple[float, int, str, int]] = field(default_factory=list)
    background_stops: list[float] = field(default_factory=list)
    hung_up: str | None = None
    listening: list[ListenSettings] = field(default_factory=list)
    digits_sent: str = ""
    sink: CallSink | None = None
    _playing: asyncio.TimerHandle | None = None
    _started: float = 0.0
    _text: str = ""

    def attach(self, sink: CallSink) -> None:
        self.sink = sink
        for at, method, args in self.actions:
            later(at, lambda m=method, a=args: getattr(sink, m)(*a))

    def answer(self) -> None:
        pass

    def play(self, playout_id: int, items: list[Utterance]) -> None:
        loop = asyncio.get_running_loop()
        self._text = " ".join(item.value for item in items if item.kind == "say")
        self._started = loop.time()
        self.played.append((loop.time(), self._text))
        duration = len(self._text.split()) * SECONDS_PER_WORD
        assert self.sink is not None
        sink = self.sink
        self._playing = later(duration, lambda: sink.playout_finished(playout_id))

    def stop_playout(self) -> Heard:
        if self._playing is not None:
            self._playing.cancel()
        elapsed = asyncio.get_running_loop().time() - self._started
        words = self._text.split()[: int(elapsed / SECONDS_PER_WORD)]
        return Heard(" ".join(words), len(words), elapsed)

    def play_background(self, playout_id: int, url: str, loops: int) -> None:
        self.backgrounds.append((asyncio.get_running_loop().time(), playout_id, url, loops))

    def stop_background(self) -> None:
        self.background_stops.append(asyncio.get_running_loop().time())

    def hangup(self, reason: str) -> None:
        self.hung_up = reason

    def listen(self, settings: ListenSettings) -> None:
        self.listening.append(settings)

    def send_digits(self, digits: str) -> None:
        self.digits_sent += digits

    def start_recording(self, control_id: str, recording: Recording) -> str:
        return f"test://{control_id}.{recording.format}"

    def stop_recording(self, control_id: str) -> None:
        pass


@dataclass
class Destination:
    answer_after: float | None = 1.0  # None: never answers by itself
    fail: str | None = None  # "busy", "no_answer", ...
    lose_answered_event: bool = False
    ignore_cancel: bool = False  # the far end answers even after we hang up
    hangup_after: float | None = None


@dataclass
class ScriptedTelephony:
    destinations: dict[str, Destination] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    hangups: list[tuple[float, str]] = field(default_factory=list)
    bridged: list[str] = field(default_factory=list)
    sinks: dict[str, LegSink] = field(default_factory=dict)
    _timers: dict[str, list[asyncio.TimerHandle]] = field(default_factory=dict)

    def dial(self, leg_id: str, destination: str, timeout: float, sink: LegSink) -> None:
        spec = self.destinations.get(destination, Destination())
        self.sinks[leg_id] = sink
        self.status[leg_id] = "ringing"
        sink.leg_ringing(leg_id)
        timers = self._timers.setdefault(leg_id, [])
        if spec.fail:
            timers.append(later(0.5, lambda: self._fail(leg_id, spec.fail or "failed")))
        elif spec.answer_after is not None:
            timers.append(later(spec.answer_after, lambda: self._answer(leg_id, spec)))

    def _answer(self, leg_id: str, spec: Destination) -> None:
        self.status[leg_id] = "answered"
        if not spec.lose_answered_event:
            self.sinks[leg_id].leg_answered(leg_id)
        if spec.hangup_after is not None:
            self._timers[leg_id].append(later(spec.hangup_after, lambda: self._end(leg_id)))

    def _fail(self, leg_id: str, reason: str) -> None:
        self.status[leg_id] = "failed"
        self.sinks[leg_id].leg_failed(leg_id, reason)

    def _end(self, leg_id: str) -> None:
        if self.status.get(leg_id) != "ended":
            self.status[leg_id] = "ended"
            self.sinks[leg_id].leg_ended(leg_id)

    def query(self, leg_id: str) -> None:
        later(0.1, lambda: self.sinks[leg_id].leg_status(leg_id, self.status[leg_id]))

    def bridge(self, leg_id: str) -> None:
        self.bridged.append(leg_id)

    def channel(self, leg_id: str) -> CallerChannel:
        raise NotImplementedError("confirm is exercised with the simulated network")

    def hangup(self, leg_id: str) -> None:
        self.hangups.append((asyncio.get_running_loop().time(), leg_id))
        spec_ignores = any(d.ignore_cancel for d in self.destinations.values())
        if self.status.get(leg_id) == "ringing" and spec_ignores:
            return  # the carrier has not processed the cancel; the answer may still come
        for timer in self._timers.get(leg_id, []):
            timer.cancel()
        later(0.05, lambda: self._end(leg_id))
