"""The one barge-in policy: what interrupts, compiled from the document."""

from __future__ import annotations

from interpreter.document.compile import compile_text
from interpreter.ir import PROMPT_BARGE, Ai, Barge, BargePolicy
from interpreter.media import barge
from interpreter.patterns import FlowPattern


def _policy(params: str, prompt: str = "") -> BargePolicy:
    flow = compile_text(f"""\
sections:
  main:
    - ai:
        prompt: {{text: Hi.{prompt}}}
        params: {{{params}}}
""", "barge.yaml")
    (verb,) = flow.main.body
    assert isinstance(verb, Ai)
    return verb.params.barge


def test_defaults_interrupt_on_speech_onset_and_on_words() -> None:
    policy = _policy("")
    assert barge.on_speech(policy)
    assert barge.on_words(policy, "wait", final=True)
    assert barge.on_words(policy, "wai", final=False)
    assert not barge.on_digit(policy)


def test_the_document_compiles_every_knob_into_the_policy() -> None:
    policy = _policy("enable_barge: complete, barge_min_words: 3, barge_match_string: 'stop|wait',"
                     " transparent_barge: false, transparent_barge_max_time: 1500,"
                     " interrupt_on_noise: true, static_greeting_no_barge: true,"
                     " barge_functions: false", ", barge_confidence: 0.7")
    assert policy == BargePolicy(Barge.COMPLETE, 3, FlowPattern("stop|wait", ignore_case=True), 0.7,
                                 False, 1.5, 1.0, greeting=False, digits=False, functions=False)


def test_words_must_be_enough_matching_and_confident() -> None:
    policy = _policy("barge_min_words: 2, barge_match_string: stop", ", barge_confidence: 0.5")
    # Onset alone never interrupts when the words decide.
    assert not barge.on_speech(policy)
    assert not barge.on_words(policy, "stop", final=True)
    assert not barge.on_words(policy, "please go on", final=True)
    assert not barge.on_words(policy, "stop please", final=True, confidence=0.3)
    assert barge.on_words(policy, "stop please", final=True, confidence=0.9)


def test_partial_transcripts_only_in_partial_modes() -> None:
    assert not barge.on_words(_policy("enable_barge: complete"), "stop it", final=False)
    assert barge.on_words(_policy("enable_barge: partial"), "stop it", final=False)
    assert not barge.on_words(_policy("enable_barge: partial"), "stop it", final=True)
    assert not barge.on_speech(_policy("enable_barge: false"))


def test_an_uninterruptible_utterance_is_never_interrupted() -> None:
    policy = _policy("interrupt_on_noise: 2")
    assert not barge.on_speech(policy, interruptible=False)
    assert not barge.on_words(policy, "stop", final=True, interruptible=False)
    assert not barge.on_noise(policy, 5.0, interruptible=False)
    assert not barge.on_noise(policy, 1.5) and barge.on_noise(policy, 2.0)


def test_the_prompt_verb_stops_on_any_speech_or_digit() -> None:
    assert barge.on_speech(PROMPT_BARGE) and barge.on_digit(PROMPT_BARGE)
    assert not barge.on_noise(BargePolicy(), 10.0)
