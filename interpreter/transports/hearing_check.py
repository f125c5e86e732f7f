"""What the simulated audio caller heard of the agent, checked.

With `transcribe_agent`, `AudioCaller` keeps the agent's outbound frames and,
once the call is over, runs a recognizer over the stretch each agent line
played in (from when the runtime queued it to when it finished or was cut
off). Each transcript is compared word by word with what the runtime says
the caller heard: the whole line, or for a line cut off by a barge-in the
words the runtime kept. So a user sees whether the audio path garbled,
dropped or cut speech, and whether the runtime's idea of what was heard
matches the audio.

The recognizer is the embedded one with a task model, so it needs to be
told what to expect (docs/speech.md): the flow's caller-side vocabulary plus
what the agent may say — `say:` items, the static greeting, fillers, error
phrases and the scripted model's replies (`agent_recognizer`) — and, per
line, the texts the runtime played in this call, as a deployment's hints
would be. A clean path then transcribes near exactly; a cut shows as
missing words, a garbled one as wrong ones.

Words are compared in written form on both sides ("A123" and "a one hundred
twenty three" both read "a 123"; "2nd" and "second" both "2nd"), since the
synthesizer says numbers its own way. The counting (substitutions, deletions,
insertions) is jiwer's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass

import numpy as np
from text_to_num import alpha2digit

from interpreter import ir
from interpreter.errors import RecoveryPolicy
from interpreter.jsontypes import JSONValue
from interpreter.media.playout import Samples
from interpreter.media.ports import ListenSettings
from interpreter.providers.stt.base import SttProvider
from interpreter.providers.stt.vocabulary import DIGITS, vocabulary_for
from interpreter.providers.stt.written import written
from interpreter.transports.simulated_media import AgentLine

# The synthesizer says numbers as numbers ("A123" is "a one hundred twenty
# three", "2nd" is "second"), which the flow's phrases spell digit by digit:
# these teach the task model the spoken forms. On seven number-heavy lines
# (money, dates, phone and order numbers) they took the word errors from 20
# to 11; the rest are mostly the flow's own "21st" spelled "two one st".
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
NUMBER_PHRASES: tuple[str, ...] = (
    " ".join(f"{digit} hundred" for digit in DIGITS[1:]),
    " ".join(f"{tens} {digit}" for tens in _TENS for digit in DIGITS[1:]),
    " ".join(f"{digit} {big}" for big in ("thousand", "million", "billion")
             for digit in DIGITS[1:]),
    "plus minus point percent dollars cents",
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth",
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth",
    "twenty first twenty second twenty third thirtieth thirty first",
)

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*|[0-9]+(?:st|nd|rd|th)?")
_PLACEHOLDER = re.compile(r"\{\w+\}|[$%]\{[^}]*\}")  # model reply and SWML variables


@dataclass(frozen=True, slots=True)
class WordErrors:
    """A word-level comparison: how many reference words, and the edits
    that turn them into what was recognized."""

    words: int
    wrong: int = 0  # substituted
    missing: int = 0  # deleted
    extra: int = 0  # inserted

    @property
    def errors(self) -> int:
        return self.wrong + self.missing + self.extra

    @property
    def rate(self) -> float | None:
        """The word error rate; None when there was no word to hear."""
        return self.errors / self.words if self.words else None

    def __add__(self, other: WordErrors) -> WordErrors:
        return WordErrors(self.words + other.words, self.wrong + other.wrong,
                          self.missing + other.missing, self.extra + other.extra)

    def describe(self) -> str:
        """"WER 25%: 1 wrong, 1 missing of 8 words"; "2 extra words" with none expected."""
        parts = [f"{n} {what}" for n, what in ((self.wrong, "wrong"), (self.missing, "missing"),
                                               (self.extra, "extra")) if n]
        words = f"{self.words} word{'s' if self.words != 1 else ''}"
        if self.rate is None:
            return f"{self.extra} extra word{'s' if self.extra != 1 else ''}" \
                if self.extra else "nothing, as expected"
        if not parts:
            return f"WER 0% of {words}"
        return f"WER {self.rate:.0%}: {', '.join(parts)} of {words}"


def comparable(text: str) -> list[str]:
    """`text` as words to compare: lower case, no punctuation, numbers in digits."""
    words = " ".join(_WORD.findall(text.lower()))
    # threshold 0: every number in digits, ordinals too, so both sides agree
    # whatever form each had ("second" as in "wait a second" included).
    return str(alpha2digit(words, "en", threshold=0)).split() if words else []


def word_errors(expected: str, recognized: str) -> WordErrors:
    """How `recognized` differs from `expected`, word by word."""
    reference, hypothesis = comparable(expected), comparable(recognized)
    if not reference:
        return WordErrors(0, extra=len(hypothesis))
    import jiwer  # only a transcribing run needs it

    counts = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    return WordErrors(len(reference), counts.substitutions, counts.deletions, counts.insertions)


@dataclass(frozen=True, slots=True)
class HeardLine:
    """One agent line: what the recognizer heard in its audio, and how that
    compares with what the runtime says the caller heard (`expected`)."""

    line: AgentLine
    transcript: str  # written form, as the caller side's transcripts are
    expected: str  # the line, or the words the runtime kept of a line cut off
    errors: WordErrors

    def describe(self) -> str:
        """The conversation's `heard` line."""
        text = f"\"{self.transcript}\"  ({self.errors.describe()}"
        if self.line.cut_off:
            text += f"; cut off, the runtime kept \"{self.expected}\"" if self.expected \
                else "; cut off, the runtime kept no word"
        return text + ")"


def transcribe(stt: SttProvider, audio: Samples, hints: tuple[str, ...]) -> str:
    """What `stt` makes of `audio` (16 kHz PCM16), as one utterance."""
    if not np.any(audio):
        return ""  # the agent said nothing here: no decoder needed
    session = stt.session(ListenSettings(hints=hints))
    try:
        session.feed(audio)
        return written(session.finish().text)
    finally:
        session.close()


def check_lines(stt: SttProvider, lines: Sequence[AgentLine],
                audio: Sequence[Samples]) -> list[HeardLine]:
    """Transcribe and compare each spoken line; `audio[i]` is what played during
    `lines[i]`. Lines that were not speech (files, rings) are left out."""
    spoken = [(line, sound) for line, sound in zip(lines, audio, strict=True)
              if line.kind == "say"]
    # Everything the runtime played, for every line: the recognizer is not
    # told which line it is hearing.
    hints = tuple(dict.fromkeys(line.text for line, _ in spoken))
    heard: list[HeardLine] = []
    for line, sound in spoken:
        transcript = transcribe(stt, sound, hints)
        expected = line.heard if line.cut_off else line.text
        heard.append(HeardLine(line, transcript, expected, word_errors(expected, transcript)))
    return heard


def total(heard: Iterable[HeardLine]) -> WordErrors:
    result = WordErrors(0)
    for line in heard:
        result += line.errors
    return result


def summary(heard: Sequence[HeardLine]) -> str:
    """One line for the end of the run's output."""
    errors = total(heard)
    cut = sum(1 for line in heard if line.line.cut_off)
    return (f"caller heard the agent: {errors.describe()} over {len(heard)} "
            f"line{'s' if len(heard) != 1 else ''}" + (f" ({cut} cut off)" if cut else ""))


def report(heard: Sequence[HeardLine], start: float) -> dict[str, JSONValue]:
    """For `run --json`: each line's check (times from the call's start) and the total."""
    errors = total(heard)
    return {
        "lines": [{"t": round(line.line.start - start, 6), "said": line.line.text,
                   "cut_off": line.line.cut_off, "expected": line.expected,
                   "heard": line.transcript, **_counts(line.errors)} for line in heard],
        "total": _counts(errors),
    }


def _counts(errors: WordErrors) -> dict[str, JSONValue]:
    rate = errors.rate
    return {"words": errors.words, "wrong": errors.wrong, "missing": errors.missing,
            "extra": errors.extra, "wer": None if rate is None else round(rate, 4)}


# ------------------------------------------------------------------ the recognizer


def agent_texts(flow: ir.CompiledFlow) -> Iterator[str]:
    """What the flow itself may have the agent say: `say:` items, the static
    greeting, fillers and error phrases (variables left out)."""
    seen: set[int] = set()

    def walk(value: object, filler: bool = False) -> Iterator[str]:
        if isinstance(value, str):
            if filler:
                yield value
            return
        if id(value) in seen:
            return
        seen.add(id(value))
        match value:
            case ir.PlayItem(kind="say", value=text):
                yield text.source if isinstance(text, ir.SwmlText) else text
            case RecoveryPolicy(phrase=phrase):
                yield phrase
            case ir.AiParams(static_greeting=greeting):
                # The rest of the params instruct the model; nothing is said from them.
                if greeting:
                    yield greeting
            case ir.PromptText():
                pass  # instructions to the model, not speech
            case tuple() | list():
                for item in value:
                    yield from walk(item, filler)
            case Mapping():
                for item in value.values():
                    yield from walk(item, filler)
            case _ if is_dataclass(value) and not isinstance(value, type):
                for field in fields(value):
                    yield from walk(getattr(value, field.name),
                                    filler or field.name.endswith("fillers"))

    for text in walk(flow.sections):
        yield from (part for part in _PLACEHOLDER.split(text) if part.strip())


def model_replies(providers: Iterable[object]) -> Iterator[str]:
    """The scripted models' replies, split at their `{placeholders}`
    (summaries are written, not said: left out)."""
    from interpreter.providers.llm.scripted import ScriptedProvider

    for provider in providers:
        if isinstance(provider, ScriptedProvider):
            for rule in provider.rules:
                if rule.reply and not rule.summary:
                    yield from (p for p in _PLACEHOLDER.split(rule.reply) if p.strip())


def agent_recognizer(flow: ir.CompiledFlow, models: Iterable[object] = ()) -> SttProvider:
    """The embedded recognizer, expecting what this flow's agent may say."""
    from interpreter.providers.stt.pocketsphinx import PocketsphinxProvider

    phrases = [*NUMBER_PHRASES, *agent_texts(flow), *model_replies(models)]
    return PocketsphinxProvider(vocabulary_for(flow).with_hints(phrases), pool_size=1)
