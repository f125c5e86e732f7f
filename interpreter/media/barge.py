"""Whether what the caller does interrupts what is playing: the one place
barge-in is decided, from a compiled `ir.BargePolicy`.

The text runtime asks on each caller event; the audio runtime asks on the
frame where voice activity starts, so playout stops in the same tick. Every
question takes whether the utterance playing may be interrupted at all (an
uninterruptible one, such as a static greeting with
static_greeting_no_barge, never is). A barge_match_string that runs over the
pattern time bound (interpreter/patterns.py) counts as not matching: the
agent goes on speaking and the words are answered in its next turn.
"""

from __future__ import annotations

from interpreter.ir import Barge, BargePolicy
from interpreter.patterns import PatternTimeout

_ON_SPEECH = (Barge.PARTIAL, Barge.ALL, Barge.COMPLETE_AND_PARTIAL)
_ON_WORDS = (Barge.COMPLETE, Barge.ALL, Barge.COMPLETE_AND_PARTIAL)


def on_speech(policy: BargePolicy, interruptible: bool = True) -> bool:
    """Voice activity started. It interrupts at once only when no words are
    required; otherwise the transcript decides."""
    return interruptible and policy.mode in _ON_SPEECH and policy.min_words <= 1 \
        and policy.match is None and policy.confidence <= 0


def on_words(policy: BargePolicy, text: str, final: bool, confidence: float = 1.0,
             interruptible: bool = True) -> bool:
    """A partial or final transcript: enough words, matching words, heard
    with enough confidence. Words that do not interrupt wait for the agent's
    next turn."""
    if not interruptible or policy.mode not in (_ON_WORDS if final else _ON_SPEECH):
        return False
    if confidence < policy.confidence or len(text.split()) < policy.min_words:
        return False
    if policy.match is None:
        return True
    try:
        return policy.match.search(text) is not None
    except PatternTimeout:
        return False  # the ai loop traces why (barge_declined)


def on_noise(policy: BargePolicy, seconds: float, interruptible: bool = True) -> bool:
    """Sound without words (interrupt_on_noise) lasting `seconds`."""
    return interruptible and policy.mode is not Barge.OFF and policy.noise_s is not None \
        and seconds >= policy.noise_s


def on_digit(policy: BargePolicy, interruptible: bool = True) -> bool:
    return interruptible and policy.digits
