"""Fuzzing caller scripts: any document gives a checked CallerScript or a
DocumentError with located diagnostics; every time in a script that loads is
finite and at most a day."""

from __future__ import annotations

import json
import math
import os
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interpreter.errors import DocumentError
from interpreter.limits import CALLER_SCRIPT_MAX_SECONDS
from interpreter.transports.caller_script import (
    CallerScript,
    Hangup,
    Press,
    Say,
    Wait,
    load_caller_script,
)

# More examples for a long run: CALLKERNEL_FUZZ_EXAMPLES=5000 pytest tests/fuzz
EXAMPLES = int(os.environ.get("CALLKERNEL_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.integers(-10, 10**6), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["1e999", "-1e999", ".inf", ".nan", "9" * 400, "0x" + "f" * 40, "86400",
                     "86400.5", "1e300", "true", "'3'", "null"]))
scalars = st.one_of(numbers, st.text(max_size=12), st.sampled_from(
    ["'1'", "'*#'", "'12x'", "hi", "answer", "busy", "no_answer", "declined", "buzy"]))


def _yaml(value: object) -> str:
    """A flow-style YAML rendering; strings from the strategies above are
    already YAML scalars (quoted or not), other values are dumped as JSON."""
    if isinstance(value, str):
        return value if value and "\n" not in value and ":" not in value and "#" not in value \
            and value.strip() == value and not value.startswith(("{", "[", "&", "*", "!",
                                                                 "-", "?", "|", ">", "%", "@",
                                                                 "`", ",")) \
            else json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_yaml(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(item) for item in value) + "]"
    return json.dumps(value)


step_keys = st.sampled_from(["say", "press", "wait", "hangup", "at", "barge_in", "after",
                             "after_hearing", "garbled", "sya"])
steps = st.lists(st.dictionaries(step_keys, st.one_of(scalars, st.just({}),
                                                      st.dictionaries(st.just("after"),
                                                                      numbers, max_size=1)),
                                 min_size=1, max_size=3), max_size=4)
destinations = st.dictionaries(
    st.sampled_from(["'+1'", "'+15550001111'", "sip"]),
    st.dictionaries(st.sampled_from(["outcome", "answer_after", "lose_answered_event", "press",
                                     "hangup_after", "ring"]), scalars, max_size=3),
    max_size=2)
faults = st.fixed_dictionaries({}, optional={
    "tts": st.lists(st.dictionaries(st.sampled_from(["saying", "times", "all_voices", "x"]),
                                    scalars, max_size=3), max_size=2),
    "files": st.lists(scalars, max_size=2)})
scripts = st.fixed_dictionaries({}, optional={
    "from": scalars, "to": scalars, "pause": numbers, "linger": numbers, "patience": numbers,
    "steps": steps, "destinations": destinations, "faults": faults, "extra": scalars})


def _check(source: str) -> None:
    try:
        script = load_caller_script(source, "call.caller.yaml")
    except DocumentError as error:
        assert error.diagnostics
        for diagnostic in error.diagnostics:
            assert diagnostic.span.line >= 1 and diagnostic.span.col >= 1
        return
    assert isinstance(script, CallerScript)
    times = [script.pause, script.linger, script.patience]
    for step in script.steps:
        assert isinstance(step, Say | Press | Wait | Hangup)
        times.append(step.seconds if isinstance(step, Wait) else step.timing.seconds)
    for destination in script.destinations.values():
        times.append(destination.answer_after)
        if destination.hangup_after is not None:
            times.append(destination.hangup_after)
    for seconds in times:
        assert math.isfinite(seconds) and 0 <= seconds <= CALLER_SCRIPT_MAX_SECONDS


@FUZZ
@given(scripts)
def test_any_caller_script_is_checked_or_refused_with_locations(
        script: dict[str, object]) -> None:
    _check("\n".join(f"{key}: {_yaml(value)}" for key, value in script.items()) + "\n")


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_as_a_caller_script_are_refused_cleanly(raw: bytes) -> None:
    try:
        load_caller_script(raw, "call.caller.yaml")
    except DocumentError as error:
        assert error.diagnostics
