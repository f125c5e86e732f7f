"""The simulated caller and network, under the virtual clock: exact timings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from interpreter.media.ports import Heard, Utterance
from interpreter.transports.caller_script import (
    CallerScript,
    Cue,
    Destination,
    Hangup,
    Outcome,
    Press,
    Say,
    Timing,
    Wait,
    load_caller_script,
)
from interpreter.transports.script_follower import CallerAction
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_media import WORDS_PER_SECOND, AgentLine
from interpreter.transports.simulated_network import LegStatus, SimulatedNetwork
from tests.transports.recording import Entry, Recorder, at, caller_run, run, say

FIVE = "one two three four five"
QUIET = CallerScript(linger=100)  # no steps: only hears


def test_say_plays_at_the_word_rate_and_reports_its_playout_id() -> None:
    assert WORDS_PER_SECOND == 2.5
    caller, sink = caller_run(QUIET, lambda c, _: c.play(7, say(FIVE)), until=10)
    assert sink.log == [(2.0, "playout_finished", (7,))]
    assert caller.heard == [AgentLine("say", FIVE, 0.0, 2.0, False, FIVE)]


def test_url_silence_and_ring_items_have_fixed_durations() -> None:
    items = [Utterance("url", "https://x/a.mp3"), Utterance("silence", "1.5"),
             Utterance("ring", "us"), Utterance("say", "bye now")]
    caller, sink = caller_run(QUIET, lambda c, _: c.play(1, items), until=10)
    assert sink.log == [(6.3, "playout_finished", (1,))]
    assert [(line.kind, round(line.start, 6), round(line.end, 6)) for line in caller.heard] == [
        ("url", 0.0, 2.0), ("ring", 3.5, 5.5), ("say", 5.5, 6.3)]


def test_an_empty_playout_finishes_at_once_after_play_returns() -> None:
    _, sink = caller_run(QUIET, lambda c, _: c.play(4, []), until=1)
    assert sink.log == [(0.0, "playout_finished", (4,))]


def test_play_while_playing_appends_and_finishes_with_the_new_id() -> None:
    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play(1, say(FIVE))
        at(1.0, lambda: caller.play(2, say("six seven")))

    caller, sink = caller_run(QUIET, drive, until=10)
    assert sink.log == [(2.8, "playout_finished", (2,))]
    assert [line.text for line in caller.heard] == [FIVE, "six seven"]


@pytest.mark.parametrize(("when", "text"), [
    (0.39, ""), (0.4, "one"), (1.0, "one two"), (1.2, "one two three"),
    (1.99, "one two three four")])
def test_stop_playout_keeps_only_the_words_fully_played(when: float, text: str) -> None:
    stopped: list[Heard] = []

    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play(1, say(FIVE))
        at(when, lambda: stopped.append(caller.stop_playout()))

    caller, sink = caller_run(QUIET, drive, until=10)
    words = len(text.split())
    assert stopped == [Heard(text, words, when)]
    assert sink.log == []  # a stopped playout never reports finished
    assert caller.heard == [AgentLine("say", FIVE, 0.0, when, True, text)]


def test_stop_playout_covers_every_item_of_the_turn() -> None:
    stopped: list[Heard] = []

    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play(1, [Utterance("say", "a b"), Utterance("url", "u")])
        caller.play(2, say("c d e"))
        at(3.3, lambda: stopped.append(caller.stop_playout()))

    caller_run(QUIET, drive, until=10)
    assert stopped == [Heard("a b c", 3, 3.3)]


def test_stop_playout_while_silent_heard_nothing() -> None:
    stopped: list[Heard] = []
    caller_run(QUIET, lambda c, _: stopped.append(c.stop_playout()), until=1)
    assert stopped == [Heard("", 0, 0.0)]


def greet_then_reply(caller: SimulatedCaller, sink: Recorder) -> None:
    """A runtime that greets at 0.5 s and answers every transcript at once."""
    at(0.5, lambda: caller.play(1, say("Welcome to Acme")))
    sink.on["transcript"] = lambda text: caller.play(2, say("Sure thing"))
    sink.on["digit"] = lambda digit: caller.play(3, say("Got it"))


def test_say_waits_for_the_agent_to_finish_then_pause() -> None:
    script = CallerScript((Say("I'd like to talk to sales"),), linger=100)
    caller, sink = caller_run(script, greet_then_reply, until=10)
    # Greeting 0.5-1.7 s; pause 0.5; six words at 0.35 s + 0.3 s endpointing.
    assert sink.log[:2] == [(1.7, "playout_finished", (1,)), (2.2, "speech_started", ())]
    assert sink.log[2] == (4.6, "transcript", ("I'd like to talk to sales",))
    assert caller.said == [CallerAction("say", "I'd like to talk to sales", 2.2, 4.6)]


def test_back_to_back_playouts_are_one_turn_to_wait_for() -> None:
    def drive(caller: SimulatedCaller, sink: Recorder) -> None:
        caller.play(1, say("Thank you for calling"))  # 1.6 s
        sink.on["playout_finished"] = lambda pid: caller.play(2, say("Press one")) if pid == 1 \
            else None

    _, sink = caller_run(CallerScript((Press("1"),), linger=100), drive, until=10)
    assert sink.log == [(1.6, "playout_finished", (1,)), (2.4, "playout_finished", (2,)),
                        (2.9, "digit", ("1",))]


def test_press_reports_one_digit_every_0_15_s() -> None:
    script = CallerScript((Press("1#", Timing(Cue.AT, 2.0)),), linger=100)
    _, sink = caller_run(script, lambda c, s: None, until=10)
    assert sink.log == [(2.0, "digit", ("1",)), (2.15, "digit", ("#",))]


def test_barge_in_speaks_after_the_agent_starts_and_cuts_it_at_a_word() -> None:
    stopped: list[Heard] = []

    def drive(caller: SimulatedCaller, sink: Recorder) -> None:
        at(3.0, lambda: caller.play(1, say(FIVE)))
        sink.on["speech_started"] = lambda: stopped.append(caller.stop_playout())

    script = CallerScript((Say("wait stop", Timing(Cue.BARGE_IN, 0.9)),), linger=100)
    caller, sink = caller_run(script, drive, until=10)
    assert sink.log == [(3.9, "speech_started", ()), (4.9, "transcript", ("wait stop",))]
    assert stopped == [Heard("one two", 2, 0.9)]
    assert caller.heard[0].cut_off


def test_a_stopped_turn_does_not_count_as_the_agent_finishing() -> None:
    def drive(caller: SimulatedCaller, sink: Recorder) -> None:
        caller.play(1, say(FIVE))
        sink.on["speech_started"] = caller.stop_playout
        sink.on["transcript"] = lambda text: caller.play(2, say("Sure thing"))

    script = CallerScript((Say("hi", Timing(Cue.BARGE_IN, 0.4)), Say("thanks")), linger=100)
    _, sink = caller_run(script, drive, until=10)
    # "hi" 0.4-1.05 stops the greeting; the reply plays 1.05-1.85; then "thanks".
    assert [entry for entry in sink.log if entry[1] == "speech_started"] == [
        (0.4, "speech_started", ()), (2.35, "speech_started", ())]


def test_wait_and_after_count_from_the_end_of_the_previous_step() -> None:
    script = CallerScript((Press("1", Timing(Cue.AT, 1.0)), Wait(2.5),
                           Press("2", Timing(Cue.AFTER, 0.5))), linger=100)
    _, sink = caller_run(script, lambda c, s: None, until=10)
    assert sink.log == [(1.0, "digit", ("1",)), (4.0, "digit", ("2",))]


def test_after_hearing_waits_for_the_phrase_then_the_end_of_the_turn() -> None:
    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play(1, say("Welcome"))  # 0-0.4
        at(2.0, lambda: caller.play(2, [Utterance("say", "Press 0 for an operator."),
                                        Utterance("say", "Goodbye")]))  # 2-4.4

    script = CallerScript((Say("operator", Timing(Cue.TURN, 0.0, "press 0")),), linger=100)
    _, sink = caller_run(script, drive, until=10)
    assert (4.9, "speech_started", ()) in sink.log


def test_after_hearing_with_barge_in_targets_the_next_utterance() -> None:
    def drive(caller: SimulatedCaller, sink: Recorder) -> None:
        caller.play(1, say("Thank you for calling"))  # 0-1.6
        sink.on["playout_finished"] = lambda pid: caller.play(2, say(FIVE)) if pid == 1 else None

    timing = Timing(Cue.BARGE_IN, 1.0, "for calling")
    _, sink = caller_run(CallerScript((Say("sales", timing),), linger=100), drive, until=10)
    assert (2.6, "speech_started", ()) in sink.log


def test_hangup_step_reports_once_and_then_the_caller_reports_nothing() -> None:
    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        at(2.0, lambda: caller.play(1, say(FIVE)))

    script = CallerScript((Hangup(Timing(Cue.AFTER, 1.5)),))
    caller, sink = caller_run(script, drive, until=10)
    assert sink.log == [(1.5, "hung_up", ())]
    assert (caller.end_reason, caller.ended_at) == ("caller hung up", 1.5)
    assert caller.heard == []


def test_the_caller_hangs_up_after_lingering_past_the_last_step() -> None:
    script = CallerScript((Press("1", Timing(Cue.AT, 1.0)),), linger=5)
    caller, sink = caller_run(script, lambda c, s: None, until=10)
    assert sink.log == [(1.0, "digit", ("1",)), (6.0, "hung_up", ())]
    assert caller.said[-1] == CallerAction("hangup", "", 6.0, 6.0, "linger")


def test_patience_runs_out_when_the_agent_never_speaks() -> None:
    script = CallerScript((Say("hello?"),), patience=4, linger=100)
    caller, sink = caller_run(script, lambda c, s: None, until=10)
    assert sink.log[0] == (4.0, "speech_started", ())
    assert caller.said[0].note == "patience ran out"


def test_a_runtime_hangup_mid_speech_ends_the_script_without_a_transcript() -> None:
    caller, sink = SimulatedCaller(CallerScript((Say("a b c d e f"),))), Recorder()

    async def scenario() -> None:
        caller.attach(sink)
        caller.play(1, say("hi"))  # 0-0.4, caller speaks from 0.9
        at(1.5, lambda: caller.hangup("flow ended"))
        await caller.finished()
        assert asyncio.get_running_loop().time() == pytest.approx(1.5)
        caller.play(2, say("late"))
        await asyncio.sleep(5)
        await caller.close()

    run(scenario)
    assert sink.log == [(0.4, "playout_finished", (1,)), (0.9, "speech_started", ())]
    assert caller.said == [CallerAction("say", "a b c d e f", 0.9, 1.5)]
    assert caller.end_reason == "flow ended"


def test_close_before_the_script_ends_cancels_it() -> None:
    caller = SimulatedCaller(CallerScript((Say("hi"),)))

    async def scenario() -> None:
        caller.attach(Recorder())
        await asyncio.sleep(1)
        await caller.close()

    run(scenario)
    assert caller.end_reason == "closed"


# ------------------------------------------------------------------ network


def network_run(destinations: dict[str, Destination],
                drive: Callable[[SimulatedNetwork, Recorder], None],
                until: float = 60.0) -> tuple[SimulatedNetwork, Recorder]:
    network, sink = SimulatedNetwork(destinations), Recorder()

    async def scenario() -> None:
        drive(network, sink)
        await asyncio.sleep(until)
        await network.close()

    run(scenario)
    return network, sink


@pytest.mark.parametrize(("destination", "timeout", "outcome"), [
    (Destination(answer_after=3), 25, (3.0, "leg_answered", ("leg",))),
    (None, 25, (1.0, "leg_answered", ("leg",))),
    (Destination(Outcome.BUSY), 25, (0.5, "leg_failed", ("leg", "busy"))),
    (Destination(Outcome.DECLINED), 25, (1.0, "leg_failed", ("leg", "declined"))),
    (Destination(Outcome.NO_ANSWER), 25, (25.0, "leg_failed", ("leg", "no_answer"))),
    (Destination(answer_after=30), 25, (25.0, "leg_failed", ("leg", "no_answer"))),
])
def test_a_dial_rings_at_once_then_reports_its_destination_outcome(
        destination: Destination | None, timeout: float, outcome: Entry) -> None:
    listed = {"+1": destination} if destination is not None else {}
    _, sink = network_run(listed, lambda n, s: n.dial("leg", "+1", timeout, s))
    assert sink.log == [(0.0, "leg_ringing", ("leg",)), outcome]


def test_a_lost_answered_event_is_revealed_only_by_a_status_query() -> None:
    def drive(network: SimulatedNetwork, sink: Recorder) -> None:
        network.dial("leg", "+1", 25, sink)
        at(1.0, lambda: network.query("leg"))
        at(5.0, lambda: network.query("leg"))

    network, sink = network_run({"+1": Destination(answer_after=2, lose_answered_event=True)},
                                drive)
    assert sink.log == [(0.0, "leg_ringing", ("leg",)),
                        (1.1, "leg_status", ("leg", "ringing")),
                        (5.1, "leg_status", ("leg", "answered"))]
    assert network.legs["leg"].events[1] == (2.0, "answered (report lost)")


def test_hanging_up_a_ringing_leg_cancels_the_dial() -> None:
    def drive(network: SimulatedNetwork, sink: Recorder) -> None:
        network.dial("leg", "+1", 25, sink)
        at(1.0, lambda: network.hangup("leg"))
        at(2.0, lambda: network.query("leg"))

    network, sink = network_run({"+1": Destination(answer_after=3)}, drive)
    assert sink.log == [(0.0, "leg_ringing", ("leg",)), (1.0, "leg_ended", ("leg",)),
                        (2.1, "leg_status", ("leg", "ended"))]
    assert network.legs["leg"].status is LegStatus.ENDED


def test_an_answered_leg_hangs_up_after_hangup_after() -> None:
    _, sink = network_run({"+1": Destination(answer_after=1, hangup_after=20)},
                          lambda n, s: n.dial("leg", "+1", 25, s))
    assert sink.log[1:] == [(1.0, "leg_answered", ("leg",)), (21.0, "leg_ended", ("leg",))]


def test_the_called_party_hears_the_brief_then_presses_its_digits() -> None:
    brief = "Incoming transfer. Caller Dana. Press 1 to take the call."  # 10 words
    party = Recorder()

    def drive(network: SimulatedNetwork, sink: Recorder) -> None:
        def answered(leg_id: str) -> None:
            channel = network.channel(leg_id)
            channel.attach(party)
            channel.play(9, say(brief))
        sink.on["leg_answered"] = answered
        network.dial("leg", "+1", 25, sink)

    network, _ = network_run({"+1": Destination(answer_after=1, press="1#")}, drive)
    assert party.log == [(5.0, "playout_finished", (9,)), (5.5, "digit", ("1",)),
                         (5.65, "digit", ("#",))]
    assert [line.heard for line in network.legs["leg"].heard] == [brief]


def test_hanging_up_the_called_partys_channel_ends_the_leg() -> None:
    def drive(network: SimulatedNetwork, sink: Recorder) -> None:
        sink.on["leg_answered"] = lambda leg_id: network.channel(leg_id).hangup("declined")
        network.dial("leg", "+1", 25, sink)

    _, sink = network_run({}, drive)
    assert sink.log[1:] == [(1.0, "leg_answered", ("leg",)), (1.0, "leg_ended", ("leg",))]


def test_close_cancels_every_pending_report() -> None:
    def drive(network: SimulatedNetwork, sink: Recorder) -> None:
        network.dial("leg", "+1", 25, sink)
        network.query("leg")

    _, sink = network_run({}, drive, until=0.05)
    assert sink.log == [(0.0, "leg_ringing", ("leg",))]


def test_an_unknown_leg_is_a_clear_error() -> None:
    network = SimulatedNetwork()
    with pytest.raises(KeyError, match="no leg 'nope' was dialed"):
        network.query("nope")


def test_a_script_drives_a_caller_and_a_network_together() -> None:
    script = load_caller_script(
        'steps:\n  - press: "0"\n  - hangup: {after: 10}\n'
        'destinations:\n  "+15550100000": {outcome: busy}\n', "call.yaml")
    caller, network, sink = SimulatedCaller(script), SimulatedNetwork.for_script(script), Recorder()

    async def scenario() -> None:
        caller.attach(sink)
        caller.play(1, say("Press zero"))
        sink.on["digit"] = lambda d: network.dial("op", "+15550100000", 30, sink)
        sink.on["leg_failed"] = lambda leg, reason: caller.play(2, say("All busy"))
        await caller.finished()
        await network.close()

    run(scenario)
    assert sink.log == [(0.8, "playout_finished", (1,)), (1.3, "digit", ("0",)),
                        (1.3, "leg_ringing", ("op",)), (1.8, "leg_failed", ("op", "busy")),
                        (2.6, "playout_finished", (2,)), (11.3, "hung_up", ())]
