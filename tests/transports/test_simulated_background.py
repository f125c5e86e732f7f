"""Background audio on the simulated caller and called parties, in virtual time."""

from __future__ import annotations

import asyncio

import pytest

from interpreter.media.ports import Heard
from interpreter.transports.caller_script import (
    CallerScript,
    Cue,
    Destination,
    Faults,
    Hangup,
    Say,
    Timing,
)
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_media import URL_SECONDS, AgentLine
from interpreter.transports.simulated_network import SimulatedNetwork
from tests.transports.recording import Recorder, at, caller_run, run, say

HOLD = "https://example.com/hold.mp3"
CHIME = "https://example.com/chime.mp3"
MISSING = "https://example.com/missing.mp3"
QUIET = CallerScript(linger=100)


def test_a_track_plays_its_loops_then_reports_finished() -> None:
    assert URL_SECONDS == 2.0
    caller, sink = caller_run(QUIET, lambda c, _: c.play_background(4, HOLD, 3), until=10)
    assert sink.log == [(6.0, "playout_finished", (4,))]
    assert caller.background == [AgentLine("background", HOLD, 0.0, 6.0, False)]
    assert caller.heard == []


def test_loops_0_plays_until_stopped_and_stopping_reports_nothing() -> None:
    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play_background(1, HOLD, 0)
        at(37.5, caller.stop_background)

    caller, sink = caller_run(QUIET, drive, until=60)
    assert sink.log == []
    assert caller.background == [AgentLine("background", HOLD, 0.0, 37.5, True)]


def test_a_new_track_replaces_the_one_playing() -> None:
    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play_background(1, HOLD, 0)
        at(3.0, lambda: caller.play_background(2, CHIME, 1))

    caller, sink = caller_run(QUIET, drive, until=10)
    assert sink.log == [(5.0, "playout_finished", (2,))]
    assert caller.background == [AgentLine("background", HOLD, 0.0, 3.0, True),
                                 AgentLine("background", CHIME, 3.0, 5.0, False)]


def test_a_replaced_track_never_reports_finished() -> None:
    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play_background(1, HOLD, 2)  # would end at 4.0
        at(1.0, lambda: caller.play_background(2, CHIME, 5))

    _, sink = caller_run(QUIET, drive, until=20)
    assert sink.log == [(11.0, "playout_finished", (2,))]


def test_stopping_with_nothing_playing_records_nothing() -> None:
    caller, sink = caller_run(QUIET, lambda c, _: c.stop_background(), until=1)
    assert (caller.background, sink.log) == ([], [])


def test_background_leaves_the_agents_turns_and_barge_in_alone() -> None:
    stopped: list[Heard] = []

    def drive(caller: SimulatedCaller, sink: Recorder) -> None:
        caller.play_background(9, HOLD, 0)
        caller.play(1, say("one two three four five"))  # 0-2.0
        sink.on["speech_started"] = lambda: stopped.append(caller.stop_playout())
        sink.on["transcript"] = lambda text: caller.play(2, say("Sure"))

    script = CallerScript((Say("stop", Timing(Cue.BARGE_IN, 1.0)), Say("thanks")), linger=100)
    caller, sink = caller_run(script, drive, until=10)
    assert stopped[0] == Heard("one two", 2, 1.0)
    # "stop" 1.0-1.65, "Sure" 1.65-2.05, then the caller's turn after the pause.
    assert sink.log[:4] == [(1.0, "speech_started", ()), (1.65, "transcript", ("stop",)),
                            (2.05, "playout_finished", (2,)), (2.55, "speech_started", ())]
    assert [(line.text, line.cut_off) for line in caller.heard] == [
        ("one two three four five", True), ("Sure", False), ("Sure", False)]
    assert caller.background == [AgentLine("background", HOLD, 0.0, 10.0, True)]


def test_ending_the_call_stops_the_track_without_a_report() -> None:
    script = CallerScript((Hangup(Timing(Cue.AT, 4.0)),))
    caller, sink = caller_run(script, lambda c, _: c.play_background(1, HOLD, 10), until=30)
    assert sink.log == [(4.0, "hung_up", ())]
    assert caller.background == [AgentLine("background", HOLD, 0.0, 4.0, True)]


def test_background_after_the_call_ended_is_ignored() -> None:
    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.hangup("flow ended")
        caller.play_background(1, HOLD, 1)

    caller, sink = caller_run(QUIET, drive, until=10)
    assert (caller.background, sink.log) == ([], [])


def test_a_missing_file_fails_the_track_after_play_background_returns() -> None:
    script = CallerScript(linger=100, faults=Faults(files=frozenset({MISSING})))
    reported: list[int] = []

    def drive(caller: SimulatedCaller, sink: Recorder) -> None:
        caller.play_background(3, MISSING, 0)
        reported.append(len(sink.log))

    caller, sink = caller_run(script, drive, until=10)
    assert reported == [0]
    assert sink.log == [(0.0, "playout_failed", (3, f"media: could not fetch {MISSING}"))]
    assert caller.background == []


def test_stopping_before_the_failure_is_reported_cancels_it() -> None:
    script = CallerScript(linger=100, faults=Faults(files=frozenset({MISSING})))

    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play_background(3, MISSING, 0)
        caller.play_background(4, HOLD, 1)

    _, sink = caller_run(script, drive, until=10)
    assert sink.log == [(2.0, "playout_finished", (4,))]


def test_negative_loops_are_refused() -> None:
    async def scenario() -> None:
        caller = SimulatedCaller(QUIET)
        with pytest.raises(ValueError, match="loops must be 0"):
            caller.play_background(1, HOLD, -1)
        await caller.close()

    run(scenario)


def test_a_called_party_records_background_and_presses_nothing_for_it() -> None:
    party = Recorder()
    network = SimulatedNetwork({"+1": Destination(answer_after=1, press="1")})

    async def scenario() -> None:
        sink = Recorder()
        sink.on["leg_answered"] = lambda leg_id: (network.channel(leg_id).attach(party),
                                                  network.channel(leg_id).play_background(
                                                      7, HOLD, 1))
        network.dial("leg", "+1", 25, sink)
        await asyncio.sleep(10)
        await network.close()

    run(scenario)
    assert party.log == [(3.0, "playout_finished", (7,))]
    assert network.channel("leg").background == [AgentLine("background", HOLD, 1.0, 3.0, False)]
