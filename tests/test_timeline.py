"""The call picture: the model built from trace (and caller) records, and the PNG."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from matplotlib.image import imread

from interpreter.cli import main
from interpreter.commands import run as run_command
from interpreter.timeline import (
    Mark,
    Span,
    Timeline,
    build_timeline,
    draw_timeline,
    fitted,
    rows,
    truncated,
)
from interpreter.transports.script_follower import CallerAction
from interpreter.transports.simulated_media import AgentLine

FLOWS = Path(__file__).resolve().parents[1] / "flows"


class _Records:
    """A trace as the runtime writes it: numbered, timed records."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def add(self, t: float, kind: str, **fields: Any) -> None:
        self.records.append({"n": len(self.records), "t": t, "kind": kind, **fields})

    def event(self, t: float, event: str, **fields: Any) -> None:
        self.add(t, "event", event=event, source="caller", **fields)


def _call_with_everything() -> list[dict[str, Any]]:
    """A short ai call: greeting, a caller turn, a tool, a barge-in, a
    declined barge-in, a step change, the caller hanging up."""
    trace = _Records()
    trace.add(0.0, "call_started", call={}, flow="sha256:x")
    trace.add(0.0, "state", old="answered", new="in_ai")
    trace.add(0.0, "ai_started", session="s", context="default", step="greet")
    trace.add(0.2, "say", playout=2, text="Hello there.", voice="v")
    trace.add(0.3, "say", playout=3, text="How can I help?", voice="v")
    trace.add(0.3, "turn", text="Hello there. How can I help?", tool_calls=[],
              eos_to_request_s=None, audio_latency_s=0.2, seconds=0.3)
    trace.event(3.0, "PlayoutFinished", playout_id=3)
    trace.event(4.0, "SpeechStarted")
    trace.event(6.0, "TranscriptReceived", text="Check order A1.", final=True)
    trace.add(6.1, "turn", text="", tool_calls=["check_order"], eos_to_request_s=0.05,
              audio_latency_s=None, seconds=0.05)
    trace.add(6.1, "effect_started", effect="tool", id=7, epoch=3, function="check_order",
              arguments="{}", request_id="r")
    trace.add(6.35, "tool_returned", function="check_order", seconds=0.25, response="ok",
              actions=[])
    trace.add(6.5, "say", playout=8, text="Order A1 shipped yesterday and arrives soon.",
              voice="v")
    trace.add(6.5, "turn", text="Order A1 shipped.", tool_calls=[], eos_to_request_s=0.4,
              audio_latency_s=0.5, seconds=0.1)
    trace.add(6.5, "step_change", old="greet", new="lookup", trigger="model")
    trace.add(7.0, "barge_declined", text="uh huh", why="too few words")
    trace.event(8.0, "SpeechStarted")
    trace.add(8.6, "barge_in", heard="Order A1", generated="Order A1 shipped", by="words")
    trace.event(9.0, "TranscriptReceived", text="Thanks, bye.", final=True)
    trace.add(9.5, "tool_failed", function="log_call", error="tool_error", message="x",
              seconds=0.5)
    trace.add(10.0, "error", type="tool_error", fatal=False, message="x")
    trace.event(12.0, "CallerHungUp")
    trace.add(12.0, "ai_ended", session="s", reason="hangup")
    trace.add(12.0, "state", old="in_ai", new="ended")
    trace.add(12.0, "call_ended", disposition="caller_hangup", vars={})
    return trace.records


def test_trace_alone_gives_both_sides_speech() -> None:
    timeline = build_timeline(_call_with_everything(), flow="flows/x.yaml")
    assert timeline.title == "flows/x.yaml · 12.0 s · caller_hangup"
    assert timeline.duration == 12.0
    assert timeline.caller == (Span(4.0, 6.0, "Check order A1."),
                               Span(8.0, 9.0, "Thanks, bye."))
    # Sentences queued together play back to back until a playout of theirs
    # ends; the barge-in cuts off what was playing.
    assert timeline.agent == (Span(0.2, 3.0, "Hello there. How can I help?"),
                              Span(6.5, 8.6, "Order A1 shipped yesterday and arrives soon.",
                                   "cut_off"))


def test_marks_tools_steps_and_latency_from_the_trace() -> None:
    timeline = build_timeline(_call_with_everything())
    assert timeline.marks == (Mark(7.0, "went on: too few words", "declined"),
                              Mark(8.6, 'barge-in after "Order A1"', "barge_in"),
                              Mark(10.0, "tool_error", "error"),
                              Mark(12.0, "caller hung up", "hangup"))
    assert timeline.tools == (Span(6.1, 6.35, "check_order 250 ms"),
                              Span(9.0, 9.5, "log_call 500 ms ✗ tool_error", "failed"))
    assert timeline.steps == (Span(0.0, 6.5, "greet"), Span(6.5, 12.0, "lookup"))
    # The greeting counts from the request; the reply after the tool from the
    # caller's words (one bar, the tool turn folded in).
    assert timeline.latency == (Span(0.0, 0.2, "0.20 s"),
                                Span(6.0, 6.5, "0.50 s incl. tool"))
    assert timeline.gaps == (Span(6.0, 6.5, "0.50 s"),)


def test_pauses_and_resumes_at_the_frame_are_marked() -> None:
    trace = _Records()
    trace.event(1.0, "PlayoutPaused", paused=True, why="the caller spoke over the agent")
    trace.event(2.0, "PlayoutPaused", paused=False, why="no decision within 1 s")
    assert build_timeline(trace.records).marks == (
        Mark(1.0, "paused", "declined"), Mark(2.0, "resumed: no decision within 1 s", "declined"))


def test_caller_records_give_speech_as_played() -> None:
    @dataclass
    class Caller:
        heard: list[AgentLine] = field(default_factory=lambda: [
            AgentLine("say", "Hello there.", 100.2, 101.5),
            # queued behind the first: it plays when that one ends
            AgentLine("say", "How can I help?", 100.3, 103.0),
            AgentLine("say", "Order A1 shipped.", 106.5, 108.6, cut_off=True,
                      heard="Order A1"),
            # stopped before it started: nothing of it played
            AgentLine("say", "Anything else?", 106.6, 108.6, cut_off=True),
            AgentLine("file", "https://x/hold.wav", 110.0, 111.0)])
        said: list[CallerAction] = field(default_factory=lambda: [
            CallerAction("say", "Check order A1.", 104.0, 105.8),
            CallerAction("press", "1", 109.0, 109.2),
            CallerAction("hangup", "", 112.0, 112.0)])

    timeline = build_timeline(_call_with_everything(), caller=Caller(), start=100.0)
    assert timeline.agent == (
        Span(pytest.approx(0.2), pytest.approx(1.5), "Hello there."),
        Span(pytest.approx(1.5), pytest.approx(3.0), "How can I help?"),
        Span(pytest.approx(6.5), pytest.approx(8.6), "Order A1 shipped.", "cut_off"),
        Span(pytest.approx(10.0), pytest.approx(11.0), "[file https://x/hold.wav]", "sound"))
    assert timeline.caller == (
        Span(pytest.approx(4.0), pytest.approx(5.8), "Check order A1."),
        Span(pytest.approx(9.0), pytest.approx(9.2), "press 1", "press"))
    assert [(round(g.start, 6), round(g.end, 6)) for g in timeline.gaps] == [(5.8, 6.5)]


def test_context_change_and_states_outside_the_ai_session() -> None:
    trace = _Records()
    trace.add(0.0, "state", old="ringing", new="answered")
    trace.add(1.0, "state", old="answered", new="in_ai")
    trace.add(1.0, "ai_started", session="s", context=None, step=None)
    trace.add(4.0, "context_change", old="sales", new="support", trigger="t", step="triage")
    trace.add(6.0, "state", old="in_ai", new="transferring")
    trace.add(9.0, "state", old="transferring", new="bridged")
    trace.add(20.0, "state", old="bridged", new="ended")
    assert build_timeline(trace.records).steps == (
        Span(0.0, 1.0, "answered", "state"), Span(1.0, 4.0, "ai session"),
        Span(4.0, 6.0, "support / triage"), Span(6.0, 9.0, "transferring", "state"),
        Span(9.0, 20.0, "bridged", "state"))


def test_labels_are_cut_to_fit() -> None:
    assert truncated("Hello   there, caller", 40) == "Hello there, caller"
    assert truncated("Hello there, caller", 8) == "Hello t…"
    assert truncated("Hello there, caller", 3) == ""
    width = len  # one point a character
    assert fitted("Hello there, caller", 10, width) == "Hello the…"
    assert fitted("Hello there, caller", 19, width) == "Hello there, caller"
    assert fitted("Hello there, caller", 2, width) == ""


def test_a_long_call_is_cut_into_rows_of_equal_length() -> None:
    assert rows(40.0) == [(0.0, 40.0)]
    assert rows(70.0) == [(0.0, 70.0)]
    assert rows(600.0) == [(i * 60.0, (i + 1) * 60.0) for i in range(10)]
    assert rows(130.0) == [(0.0, 130 / 3), (130 / 3, 260 / 3), (260 / 3, 130.0)]


def _long_call(minutes: int) -> list[dict[str, Any]]:
    """A call of many turns: every fourth with a tool, every fifth barged
    into, a step change every ten."""
    trace = _Records()
    trace.add(0.0, "state", old="answered", new="in_ai")
    trace.add(0.0, "ai_started", session="s", context="main", step="step-0")
    t, playout, turn = 0.5, 1, 0
    while t < minutes * 60 - 12:
        turn += 1
        trace.event(t, "SpeechStarted")
        trace.event(t + 2.5, "TranscriptReceived", final=True,
                    text=f"Turn {turn}: the caller asks a rather long question about orders.")
        t += 3.0
        if turn % 4 == 0:
            trace.add(t, "effect_started", effect="tool", id=turn, function="lookup_account")
            trace.add(t + 0.4, "tool_returned", function="lookup_account", seconds=0.4)
            t += 0.4
        playout += 1
        trace.add(t, "say", playout=playout, text=f"Answer {turn}: here is what I found, "
                  "and here is a second sentence that goes on.")
        trace.add(t, "turn", tool_calls=[], eos_to_request_s=0.1, audio_latency_s=0.45,
                  seconds=0.35)
        if turn % 5 == 0:
            trace.add(t + 2.0, "barge_in", heard="Answer", by="words")
        else:
            trace.event(t + 4.0, "PlayoutFinished", playout_id=playout)
        if turn % 10 == 0:
            trace.add(t + 4.0, "step_change", old=f"step-{turn - 10}", new=f"step-{turn}",
                      trigger="model")
        t += 5.0
    trace.add(t, "call_ended", disposition="caller_hangup", vars={})
    return trace.records


def test_a_ten_minute_call_is_drawn_in_rows(tmp_path: Path) -> None:
    timeline = build_timeline(_long_call(10), flow="long.yaml")
    assert 590 <= timeline.duration <= 600
    assert len(timeline.caller) == len(timeline.agent) > 60
    written = draw_timeline(timeline, tmp_path / "long.png")
    image = imread(written)
    height, width = image.shape[:2]
    assert width == 1800
    # ten rows of seven lanes, each row about 3.4 inches at 100 dpi
    assert 3200 < height < 3800


def test_drawing_writes_a_png(tmp_path: Path) -> None:
    written = draw_timeline(build_timeline(_call_with_everything(), flow="x.yaml"),
                            tmp_path / "call.png")
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(written)
    height, width = image.shape[:2]
    assert (width, height) == (1800, 464)
    # Not a blank canvas: the lanes' colours are there.
    assert image[..., :3].std() > 0.05


def test_an_empty_trace_still_draws(tmp_path: Path) -> None:
    timeline = build_timeline([])
    assert timeline == Timeline("0.0 s · not ended", 0.0, (), (), (), (), (), (), ())
    assert imread(draw_timeline(timeline, tmp_path / "empty.png")).shape[1] == 1800


def test_run_draws_the_call_it_ran(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    picture = tmp_path / "call.png"
    code = run_command.run(str(FLOWS / "ivr.yaml"), str(FLOWS / "ivr.caller.yaml"),
                           out=out, err=err, timeline=str(picture))
    assert code == 0, err.getvalue()
    assert f"timeline: {picture}" in out.getvalue()
    assert imread(picture).shape[1] == 1800


def test_run_says_when_the_timeline_cannot_be_written(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run_command.run(str(FLOWS / "ivr.yaml"), str(FLOWS / "ivr.caller.yaml"),
                           out=out, err=err, timeline=str(tmp_path / "no" / "call.png"))
    assert code == 2
    assert "cannot write the timeline" in err.getvalue()


def test_the_command_line_takes_timeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    picture = tmp_path / "call.png"
    code = main(["run", str(FLOWS / "ivr.yaml"), "--caller", str(FLOWS / "ivr.caller.yaml"),
                 "--timeline", str(picture)])
    assert code == 0
    assert f"timeline: {picture}" in capsys.readouterr().out
    assert picture.stat().st_size > 10_000
