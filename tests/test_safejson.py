"""safejson: JSON from outside, within bounds checked before the parser runs."""

from __future__ import annotations

import time

import pytest

from interpreter import safejson
from interpreter.safejson import (
    InvalidJSON,
    JSONInputError,
    JSONNumberOutOfRange,
    JSONTooDeep,
    JSONTooLarge,
    loads,
)


def test_json_within_the_bounds_parses() -> None:
    assert loads(b'\xef\xbb\xbf{"a": [1, 2.5, "x", null, true]}', max_depth=2, max_bytes=100) \
        == {"a": [1, 2.5, "x", None, True]}
    assert loads("[[1]]", max_depth=2, max_bytes=5) == [[1]]


@pytest.mark.parametrize(("data", "error", "message"), [
    ("[" * 100 + "]" * 100, JSONTooDeep, "deeper than 64 levels (line 1 column 65)"),
    ('{"a": "[[[[", "b": ' + "[" * 65 + "]" * 65 + "}", JSONTooDeep, "column 83"),
    (b"x" * 1001, JSONTooLarge, "1,001 bytes, over the limit of 1,000"),
    ("é" * 600, JSONTooLarge, "over the limit of 1,000 bytes"),
    ("NaN", InvalidJSON, "NaN is not a JSON value"),
    ("[-Infinity]", InvalidJSON, "-Infinity is not a JSON value"),
    ("[1e999]", JSONNumberOutOfRange, "1e999 is out of range"),
    ("9" * 400, JSONNumberOutOfRange, "out of range (400 digits)"),
    ("{bad", InvalidJSON, "not JSON: Expecting property name"),
    (b'"caf\xe9"', InvalidJSON, "not UTF-8 text (byte 4)"),
])
def test_what_is_refused_says_why(data: str | bytes, error: type[JSONInputError],
                                  message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        loads(data, max_depth=64, max_bytes=1000)
    assert isinstance(caught.value, ValueError)


def test_depth_is_refused_before_json_recurses() -> None:
    # json.loads raised RecursionError on 10,000 levels; the scan costs microseconds.
    text = '{"a":' * 100_000 + "1" + "}" * 100_000
    started = time.perf_counter()
    with pytest.raises(JSONTooDeep):
        loads(text, max_depth=600, max_bytes=10**6)
    assert time.perf_counter() - started < 1.0


def test_brackets_inside_strings_do_not_count() -> None:
    text = '["' + "[" * 1000 + '\\"]]]"]'
    assert loads(text, max_depth=1, max_bytes=10_000) == ["[" * 1000 + '"]]]']


def test_lone_surrogates_come_back_replaced() -> None:
    value = loads('{"\\ud800k": ["\\udc00", "\\ud83d\\ude00"]}', max_depth=2, max_bytes=100)
    assert value == {"\ufffdk": ["\ufffd", "\U0001f600"]}


def test_the_largest_finite_numbers_parse() -> None:
    assert loads("1.7e308", max_depth=0, max_bytes=100) == 1.7e308
    big = str(int(1.7e308))
    assert loads(big, max_depth=0, max_bytes=1000) == int(big)
    assert safejson.find_too_deep("[1]", 0) == 0
