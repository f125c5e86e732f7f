"""A flow's own patterns: compiled once, every match stopped at the time bound."""

from __future__ import annotations

import copy
import pickle
import time

import pytest

from interpreter.patterns import MATCH_TIMEOUT_S, FlowPattern, PatternError, PatternTimeout

# With Python's `re` this search takes seconds (it doubles with every "a").
CATASTROPHIC = "(a|aa)+$"
HOSTILE = "a" * 40 + "!"


def test_plain_and_javascript_literal_forms() -> None:
    assert FlowPattern("sales").search("go to sales") is not None
    assert FlowPattern("sales").search("SALES") is None
    literal = FlowPattern("/sales/i")
    assert literal.pattern == "sales" and literal.search("SALES") is not None
    assert FlowPattern("/a.b/s").search("a\nb") is not None
    assert FlowPattern("/^b/m").search("a\nb") is not None
    assert FlowPattern("stop", ignore_case=True).search("STOP") is not None


def test_a_pattern_compares_and_copies_by_what_the_document_said() -> None:
    pattern = FlowPattern("/room (\\d+)/i")
    assert pattern == FlowPattern("/room (\\d+)/i") != FlowPattern("/room (\\d+)/")
    assert hash(pattern) == hash(FlowPattern("/room (\\d+)/i"))
    for other in (pickle.loads(pickle.dumps(pattern)), copy.deepcopy(pattern)):
        assert other == pattern
        match = other.search("ROOM 12")
        assert match is not None and match[1] == "12"


def test_an_invalid_pattern_is_a_pattern_error_with_its_position() -> None:
    with pytest.raises(PatternError) as caught:
        FlowPattern("^(c|celsius")
    assert caught.value.msg and caught.value.pos == 11


def test_search_fullmatch_sub_and_groups() -> None:
    pattern = FlowPattern(r"room\s+(?P<number>\d+)")
    match = pattern.search("I am in room 12")
    assert match is not None and match.groupdict() == {"number": "12"}
    assert pattern.fullmatch("room 12") is not None and pattern.fullmatch("a room 12") is None
    assert pattern.sub(r"suite \g<1>", "room 12 and room 3") == "suite 12 and suite 3"


def test_a_template_naming_a_missing_group_is_found_before_it_runs() -> None:
    pattern = FlowPattern(r"room\s+(?P<number>\d+)")
    assert pattern.template_error(r"suite \g<1> \g<number> \g<0>") is None
    assert pattern.template_error(r"\\g<7>") is None  # an escaped backslash, not a group
    assert "group 2" in str(pattern.template_error(r"suite \g<2>"))
    with pytest.raises(PatternError):
        pattern.sub(r"suite \g<2>", "room 12")


@pytest.mark.parametrize("use", ["search", "fullmatch", "sub"])
def test_a_catastrophic_pattern_is_stopped_at_the_bound(use: str) -> None:
    pattern = FlowPattern(CATASTROPHIC)
    started = time.perf_counter()
    with pytest.raises(PatternTimeout) as caught:
        if use == "sub":
            pattern.sub("x", HOSTILE)
        else:
            getattr(pattern, use)(HOSTILE)
    # The bound is processor time; wall time is generous for a loaded machine.
    assert time.perf_counter() - started < 1.0
    assert caught.value.source == CATASTROPHIC and caught.value.length == len(HOSTILE)
    assert f"{MATCH_TIMEOUT_S * 1000:g} ms" in str(caught.value)


def test_the_same_text_times_out_again_at_once() -> None:
    pattern = FlowPattern(CATASTROPHIC)
    with pytest.raises(PatternTimeout):
        pattern.search(HOSTILE)
    started = time.perf_counter()
    with pytest.raises(PatternTimeout):
        pattern.search(HOSTILE)
    assert time.perf_counter() - started < MATCH_TIMEOUT_S
    # Other texts are still matched; a short one is quick.
    assert pattern.search("aaa") is not None
