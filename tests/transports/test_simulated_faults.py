"""Injected media faults on the simulated caller, under the virtual clock."""

from __future__ import annotations

import pytest

from interpreter.media.ports import FALLBACK_VOICE, Heard, Utterance, Voice
from interpreter.transports.caller_script import (
    CallerScript,
    Cue,
    Faults,
    Say,
    Timing,
    TtsFault,
    load_caller_script,
)
from interpreter.transports.script_follower import CallerAction
from interpreter.transports.simulated import GARBLED, SimulatedCaller
from interpreter.transports.simulated_media import AgentLine
from tests.transports.recording import Recorder, at, caller_run, say

STATUS = "Your order status is shipped"  # 5 words, 2.0 s
MISSING = "https://example.com/missing.mp3"
TTS_FAILED = 'speech: synthesis failed for voice "default"'
FAULTY = CallerScript(linger=100, faults=Faults(tts=(TtsFault("order status"),),
                                                files=frozenset({MISSING})))


def failures(sink: Recorder) -> list[tuple[float, object, object]]:
    """(time, playout id, reason) of each failure reported."""
    return [(t, args[0], args[1]) for t, name, args in sink.log if name == "playout_failed"]


def test_a_tts_fault_drops_the_item_and_the_rest_of_the_queue() -> None:
    items = [Utterance("say", "Thanks for waiting"), Utterance("say", STATUS),
             Utterance("say", "Anything else?")]
    caller, sink = caller_run(FAULTY, lambda c, _: c.play(3, items), until=10)
    # "Thanks for waiting" plays 0-1.2; the status fails as it would start.
    assert sink.log == [(1.2, "playout_failed", (3, TTS_FAILED))]
    assert caller.heard == [AgentLine("say", "Thanks for waiting", 0.0, 1.2, False,
                                      "Thanks for waiting")]


def test_the_failure_names_the_playout_whose_item_failed() -> None:
    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play(1, say(STATUS))
        caller.play(2, say("and more"))  # queued behind it: dropped with it

    caller, sink = caller_run(FAULTY, drive, until=10)
    assert sink.log == [(0.0, "playout_failed", (1, TTS_FAILED))]
    assert caller.heard == []


def test_a_failing_item_of_a_later_playout_reports_that_playout() -> None:
    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play(1, say("one two"))
        caller.play(2, say(STATUS))

    caller, sink = caller_run(FAULTY, drive, until=10)
    assert sink.log == [(0.8, "playout_failed", (2, TTS_FAILED))]
    assert [line.text for line in caller.heard] == ["one two"]


def test_the_failure_is_reported_after_play_returns() -> None:
    reported: list[int] = []

    def drive(caller: SimulatedCaller, sink: Recorder) -> None:
        caller.play(1, say(STATUS))
        reported.append(len(sink.log))

    _, sink = caller_run(FAULTY, drive, until=1)
    assert reported == [0]
    assert len(sink.log) == 1


def test_a_failed_turn_is_over_but_does_not_count_as_the_agent_finishing() -> None:
    stopped: list[Heard] = []

    def drive(caller: SimulatedCaller, sink: Recorder) -> None:
        caller.play(1, say(STATUS))
        at(1.0, lambda: stopped.append(caller.stop_playout()))

    script = CallerScript((Say("hello?"),), patience=5, linger=100, faults=FAULTY.faults)
    caller, sink = caller_run(script, drive, until=10)
    assert stopped == [Heard("", 0, 0.0)]  # nothing left to stop
    assert (5.0, "speech_started", ()) in sink.log
    assert caller.said[0].note == "patience ran out"


def test_the_runtimes_retry_in_the_fallback_voice_succeeds() -> None:
    def drive(caller: SimulatedCaller, sink: Recorder) -> None:
        caller.play(1, say(STATUS))
        sink.on["playout_failed"] = lambda playout, reason: caller.play(
            2, [Utterance("say", STATUS, FALLBACK_VOICE)])

    script = CallerScript((Say("thanks"),), linger=100, faults=FAULTY.faults)
    caller, sink = caller_run(script, drive, until=10)
    # The retry plays 0-2.0; the caller takes its turn after the 0.5 s pause.
    assert sink.log[:3] == [(0.0, "playout_failed", (1, TTS_FAILED)),
                            (2.0, "playout_finished", (2,)), (2.5, "speech_started", ())]
    assert caller.heard == [AgentLine("say", STATUS, 0.0, 2.0, False, STATUS)]


def test_all_voices_fails_the_fallback_voice_too() -> None:
    faults = Faults(tts=(TtsFault("order status", times=0, all_voices=True),))

    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play(1, say(STATUS))
        at(1.0, lambda: caller.play(2, [Utterance("say", STATUS, FALLBACK_VOICE)]))
        at(2.0, lambda: caller.play(3, [Utterance("say", STATUS, Voice.parse("en-GB-Neural"))]))

    caller, sink = caller_run(CallerScript(linger=100, faults=faults), drive, until=10)
    assert failures(sink) == [(0.0, 1, TTS_FAILED),
                              (1.0, 2, 'speech: synthesis failed for voice "callkernel.fallback"'),
                              (2.0, 3, 'speech: synthesis failed for voice "en-GB-Neural"')]
    assert caller.heard == []


def test_without_all_voices_every_voice_but_the_fallback_fails() -> None:
    faults = Faults(tts=(TtsFault("order status", times=0),))

    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        # A language's voice.
        caller.play(1, [Utterance("say", STATUS, Voice.parse("rime.spore:mistv2"))])
        at(1.0, lambda: caller.play(2, [Utterance("say", STATUS, FALLBACK_VOICE)]))

    caller, sink = caller_run(CallerScript(linger=100, faults=faults), drive, until=10)
    assert sink.log == [(0.0, "playout_failed", (1, 'speech: synthesis failed for voice '
                                                    '"rime.spore:mistv2"')),
                        (3.0, "playout_finished", (2,))]
    assert [line.heard for line in caller.heard] == [STATUS]


@pytest.mark.parametrize(("times", "failed"), [(1, [1]), (2, [1, 2]), (0, [1, 2, 3, 4])])
def test_times_counts_the_failures_and_0_fails_every_time(times: int,
                                                          failed: list[int]) -> None:
    faults = Faults(tts=(TtsFault("order status", times=times),))

    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        for playout in range(1, 5):
            at(playout * 3.0, lambda p=playout: caller.play(p, say(STATUS)))

    caller, sink = caller_run(CallerScript(linger=100, faults=faults), drive, until=20)
    assert [playout for _, playout, _ in failures(sink)] == failed
    assert len(caller.heard) == 4 - len(failed)


def test_saying_matches_case_insensitively_ignoring_whitespace() -> None:
    faults = Faults(tts=(TtsFault("ORDER   status", times=0),))

    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play(1, say("What is my order\nStatus?"))
        at(3.0, lambda: caller.play(2, say("order placed")))

    caller, sink = caller_run(CallerScript(linger=100, faults=faults), drive, until=10)
    assert failures(sink) == [(0.0, 1, TTS_FAILED)]
    assert [line.text for line in caller.heard] == ["order placed"]


def test_an_item_never_reached_uses_up_no_failure() -> None:
    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play(1, [Utterance("say", "one two three"), Utterance("say", STATUS)])
        at(0.5, caller.stop_playout)  # before the status item starts
        at(2.0, lambda: caller.play(2, say(STATUS)))

    _, sink = caller_run(FAULTY, drive, until=10)
    assert failures(sink) == [(2.0, 2, TTS_FAILED)]


def test_a_missing_file_fails_the_playout_after_what_played() -> None:
    items = [Utterance("url", "https://example.com/hello.mp3"), Utterance("url", MISSING),
             Utterance("say", "bye")]
    caller, sink = caller_run(FAULTY, lambda c, _: c.play(5, items), until=10)
    assert sink.log == [(2.0, "playout_failed", (5, f"media: could not fetch {MISSING}"))]
    assert [(line.kind, line.text) for line in caller.heard] == [
        ("url", "https://example.com/hello.mp3")]


def test_no_failure_is_reported_once_the_call_has_ended() -> None:
    def drive(caller: SimulatedCaller, _: Recorder) -> None:
        caller.play(1, [Utterance("say", "one two"), Utterance("say", STATUS)])
        at(0.5, lambda: caller.hangup("flow ended"))

    caller, sink = caller_run(FAULTY, drive, until=10)
    assert sink.log == []
    assert caller.heard[0].cut_off


def test_a_garbled_say_fails_transcription_after_the_same_time() -> None:
    script = load_caller_script('steps:\n  - say: "I want my order"\n    garbled: true\n'
                                '  - say: "my order"\n', "call.yaml")

    def drive(caller: SimulatedCaller, sink: Recorder) -> None:
        caller.play(1, say("Hello"))  # 0-0.4
        sink.on["transcription_failed"] = lambda reason: caller.play(2, say("Say again?"))

    caller, sink = caller_run(script, drive, until=10)
    # Speech from 0.9; four words at 0.35 s and 0.3 s of endpointing: 2.6.
    assert sink.log[1:4] == [(0.9, "speech_started", ()),
                             (2.6, "transcription_failed", (GARBLED,)),
                             (3.4, "playout_finished", (2,))]
    assert sink.log[5] == (4.9, "transcript", ("my order",))
    assert caller.said[:2] == [CallerAction("say", "I want my order", 0.9, 2.6, "garbled"),
                               CallerAction("say", "my order", 3.9, 4.9)]
    assert GARBLED == "speech not recognized"


def test_a_garbled_say_keeps_its_patience_note() -> None:
    script = CallerScript((Say("hello?", Timing(Cue.TURN), garbled=True),), patience=2,
                          linger=100)
    caller, sink = caller_run(script, lambda c, s: None, until=10)
    assert caller.said[0].note == "patience ran out, garbled"
    assert [name for _, name, _ in sink.log] == ["speech_started", "transcription_failed"]
