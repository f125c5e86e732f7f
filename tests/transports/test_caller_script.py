"""Caller scripts: the format loads into frozen data; every mistake is located."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interpreter.errors import DocumentError
from interpreter.media.sounds import SOUNDS
from interpreter.transports.caller_script import (
    NO_FAULTS,
    SOUND_NAMES,
    UNLISTED,
    CallerScript,
    Cue,
    Destination,
    Faults,
    Hangup,
    Outcome,
    Press,
    Say,
    Sound,
    Timing,
    TtsFault,
    Wait,
    load_caller_script,
)

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE = """\
from: "+15551230000"
to: "+15550009999"
pause: 0.5
linger: 30
steps:
  - say: "I'd like to talk to sales"
  - press: "1#"
  - wait: 2.5
  - say: "no, support"
    barge_in: 0.8
  - press: "2"
    at: 12.5
  - say: "the operator, please"
    after_hearing: "press 0"
  - hangup: {}
destinations:
  "+15550100000": {answer_after: 3}
  "+15550100001": {outcome: busy}
  "+15550100002": {outcome: no_answer}
  "+15550100003": {answer_after: 2, lose_answered_event: true}
  "+15550100004": {answer_after: 1, press: "1", hangup_after: 20}
"""


def test_the_documented_example_loads_into_frozen_steps_and_destinations() -> None:
    script = load_caller_script(EXAMPLE, "call.yaml")
    assert (script.from_, script.to, script.pause, script.linger) == (
        "+15551230000", "+15550009999", 0.5, 30.0)
    assert script.steps == (
        Say("I'd like to talk to sales"),
        Press("1#"),
        Wait(2.5),
        Say("no, support", Timing(Cue.BARGE_IN, 0.8)),
        Press("2", Timing(Cue.AT, 12.5)),
        Say("the operator, please", Timing(Cue.TURN, 0.0, "press 0")),
        Hangup(),
    )
    assert script.destination("+15550100001") == Destination(Outcome.BUSY)
    assert script.destination("+15550100003") == Destination(answer_after=2.0,
                                                              lose_answered_event=True)
    assert script.destination("+15550100004") == Destination(answer_after=1.0, press="1",
                                                              hangup_after=20.0)
    assert script.destination("+15559999999") is UNLISTED
    step = script.steps[3]
    assert step.span is not None and (step.span.file, step.span.line) == ("call.yaml", 9)
    with pytest.raises(AttributeError):
        script.pause = 1.0  # type: ignore[misc]


def test_an_empty_script_gets_the_documented_defaults() -> None:
    script = load_caller_script("{}", "call.yaml")
    assert script == CallerScript(file="call.yaml")
    assert (script.from_, script.to, script.pause, script.linger, script.patience) == (
        "+15550000001", "+15550000000", 0.5, 30.0, 30.0)
    assert Destination(Outcome.ANSWER, answer_after=1.0) == UNLISTED


def test_hangup_after_is_shorthand_for_a_step_level_after() -> None:
    script = load_caller_script("steps:\n  - hangup: {after: 1.5}\n  - hangup:\n"
                                "    after: 2\n  - hangup:\n", "call.yaml")
    assert script.steps == (Hangup(Timing(Cue.AFTER, 1.5)), Hangup(Timing(Cue.AFTER, 2.0)),
                            Hangup())


FAULTS = """\
steps:
  - say: "where is my order"
    garbled: true
  - say: "order A123"
    garbled: false
faults:
  tts:
    - saying: "order status"
    - saying: "Goodbye"
      times: 0
      all_voices: true
  files:
    - "https://example.com/missing.mp3"
"""


def test_faults_and_garbled_load_with_their_documented_defaults() -> None:
    script = load_caller_script(FAULTS, "call.yaml")
    assert script.faults == Faults(
        tts=(TtsFault("order status", times=1, all_voices=False),
             TtsFault("Goodbye", times=0, all_voices=True)),
        files=frozenset({"https://example.com/missing.mp3"}))
    assert script.steps == (Say("where is my order", garbled=True), Say("order A123"))
    fault = script.faults.tts[1]
    assert fault.span is not None and (fault.span.line, fault.span.col) == (9, 7)


def test_a_script_without_faults_injects_none() -> None:
    script = load_caller_script("steps:\n  - say: hi\n", "call.yaml")
    assert script.faults is NO_FAULTS
    assert script.faults == Faults((), frozenset())
    assert script.steps == (Say("hi", garbled=False),)


def _errors(source: str) -> list[tuple[str, int, int, str, str | None]]:
    with pytest.raises(DocumentError) as caught:
        load_caller_script(source, "call.yaml")
    return [(d.code, d.span.line, d.span.col, d.message, d.hint)
            for d in caught.value.diagnostics]


@pytest.mark.parametrize(("source", "expected"), [
    ("pasue: 1\n", ("CK701", 1, 1, 'unknown key "pasue" in a caller script',
                    'did you mean "pause"?')),
    ("steps:\n  - say: hi\n    bargein: 1\n",
     ("CK701", 3, 5, 'unknown key "bargein" in a step', 'did you mean "barge_in"?')),
    ("destinations:\n  '+1': {outcome: buzy}\n",
     ("CK702", 2, 19, "outcome must be one of answer, busy, no_answer, declined",
      'did you mean "busy"?')),
    ("from: +15551230000\n", ("CK702", 1, 7, "from must be a non-empty string", "quote it")),
    ("pause: -1\n", ("CK702", 1, 8, "pause must be a number of seconds from 0 to 86,400 (a day)",
                      None)),
    ("linger: true\n", ("CK702", 1, 9,
                         "linger must be a number of seconds from 0 to 86,400 (a day)", None)),
    ("steps:\n  - press: 1\n", ("CK702", 2, 12, "press takes a string of DTMF digits",
                                'quote digits, as in press: "1"')),
    ("steps:\n  - press: '1x'\n", ("CK702", 2, 12, "press takes DTMF digits 0-9 * # A-D ('x')",
                                   None)),
    ("steps: {say: hi}\n", ("CK702", 1, 8, "steps must be a list", None)),
    ("steps:\n  - hello\n", ("CK702", 2, 5, "a step must be a mapping", None)),
    ("steps:\n  - at: 3\n",
     ("CK703", 2, 5, "a step needs an action: say, press, wait, hangup or sound", None)),
    ("steps:\n  - say: hi\n    press: '1'\n",
     ("CK703", 2, 5, "a step takes one action, not say and press", None)),
    ("steps:\n  - say: hi\n    at: 1\n    barge_in: 2\n",
     ("CK704", 4, 5, '"barge_in" conflicts with "at": a step has one cue', None)),
    ("steps:\n  - hangup: {after: 1}\n    at: 3\n",
     ("CK704", 2, 14, '"after" conflicts with "at": a step has one cue', None)),
    ("steps:\n  - wait: 1\n    at: 3\n",
     ("CK704", 3, 5, 'a wait has no "at": it starts when the previous step ends', None)),
    ("steps:\n  - say: hi\n    at: 3\n    after_hearing: menu\n",
     ("CK704", 4, 5, 'after_hearing does not combine with "at", which is a time, not a wait '
      "for the agent", None)),
    ("destinations:\n  '+1': {outcome: busy, press: '1'}\n",
     ("CK705", 2, 25, '"press" only applies to a destination that answers, not to outcome '
      "busy", None)),
    ("destinations:\n  '+1': 3\n", ("CK702", 2, 9, "a destination must be a mapping", None)),
    ("destinations:\n  '+1': {lose_answered_event: 1}\n",
     ("CK702", 2, 31, "lose_answered_event must be true or false", None)),
])
def test_a_mistake_is_reported_at_the_offending_node(
        source: str, expected: tuple[str, int, int, str, str | None]) -> None:
    assert _errors(source) == [expected]


@pytest.mark.parametrize(("source", "expected"), [
    ("faults: []\n", ("CK702", 1, 9, "faults must be a mapping", None)),
    ("faults:\n  ttts: []\n", ("CK701", 2, 3, 'unknown key "ttts" in faults',
                                'did you mean "tts"?')),
    ("faults:\n  tts: {saying: hi}\n",
     ("CK702", 2, 8, "faults.tts must be a list of tts faults", None)),
    ("faults:\n  tts:\n    - hi\n", ("CK702", 3, 7, "a tts fault must be a mapping", None)),
    ("faults:\n  tts:\n    - saying: hi\n      time: 2\n",
     ("CK701", 4, 7, 'unknown key "time" in a tts fault', 'did you mean "times"?')),
    ("faults:\n  tts:\n    - times: 2\n",
     ("CK702", 3, 7, 'a tts fault needs "saying": the text whose synthesis fails', None)),
    ("faults:\n  tts:\n    - saying: 3\n",
     ("CK702", 3, 15, "saying must be a non-empty string", "quote it")),
    ("faults:\n  tts:\n    - saying: '  '\n", ("CK702", 3, 15, "saying must contain words",
                                                None)),
    ("faults:\n  tts:\n    - {saying: hi, times: -1}\n",
     ("CK702", 3, 27, "times must be a whole number from 0 to 1,000,000", None)),
    ("faults:\n  tts:\n    - {saying: hi, times: 1.5}\n",
     ("CK702", 3, 27, "times must be a whole number from 0 to 1,000,000", None)),
    ("faults:\n  tts:\n    - {saying: hi, times: true}\n",
     ("CK702", 3, 27, "times must be a whole number from 0 to 1,000,000", None)),
    ("faults:\n  tts:\n    - {saying: hi, all_voices: 'yes'}\n",
     ("CK702", 3, 32, "all_voices must be true or false", None)),
    ("faults:\n  files: https://x/a.mp3\n",
     ("CK702", 2, 10, "faults.files must be a list of URLs", None)),
    ("faults:\n  files:\n    - ''\n", ("CK702", 3, 7, "a file must be a non-empty string",
                                        None)),
    ("steps:\n  - press: '1'\n    garbled: true\n",
     ("CK705", 3, 5, "garbled only applies to a say step, not to press", None)),
    ("steps:\n  - say: hi\n    garbled: 1\n",
     ("CK702", 3, 14, "garbled must be true or false", None)),
    ("steps:\n  - sound: sneeze\n",
     ("CK706", 2, 12, "unknown sound 'sneeze': one of cough, click, noise", None)),
])
def test_a_fault_mistake_is_reported_at_the_offending_node(
        source: str, expected: tuple[str, int, int, str, str | None]) -> None:
    assert _errors(source) == [expected]


def test_every_fault_mistake_is_reported_at_once() -> None:
    source = ("faults:\n  tts:\n    - saying: hi\n      times: x\n    - times: 1\n"
              "  files: [3]\n  other: 1\n")
    assert [(code, line, col) for code, line, col, *_ in _errors(source)] == [
        ("CK702", 4, 14), ("CK702", 5, 7), ("CK702", 6, 11), ("CK701", 7, 3)]


def test_every_mistake_is_reported_in_document_order() -> None:
    source = "steps:\n  - say: 3\n  - wiat: 1\npause: x\n"
    assert [(code, line) for code, line, *_ in _errors(source)] == [
        ("CK702", 2), ("CK701", 3), ("CK703", 3), ("CK702", 4)]


def test_errors_render_with_file_line_col_and_a_caret() -> None:
    with pytest.raises(DocumentError) as caught:
        load_caller_script("steps:\n  - presss: '1'\n", "call.yaml")
    rendered = caught.value.diagnostics[0].render()
    assert rendered.splitlines() == [
        'call.yaml:2:5: error CK701 unknown key "presss" in a step (did you mean "press"?)',
        "      - presss: '1'",
        "        ^",
    ]


def test_yaml_syntax_errors_come_from_the_loader_with_a_position() -> None:
    # An unclosed "[" is reported where it opened, with a hint (syntax_hints).
    assert _errors("steps:\n  - say: [hi\n")[0][:2] == ("CK001", 2)


@pytest.mark.parametrize("path", sorted((ROOT / "flows").glob("*.caller.yaml")),
                         ids=lambda p: p.name)
def test_example_caller_scripts_load(path: Path) -> None:
    script = load_caller_script(path.read_bytes(), str(path))
    assert script.steps


def _documented_scripts() -> list[str]:
    """The whole scripts among docs/caller-scripts.md's YAML blocks (not fragments)."""
    text = (ROOT / "docs" / "caller-scripts.md").read_text()
    return [block for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
            if not block[0].isspace()]


def test_the_documented_scripts_load_including_faults() -> None:
    scripts = [load_caller_script(block, "docs") for block in _documented_scripts()]
    assert len(scripts) >= 7
    assert [script.faults.files for script in scripts if script.faults.files] == [
        frozenset({"https://example.com/missing.mp3"}),
        frozenset({"https://example.com/hold.mp3"})]
    assert any(isinstance(step, Say) and step.garbled
               for script in scripts for step in script.steps)


@pytest.mark.parametrize(("source", "expected"), [
    # A 400-digit time crashed the run with OverflowError; 1e999 was Infinity.
    ("steps:\n  - say: hi\n    at: " + "9" * 400 + "\n", ("CK009", 3, 9)),
    ("steps:\n  - wait: 1e999\n", ("CK009", 2, 11)),
    ("steps:\n  - wait: 0x" + "f" * 40 + "\n", ("CK009", 2, 11)),
    ("steps:\n  - say: hi\n    at: 1e300\n", ("CK702", 3, 9)),
    ("pause: 86401\n", ("CK702", 1, 8)),
    ("linger: 1.7e308\n", ("CK702", 1, 9)),
    ("destinations:\n  '+1': {answer_after: 1e20}\n", ("CK702", 2, 24)),
    ("faults:\n  tts:\n    - {saying: hi, times: 100000000000}\n", ("CK702", 3, 27)),
])
def test_times_and_counts_out_of_range_are_refused_where_they_are(
        source: str, expected: tuple[str, int, int]) -> None:
    assert [error[:3] for error in _errors(source)] == [expected]


def test_a_day_is_the_longest_time_a_script_may_give() -> None:
    script = load_caller_script("pause: 86400\nsteps:\n  - wait: 86400\n", "call.yaml")
    assert script.pause == 86400.0


def test_a_sound_step_is_read_with_its_cue() -> None:
    script = load_caller_script("steps:\n  - sound: cough\n    barge_in: 1.5\n", "c.yaml")
    assert script.steps == (Sound("cough", Timing(Cue.BARGE_IN, 1.5)),)


def test_every_sound_a_script_names_can_be_made() -> None:
    assert set(SOUND_NAMES) == set(SOUNDS)


def test_a_hangup_may_drop_the_connection_instead() -> None:
    script = load_caller_script("steps:\n  - hangup: {drop: true}\n  - hangup: {}\n",
                                "call.yaml")
    assert [step.drop for step in script.steps] == [True, False]  # type: ignore[union-attr]
