"""What the audio caller heard of the agent: words compared in written form,
the recognizer told what the agent may say, each line transcribed for real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interpreter.document.compile import compile_text
from interpreter.media.ports import Voice
from interpreter.providers.llm.scripted import load_rules
from interpreter.providers.tts import espeak
from interpreter.transports.hearing_check import (
    WordErrors,
    agent_recognizer,
    agent_texts,
    check_lines,
    model_replies,
    total,
    word_errors,
)
from interpreter.transports.simulated_media import AgentLine

ROOT = Path(__file__).resolve().parents[2]
FLOW = """\
sections:
  main:
    - play: {url: 'say:Welcome to %{call.to}, the table desk.'}
    - ai:
        prompt: {text: Never read this instruction aloud.}
        params: {static_greeting: Hello from the booking line.}
        languages:
          - {name: English, code: en-US, voice: en-us, function_fillers: [Let me look.]}
        SWAIG:
          functions:
            - function: book
              description: Book a table.
              fillers: {en-US: [Booking it now.]}
              parameters: {type: object, properties: {}}
              web_hook_url: http://127.0.0.1:9/swaig
"""


@pytest.mark.parametrize(("said", "heard", "words"), [
    # "A123" is two words, as the caller hears it: "a", "one hundred twenty three".
    ("Order A123, shipped April 2nd.", "order a one hundred twenty three shipped april second",
     6),
    ("Press 1 or say sales.", "press one or say sales", 5),
    ("It has 3 digits", "it has three digits", 4),
])
def test_numbers_compare_the_same_whatever_form_they_were_said_in(said: str, heard: str,
                                                                   words: int) -> None:
    assert word_errors(said, heard) == WordErrors(words)


def test_word_errors_count_wrong_missing_and_extra_words() -> None:
    errors = word_errors("Please hold while I connect you.", "please old while connect you now")
    assert errors == WordErrors(6, wrong=1, missing=1, extra=1)
    assert errors.rate == 0.5
    assert errors.describe() == "WER 50%: 1 wrong, 1 missing, 1 extra of 6 words"
    assert (errors + WordErrors(4)).rate == 0.3


def test_words_heard_where_none_were_expected_have_no_rate_but_count() -> None:
    assert word_errors("", "order right") == WordErrors(0, extra=2)
    assert word_errors("", "order right").rate is None
    assert word_errors("", "order right").describe() == "2 extra words"
    assert word_errors("", "").describe() == "nothing, as expected"


def test_the_agent_texts_are_what_it_says_not_what_the_model_is_told() -> None:
    texts = list(agent_texts(compile_text(FLOW, "table.yaml")))
    assert "Welcome to " in texts and ", the table desk." in texts  # the variable left out
    assert {"Hello from the booking line.", "Let me look.", "Booking it now."} <= set(texts)
    assert "Sorry, I didn't catch that. Could you say it again?" in texts  # an error phrase
    assert not any("instruction" in text for text in texts)


def test_model_replies_are_split_at_their_placeholders() -> None:
    model = ROOT / "flows" / "support.model.yaml"
    replies = list(model_replies([load_rules(model.read_bytes(), str(model)), object()]))
    assert "Hi, this is Riley from Acme Outdoor Gear. How can I help you today?" in replies
    assert ". Is there anything else I can help with?" in replies
    assert not any("{" in reply for reply in replies)


def test_each_spoken_line_is_transcribed_and_checked_against_what_was_kept() -> None:
    flow = compile_text(FLOW, "table.yaml")
    said = "Hello from the booking line."
    audio = espeak.speak(said, Voice("espeak", "en-us"), 16_000).samples
    lines = [AgentLine("say", said, 0.0, 2.0),
             AgentLine("url", "file:///hold.wav", 2.0, 3.0),  # not speech: not checked
             AgentLine("say", "Booking it now.", 3.0, 3.5, cut_off=True, heard="")]
    heard = check_lines(agent_recognizer(flow), lines,
                        [audio, audio, np.zeros(8000, np.int16)])
    assert [check.line for check in heard] == [lines[0], lines[2]]
    assert heard[0].transcript == "hello from the booking line"
    assert heard[0].errors == WordErrors(5)
    # Cut off before a word: nothing expected, and nothing in the audio.
    assert heard[1].transcript == "" and heard[1].expected == ""
    assert heard[1].describe() == '""  (nothing, as expected; cut off, the runtime kept no word)'
    assert total(heard) == WordErrors(5)
