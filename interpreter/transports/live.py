"""A simulated caller that reports the call as it happens (`run --real-time`).

`LiveCaller` is the text-media `SimulatedCaller` that hands each line of its
side of the call — what it did, what it heard, background audio — to a
`LineSink` when it happens, instead of only keeping records for after the
call. Printing the lines is the command's job (commands/conversation.py's
`LiveView`); the wording of the caller's lines lives here, beside the caller
that makes them, and the after-the-call view words them the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from interpreter.media.ports import CallSink, Heard, PlayoutFailure, Utterance
from interpreter.transports.caller_script import CallerScript
from interpreter.transports.forwarding import ForwardingSink
from interpreter.transports.script_follower import CallerAction
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_media import AgentLine, utterance_seconds


class LineSink(Protocol):
    """Where a live caller's lines go as they happen."""

    @property
    def start(self) -> float:
        """The loop time the call started at: lines are stamped from it."""
        ...

    def emit(self, t: float, who: str, text: str) -> None:
        """A line `t` seconds into the call, from `who` (caller, agent, sound)."""
        ...


def caller_text(action: CallerAction) -> str:
    verb = {"say": "", "press": "presses ", "hangup": "hangs up"}.get(action.kind, "")
    text = f"{verb}{action.value}" if action.kind != "hangup" else verb
    if action.kind == "sound":
        text = f"[{action.value}]"
    return text + (f"  ({action.note})" if action.note else "")


def played_line(kind: str, value: str) -> tuple[str, str]:
    """Who an item played to the caller is, and how to say it."""
    if kind == "say":
        return "agent", value
    if kind == "ring":
        return "sound", f"[ring {value}]" if value else "[ring]"
    return "agent", f"[{kind} {value}]"


def background_name(url: str) -> str:
    return "ringback" if url == "builtin:ringback" else f"background {url}"


def cut_off_text(line: AgentLine) -> str:
    if line.kind != "say":
        return f"(cut off: [{line.kind} {line.text}])"
    return f"(cut off; heard: \"{line.heard}\")" if line.heard \
        else "(cut off before a word was heard)"


class LiveCaller(SimulatedCaller):
    """A simulated caller whose view of the call is reported as it happens.

    The caller's actions are reported when they finish (a say when the words
    were recognized, a press after its last digit). Agent speech is reported
    when it starts playing: the media path plays queued items one after the
    other, each for `utterance_seconds`, so the start of each is known when it
    is queued; a stop, a failure or the end of the call drops what had not
    started, and a line cut off says so when it is cut."""

    def __init__(self, script: CallerScript, view: LineSink) -> None:
        super().__init__(script)
        self.view = view
        self._said = self._heard = self._tracks = 0
        self._queued: list[tuple[float, Utterance]] = []  # loop time each starts, item
        self._busy_until = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def attach(self, sink: CallSink) -> None:
        super().attach(_Reporting(sink, self))

    def play(self, playout_id: int, items: Sequence[Utterance]) -> None:
        super().play(playout_id, items)
        if self.ended:
            return
        now = asyncio.get_running_loop().time()
        start = max(now, self._busy_until)
        for item in items:
            if item.kind != "silence":
                self._queued.append((start, item))
            start += utterance_seconds(item)
        self._busy_until = start
        self._wake()

    def stop_playout(self) -> Heard:
        self.catch_up()  # the item playing now was shown before it is cut off
        heard = super().stop_playout()
        self._drop_queued()
        self.catch_up()
        return heard

    def play_background(self, playout_id: int, url: str, loops: int) -> None:
        super().play_background(playout_id, url, loops)
        if not self.ended:
            self.catch_up()
            self.view.emit(self._since(asyncio.get_running_loop().time()), "sound",
                           f"[{background_name(url)} starts]")

    def hangup(self, reason: str) -> None:
        self.catch_up()
        super().hangup(reason)
        self.catch_up()

    async def close(self) -> None:
        await super().close()
        self.catch_up()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def playout_failed(self) -> None:
        """The media path dropped what was queued and had not started."""
        now = asyncio.get_running_loop().time()
        self._queued = [(start, item) for start, item in self._queued if start <= now]
        self.catch_up()
        self._drop_queued()

    def catch_up(self) -> None:
        """Report what is due: agent items that have started, then what the
        caller did and heard since the last look, in that order."""
        view = self.view
        now = asyncio.get_running_loop().time()
        while self._queued and self._queued[0][0] <= now + 1e-6:
            start, item = self._queued.pop(0)
            who, text = played_line(item.kind, item.value)
            view.emit(self._since(start), who, text)
        if self.ended:
            self._drop_queued()
        for action in self.said[self._said:]:
            view.emit(self._since(action.end), "caller", caller_text(action))
        self._said = len(self.said)
        for line in self.heard[self._heard:]:
            if line.cut_off:
                view.emit(self._since(line.end), played_line(line.kind, "")[0],
                          cut_off_text(line))
        self._heard = len(self.heard)
        for track in self.background[self._tracks:]:
            view.emit(self._since(track.end), "sound", f"[{background_name(track.text)} "
                      f"{'stopped' if track.cut_off else 'ends'}]")
        self._tracks = len(self.background)
        self._wake()

    def _since(self, when: float) -> float:
        return when - self.view.start

    def _drop_queued(self) -> None:
        self._queued.clear()
        self._busy_until = 0.0

    def look_soon(self) -> None:
        """The caller records an action right after reporting it: look then."""
        asyncio.get_running_loop().call_soon(self.catch_up)

    def _wake(self) -> None:
        """Be woken when the next queued item starts."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._queued:
            self._timer = asyncio.get_running_loop().call_at(
                self._queued[0][0], self.catch_up)


class _Reporting(ForwardingSink):
    """The call's sink, with a look at the caller after each report the
    caller may be waiting on."""

    def __init__(self, sink: CallSink, caller: LiveCaller) -> None:
        super().__init__(sink)
        self._caller = caller
        self._after = caller.look_soon

    def transcript(self, text: str, final: bool = True, confidence: float = 1.0) -> None:
        super().transcript(text, final, confidence)
        self._after()

    def digit(self, digit: str) -> None:
        super().digit(digit)
        self._after()

    def hung_up(self) -> None:
        super().hung_up()
        self._after()

    def closed(self, reason: str) -> None:
        super().closed(reason)
        self._after()

    def playout_failed(self, playout_id: int, failure: PlayoutFailure) -> None:
        self._caller.playout_failed()
        super().playout_failed(playout_id, failure)

    def transcription_failed(self, reason: str) -> None:
        super().transcription_failed(reason)
        self._after()
