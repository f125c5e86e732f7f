"""Fuzzing safejson.loads: any input gives JSON data within the bounds or a
JSONInputError (a ValueError) that says why; never another exception."""

from __future__ import annotations

import json
import math
import os
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interpreter import safejson

# More examples for a long run: CALLKERNEL_FUZZ_EXAMPLES=5000 pytest tests/fuzz
EXAMPLES = int(os.environ.get("CALLKERNEL_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20)
TOKENS = ["[", "]", "{", "}", ",", ":", '"', '"a"', '"\\ud800"', '"\\u00e9"', "\\", "1",
          "-0", "1e999", "1e-999", "9" * 400, "NaN", "Infinity", "-Infinity", "true", "null",
          " ", "\n", "\x00", "\ufeff", "é"]
soup = st.lists(st.sampled_from(TOKENS), max_size=50).map("".join)


def _depth(value: object) -> int:
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, list | dict):
            deepest = max(deepest, depth + 1)
            pending.extend((child, depth + 1) for child in
                           (item if isinstance(item, list) else item.values()))
    return deepest


def _check(data: str | bytes, max_depth: int = 20, max_bytes: int = 10_000) -> None:
    try:
        value = safejson.loads(data, max_depth=max_depth, max_bytes=max_bytes)
    except safejson.JSONInputError as error:
        assert isinstance(error, ValueError) and str(error)
        return
    assert _depth(value) <= max_depth
    json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_parse_or_are_refused(raw: bytes) -> None:
    _check(raw)


@FUZZ
@given(soup)
def test_json_token_soup_parses_or_is_refused(text: str) -> None:
    _check(text)
    _check(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(json_values)
def test_valid_json_within_the_bounds_round_trips(value: object) -> None:
    text = json.dumps(value)
    assert safejson.loads(text, max_depth=50, max_bytes=len(text.encode())) == value
    parsed = safejson.loads(text.encode(), max_depth=50, max_bytes=len(text.encode()))
    assert parsed == value


@FUZZ
@given(st.integers(0, 400), st.integers(0, 300), st.sampled_from(["[", '{"a":']))
def test_nesting_is_refused_exactly_past_the_limit(depth: int, limit: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * depth + "1" + closer * depth
    try:
        safejson.loads(text, max_depth=limit, max_bytes=10**6)
    except safejson.JSONTooDeep:
        assert depth > limit
    else:
        assert depth <= limit


@FUZZ
@given(st.integers(-10**400, 10**400), st.integers(-400, 400))
def test_numbers_are_finite_or_refused(mantissa: int, exponent: int) -> None:
    for text in (str(mantissa), f"{mantissa}e{exponent}"):
        try:
            value = safejson.loads(text, max_depth=1, max_bytes=10**4)
        except safejson.JSONNumberOutOfRange:
            continue
        assert isinstance(value, int | float) and math.isfinite(float(value))
