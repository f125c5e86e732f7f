"""Which flow patterns lint warns may backtrack without end (CK410), and the
checks CK407 makes with the engine that runs the patterns."""

from __future__ import annotations

import pytest

from interpreter.document.lint import lint_text
from interpreter.document.pattern_risk import backtracking_risk

# Every pattern the SDK fixtures and example flows use, and other common shapes.
SAFE = [
    r"(?i)^\s*(cancel|stop)\b", ".*", "/.*/", "/book(ing)?/i", "/sales/i",
    r"\b([a-zA-Z])\s*(\d)\s*(\d)\s*(\d)\b", "^([01][0-9]|2[0-3]):[0-5][0-9]$",
    "^(c|celsius|centigrade|metric)", "^[0-9]{7}$", "refund|money back", r"room\s+(\d+)",
    r"(\d+,)*x", r"(?:[a-z]+\.)+[a-z]+$", "(stop|start)+", r"(?>a+)+$", "(a++)+$",
    r"(\d{1,3}\.){3}\d{1,3}", r"^(\+?1)?[ -]?\(?\d{3}\)?[ -]?\d{3}[ -]?\d{4}$",
    r"[\w.+-]+@[\w-]+\.[\w.]+", r"(?:\s|,)+", r"(\w+)\s+\1", r"(?x) a + # a comment",
    r"\d+(?:\.\d+)?", r"(?:^|\s)(yes|yeah|yep)(?:\s|$)", "{", "[[:alpha:]]+", r"\p{L}+",
    "(a|b)*c",
]
RISKY = [
    ("(a+)+$", "(a+)+"), ("(a*)*$", "(a*)*"), (r"^(\w+\s?)*$", r"(\w+\s?)*"),
    ("(x+x+)+y", "(x+x+)+"), ("(.*a){12}", "(.*a){12}"), ("(.*?,){11}P", "(.*?,){11}"),
    (r"(?:\w+|\d+)+$", r"(?:\w+|\d+)+"), ("/(a+)+$/i", "(a+)+"), ("((a+)+b)+", "(a+)+"),
    ("(?=(a+)+$)b", "(a+)+"), ("(a|aa)+$", "(a|aa)+"), ("(um|umm|uh)+", "(um|umm|uh)+"),
    (r"(\w|\d)+$", r"(\w|\d)+"), ("(?i:(a|A)+)", "(a|A)+"),
]


@pytest.mark.parametrize("pattern", SAFE)
def test_patterns_that_match_one_way_are_not_reported(pattern: str) -> None:
    assert backtracking_risk(pattern) is None


@pytest.mark.parametrize(("pattern", "part"), RISKY)
def test_repeated_parts_that_match_many_ways_are_named(pattern: str, part: str) -> None:
    assert f'"{part}" repeats' in str(backtracking_risk(pattern))


def _hints_flow(hint: str) -> bytes:
    return f"""\
version: "1.0.0"
sections:
  main:
    - ai:
        prompt: {{text: Hi.}}
        hints:
          - {hint}
""".encode()


def test_a_replacement_naming_a_missing_group_is_invalid() -> None:
    _, found = lint_text(_hints_flow('{hint: room, pattern: "room (\\\\d+)", replace: "suite $2"}'),
                         "hints.yaml")
    (diagnostic,) = found
    assert diagnostic.code == "CK407" and "group 2" in diagnostic.message
    assert diagnostic.path[-1] == "replace"
    _, found = lint_text(_hints_flow('{hint: room, pattern: "room (\\\\d+)", replace: "suite $1"}'),
                         "hints.yaml")
    assert found == []


def test_syntax_only_the_engine_accepts_is_valid() -> None:
    # Possessive quantifiers and \p{...} classes: `regex` syntax, not `re` in 3.11.
    _, found = lint_text(_hints_flow('{hint: x, pattern: "\\\\p{L}++ now", replace: "now"}'),
                         "hints.yaml")
    assert found == []
