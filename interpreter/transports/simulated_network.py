"""The simulated telephone network: the legs a flow dials, from a caller script.

`SimulatedNetwork` implements `Telephony`: each destination rings, answers,
is busy, declines or never answers as the script's `destinations` say (an
unlisted destination answers after 1 s), and may lose its "answered" report
so that only a status query reveals it. An answered leg's media path is a
`SimulatedCallee`; the script's media faults are the caller's alone, so a
leg's media never fails. Outcomes are loop timers, so everything runs in virtual
time and a hangup cancels what is pending synchronously.
"""

from __future__ import annotations

import asyncio
import enum
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from interpreter.media.ports import (
    CallerChannel,
    CallSink,
    LegSink,
    Telephony,
)
from interpreter.transports.caller_script import (
    DEFAULT_PAUSE,
    UNLISTED,
    CallerScript,
    Destination,
    Outcome,
)
from interpreter.transports.script_follower import DIGIT_INTERVAL, CallerAction
from interpreter.transports.simulated import (
    BUSY_AFTER,
    DECLINED_AFTER,
    STATUS_DELAY,
    SimulatedCaller,
)
from interpreter.transports.simulated_media import AgentLine, Background, MediaPath, Player, stamp


def _no_hangup(leg_id: str) -> None:
    """For a released callee."""


class SimulatedCallee(MediaPath):
    """A called party's media path: hears what the flow plays it and, after each
    playout that finishes, presses its destination's digits (after `pause`).
    Background audio is only recorded: its end prompts no digits."""

    def __init__(self, leg_id: str, press: str, pause: float,
                 on_hangup: Callable[[str], None]) -> None:
        self.leg_id = leg_id
        self.said: list[CallerAction] = []
        self._press, self._pause, self._on_hangup = press, pause, on_hangup
        self._player = Player(self._playout_finished, lambda: None)
        self._background = Background(self._background_finished)
        self._sink: CallSink | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._closed = False

    def attach(self, sink: CallSink) -> None:
        self._sink = sink

    def answer(self) -> None:
        """The leg is already answered when the runtime gets its channel."""

    def _muted(self) -> bool:
        return self._closed

    def hangup(self, reason: str) -> None:
        """Hanging up the called party ends its leg (`leg_ended` follows)."""
        self._on_hangup(self.leg_id)

    def close(self) -> None:
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self._player.stop()
        self._background.stop()

    def release(self) -> None:
        """Drop the callbacks into this callee and the network (no cycles left)."""
        self._player.release()
        self._background.release()
        self._on_hangup = _no_hangup
        self._sink = None
        self._timers.clear()

    def _playout_finished(self, playout_id: int) -> None:
        if self._sink is None or self._closed:
            return
        self._sink.playout_finished(playout_id)
        loop = asyncio.get_running_loop()
        for index, digit in enumerate(self._press):
            self._timers.append(loop.call_later(self._pause + index * DIGIT_INTERVAL,
                                                self._digit, digit))

    def _background_finished(self, playout_id: int) -> None:
        if self._sink is not None and not self._closed:
            self._sink.playout_finished(playout_id)

    def _digit(self, digit: str) -> None:
        if self._sink is not None and not self._closed:
            self._sink.digit(digit)
            self.said.append(CallerAction("press", digit, stamp(), stamp()))


class LegStatus(enum.Enum):
    RINGING = "ringing"
    ANSWERED = "answered"
    FAILED = "failed"
    ENDED = "ended"


_MOVES = {
    LegStatus.RINGING: {LegStatus.ANSWERED, LegStatus.FAILED, LegStatus.ENDED},
    LegStatus.ANSWERED: {LegStatus.ENDED},
    LegStatus.FAILED: set(),
    LegStatus.ENDED: set(),
}


class SimulatedLeg:
    """One dialed leg: how its destination behaves, its true status, its media."""

    def __init__(self, leg_id: str, destination: str, behaviour: Destination, sink: LegSink,
                 channel: SimulatedCallee) -> None:
        self.leg_id, self.destination, self.behaviour = leg_id, destination, behaviour
        self.sink, self.channel = sink, channel
        self.status = LegStatus.RINGING
        self.dialed_at = stamp()
        self.events: list[tuple[float, str]] = []  # what happened, as reported or not
        self.timers: list[asyncio.Handle] = []

    @property
    def heard(self) -> list[AgentLine]:
        return self.channel.heard

    def move(self, target: LegStatus, event: str) -> bool:
        """Change status if allowed (FAILED and ENDED are terminal); log it."""
        if target not in _MOVES[self.status]:
            return False
        self.status = target
        self.events.append((stamp(), event))
        return True


class SimulatedNetwork:
    """A `Telephony` whose destinations behave as a caller script lists them;
    an unlisted destination answers after 1 s."""

    def __init__(self, destinations: Mapping[str, Destination] | None = None, *,
                 pause: float = DEFAULT_PAUSE) -> None:
        self.legs: dict[str, SimulatedLeg] = {}
        self._destinations = destinations or {}
        self._pause = pause
        self._queries: list[asyncio.Handle] = []
        self.bridged: list[str] = []  # legs bridged with the caller, in order

    @classmethod
    def for_script(cls, script: CallerScript) -> SimulatedNetwork:
        return cls(script.destinations, pause=script.pause)

    def dial(self, leg_id: str, destination: str, timeout: float, sink: LegSink) -> None:
        if leg_id in self.legs:
            raise ValueError(f"leg {leg_id!r} was already dialed")
        behaviour = self._destinations.get(destination, UNLISTED)
        channel = SimulatedCallee(leg_id, behaviour.press, self._pause, self.hangup)
        leg = self.legs[leg_id] = SimulatedLeg(leg_id, destination, behaviour, sink, channel)
        loop = asyncio.get_running_loop()
        leg.events.append((stamp(), "ringing"))
        leg.timers.append(loop.call_soon(sink.leg_ringing, leg_id))
        after = {Outcome.ANSWER: behaviour.answer_after, Outcome.BUSY: BUSY_AFTER,
                 Outcome.DECLINED: DECLINED_AFTER, Outcome.NO_ANSWER: math.inf}[behaviour.outcome]
        # The outcome comes first only if it beats the dial timeout; else no_answer.
        if after < timeout:
            leg.timers.append(loop.call_later(after, self._outcome, leg))
        else:
            leg.timers.append(loop.call_later(timeout, self._fail, leg, "no_answer"))

    def query(self, leg_id: str) -> None:
        leg = self._leg(leg_id)
        # The status is read when the reply goes out: that is the truth it reports.
        self._queries.append(asyncio.get_running_loop().call_later(
            STATUS_DELAY, lambda: leg.sink.leg_status(leg_id, leg.status.value)))

    def channel(self, leg_id: str) -> SimulatedCallee:
        return self._leg(leg_id).channel

    def bridge(self, leg_id: str) -> None:
        """Connect the caller with the leg: recorded, the media is text."""
        self.bridged.append(leg_id)

    def hangup(self, leg_id: str) -> None:
        """End a ringing or answered leg; a failed or ended one reports nothing more."""
        leg = self._leg(leg_id)
        if not leg.move(LegStatus.ENDED, "ended by hangup"):
            return
        self._stop(leg)
        leg.timers.append(asyncio.get_running_loop().call_soon(leg.sink.leg_ended, leg_id))

    async def close(self) -> None:
        """Cancel every pending report and silence every leg."""
        for handle in self._queries:
            handle.cancel()
        self._queries.clear()
        for leg in self.legs.values():
            self._stop(leg)
            leg.timers.clear()
            leg.channel.release()

    def _leg(self, leg_id: str) -> SimulatedLeg:
        try:
            return self.legs[leg_id]
        except KeyError:
            raise KeyError(f"no leg {leg_id!r} was dialed") from None

    def _stop(self, leg: SimulatedLeg) -> None:
        for handle in leg.timers:
            handle.cancel()
        leg.channel.close()

    def _outcome(self, leg: SimulatedLeg) -> None:
        behaviour = leg.behaviour
        if behaviour.outcome is not Outcome.ANSWER:
            self._fail(leg, behaviour.outcome.value)
            return
        lost = behaviour.lose_answered_event
        if not leg.move(LegStatus.ANSWERED, "answered (report lost)" if lost else "answered"):
            return
        if not lost:
            leg.sink.leg_answered(leg.leg_id)
        if behaviour.hangup_after is not None:
            leg.timers.append(asyncio.get_running_loop().call_later(
                behaviour.hangup_after, self._hung_up, leg))

    def _fail(self, leg: SimulatedLeg, reason: str) -> None:
        if leg.move(LegStatus.FAILED, f"failed: {reason}"):
            self._stop(leg)
            leg.sink.leg_failed(leg.leg_id, reason)

    def _hung_up(self, leg: SimulatedLeg) -> None:
        if leg.move(LegStatus.ENDED, "called party hung up"):
            self._stop(leg)
            leg.sink.leg_ended(leg.leg_id)


if TYPE_CHECKING:  # mypy proves each implementation satisfies its protocol

    def _conforms(script: CallerScript, network: SimulatedNetwork) -> tuple[
            CallerChannel, CallerChannel, Telephony]:
        return SimulatedCaller(script), network.channel(""), network
