"""The per-flow STT vocabulary: what it reads out of a compiled flow, normalized."""

from __future__ import annotations

import pytest

from interpreter.document.compile import compile_text
from interpreter.providers.stt.vocabulary import (
    DIGITS,
    GENERAL_PHRASES,
    Vocabulary,
    normalize,
    vocabulary_for,
)

FLOW = """\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - prompt:
        play: "say:Say sales or support."
        speech_hints: [Sales Desk, Tech-Support]
    - switch:
        variable: prompt_value
        case:
          "returns department": [{hangup: {}}]
        default:
          - execute: {dest: agent}
  agent:
    - ai:
        prompt:
          text: You are a helpful agent. Never mention the word zanzibar.
          contexts:
            default:
              steps:
                - name: collect_details
                  text: Collect the details.
                  gather_info:
                    questions:
                      - {key: account_holder, question: "Account holder?", type: boolean}
                      - {key: seat_count, question: "How many seats?", type: integer}
                  valid_steps: [wrapUp]
                - name: wrapUp
                  text: Wrap up.
        languages:
          - {name: English, code: en-US, voice: en-US-Neural2-F}
          - {name: Spanish, code: es-ES, voice: es-ES-Neural2-A}
        hints:
          - Acme
          - hint: order
            pattern: 'x'
            replace: 'y'
        SWAIG:
          defaults: {web_hook_url: "https://example.com/swaig"}
          functions:
            - function: pick_colour
              description: Pick a frame colour.
              parameters:
                type: object
                properties:
                  colour:
                    type: string
                    description: The colour the caller wants
                    enum: [Midnight Blue, forest green, 7]
                  gift_wrap:
                    type: boolean
                    description: Whether to wrap it
"""


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return vocabulary_for(compile_text(FLOW, "vocabulary.yaml"))


@pytest.mark.parametrize(("text", "expected"), [
    ("Order-ID A123!", "order id a one two three"),
    ("check_order", "check order"),
    ("checkOrder", "check order"),
    ("SMSMessage", "sms message"),
    ("Café & Bar", "cafe and bar"),
    ("Acme’s orders", "acme's orders"),
    ("don't", "don't"),
    ("uh-huh", "uh huh"),
    ("  ...  ", ""),
])
def test_normalize_writes_what_the_recognizer_writes(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize("phrase", [
    "sales desk", "tech support",  # prompt speech_hints
    "returns department",  # a switch case
    "acme", "order",  # ai hints (the hint word, not its replacement)
    "english", "spanish",  # language names
    "default", "collect details", "wrap up",  # context and step names
    "account holder", "seat count",  # gather question keys
    "pick colour", "pick a frame colour",  # function name and description
    "colour", "the colour the caller wants", "gift wrap", "whether to wrap it",  # parameters
    "midnight blue", "forest green", "seven",  # enum values
])
def test_flow_phrases_are_in_the_vocabulary(vocabulary: Vocabulary, phrase: str) -> None:
    assert phrase in vocabulary.phrases


def test_typed_answers_and_the_general_vocabulary_are_in(vocabulary: Vocabulary) -> None:
    words = set(vocabulary.words)
    assert {"yes", "no"} <= words  # a boolean question and parameter
    assert {*DIGITS, "oh"} <= words
    assert {"thanks", "bye", "help", "agent", "operator"} <= words
    assert set(normalize(p) for p in GENERAL_PHRASES) <= set(vocabulary.phrases)


def test_prompts_and_replacements_are_not_in(vocabulary: Vocabulary) -> None:
    """The prompt is the agent's vocabulary, not the caller's."""
    assert "zanzibar" not in vocabulary.words
    assert "y" not in vocabulary.words


def test_vocabulary_is_sorted_and_cached_per_content_hash() -> None:
    first = compile_text(FLOW, "a.yaml")
    second = compile_text(FLOW, "b.yaml")
    assert first.content_hash == second.content_hash
    vocabulary = vocabulary_for(first)
    assert vocabulary_for(second) is vocabulary
    assert list(vocabulary.phrases) == sorted(set(vocabulary.phrases))
    assert list(vocabulary.words) == sorted(set(vocabulary.words))
    other = vocabulary_for(compile_text(FLOW.replace("Acme", "Zenith"), "c.yaml"))
    assert other.key != vocabulary.key and "zenith" in other.words


def test_with_hints_adds_only_what_is_missing(vocabulary: Vocabulary) -> None:
    assert vocabulary.with_hints(["Sales desk", "ACME"]) is vocabulary
    assert vocabulary.missing(["Acme", "Loyalty points", "loyalty-points"]) == ("loyalty points",)
    extended = vocabulary.with_hints(["Loyalty points"])
    assert "loyalty points" in extended.phrases and "points" in extended.words
    assert extended.key != vocabulary.key
    assert set(vocabulary.phrases) < set(extended.phrases)
