"""Transcripts in written form: numbers as digits, digit runs joined."""

from __future__ import annotations

import pytest

from interpreter.providers.stt.written import written


@pytest.mark.parametrize(("spoken", "expected"), [
    ("it's order a one hundred twenty three", "it's order a 123"),
    ("my order number is a one two three", "my order number is a 123"),
    ("call me at five five five one two three four", "call me at 5551234"),
    ("i want to speak to a person", "i want to speak to a person"),
    ("i have a two year old", "i have a two year old"),
    ("it costs a hundred dollars", "it costs a 100 dollars"),
    ("", ""),
])
def test_numbers_become_digits(spoken: str, expected: str) -> None:
    assert written(spoken) == expected


def test_a_language_without_rules_is_left_as_it_is() -> None:
    assert written("one two three", "xx-YY") == "one two three"
