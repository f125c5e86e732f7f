"""A recording sink and helpers for running the simulated transports in virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from interpreter.clock import run_virtual
from interpreter.media.ports import Heard, PlayoutFailure, Utterance
from interpreter.transports.caller_script import CallerScript
from interpreter.transports.simulated import SimulatedCaller

Entry = tuple[float, str, tuple[object, ...]]


class Recorder:
    """A CallSink and a LegSink that log every report with its virtual time and
    can react to one, as the runtime would (`on["transcript"] = ...`)."""

    def __init__(self) -> None:
        self.log: list[Entry] = []
        self.on: dict[str, Callable[..., object]] = {}

    def _report(self, name: str, *args: object) -> None:
        self.log.append((round(asyncio.get_running_loop().time(), 6), name, args))
        react = self.on.get(name)
        if react is not None:
            react(*args)

    def speech_started(self) -> None:
        self._report("speech_started")

    def transcript(self, text: str, final: bool = True, confidence: float = 1.0) -> None:
        self._report("transcript", text)

    def digit(self, digit: str) -> None:
        self._report("digit", digit)

    def hung_up(self) -> None:
        self._report("hung_up")

    def closed(self, reason: str) -> None:
        self._report("closed", reason)

    def playout_finished(self, playout_id: int) -> None:
        self._report("playout_finished", playout_id)

    def playout_stopped(self, playout_id: int, heard: Heard, cause: str) -> None:
        self._report("playout_stopped", playout_id, heard.text, cause)

    def playout_paused(self, paused: bool, why: str) -> None:
        self._report("playout_paused", paused, why)

    def speech_noted(self, note: str) -> None:
        self._report("speech_noted", note)

    def playout_failed(self, playout_id: int, failure: PlayoutFailure) -> None:
        self._report("playout_failed", playout_id, f"{failure.kind.value}: {failure.reason}")

    def transcription_failed(self, reason: str) -> None:
        self._report("transcription_failed", reason)

    def leg_ringing(self, leg_id: str) -> None:
        self._report("leg_ringing", leg_id)

    def leg_answered(self, leg_id: str) -> None:
        self._report("leg_answered", leg_id)

    def leg_failed(self, leg_id: str, reason: str) -> None:
        self._report("leg_failed", leg_id, reason)

    def leg_ended(self, leg_id: str) -> None:
        self._report("leg_ended", leg_id)

    def leg_status(self, leg_id: str, status: str) -> None:
        self._report("leg_status", leg_id, status)


def say(text: str) -> list[Utterance]:
    return [Utterance("say", text)]


def at(when: float, action: Callable[[], object]) -> None:
    asyncio.get_running_loop().call_at(when, action)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run in virtual time; the scenario must leave no task behind."""

    async def main() -> None:
        await scenario()
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_virtual(main)


def caller_run(script: CallerScript, drive: Callable[[SimulatedCaller, Recorder], None],
               until: float = 60.0) -> tuple[SimulatedCaller, Recorder]:
    """Attach a caller, let `drive` set up the runtime's side, run to `until`."""
    caller, sink = SimulatedCaller(script), Recorder()

    async def scenario() -> None:
        caller.attach(sink)
        drive(caller, sink)
        await asyncio.sleep(until)
        await caller.close()

    run(scenario)
    return caller, sink
