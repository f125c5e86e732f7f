"""Spoken-form transcripts in written form (inverse text normalization), as
hosted recognizers return them: "order a one two three" → "order a 123",
"five five five one two three four" → "5551234".

Numbers are text2num's job (`alpha2digit`, which leaves lone small numbers
such as "one" or "two year old" as words); the one step added here joins
runs of single digits, which callers use for IDs, codes and phone numbers.
A letter before the digits is left apart: "a 100 dollars" and "a 123" (an
order ID) read the same.
"""

from __future__ import annotations

import re

from text_to_num import alpha2digit

_DIGIT_RUN = re.compile(r"\b\d(?: \d\b)+")


def written(text: str, language: str = "en") -> str:
    """`text` with its numbers in digits; unchanged when the language has no rules."""
    try:
        text = alpha2digit(text, language[:2].lower())
    except ValueError:  # a language text2num does not know
        return text
    return _DIGIT_RUN.sub(lambda run: run.group(0).replace(" ", ""), text)
