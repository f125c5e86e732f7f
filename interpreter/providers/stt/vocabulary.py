"""The words and phrases a flow's callers are expected to say.

An embedded recognizer with a small task language model recognizes what it
was told to expect far better than a general model recognizes anything
(docs/speech.md). This module reads that expectation out of a compiled flow:
the ai verb's `hints`, the prompt verb's `speech_hints`, `switch` case values,
function names and their parameters' names, descriptions and `enum` values,
gather questions' typed answers (yes/no, numbers), context and step names,
language names, plus a small general vocabulary of what callers say on any
call (digits, yes/no, thanks, bye, help, agent, operator...).

Phrases are normalized to what a recognizer writes: lower case, ASCII,
words split at punctuation, hyphens and camelCase, digits spoken one by one
("A123" → "a one two three"). The result is deterministic (sorted) and cached
per flow `content_hash`.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from interpreter import ir

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Backchannels and short acknowledgements: what a listener says over the
# agent without meaning to take the turn. Every flow has them, each one its
# own phrase, so that they are recognized as these words (and the barge
# policy's min_words / match string can judge them) rather than as the
# nearest phrase of the flow, with a low confidence.
BACKCHANNELS: tuple[str, ...] = (
    "uh huh", "mm hmm", "yeah", "yes", "yep", "okay", "right",
    "all right", "sure", "no", "got it", "i see", "go on",
)

# What callers say on any call, whatever the flow. Kept small on purpose:
# every word added makes the others a little harder to pick out.
GENERAL_PHRASES: tuple[str, ...] = (
    " ".join(DIGITS) + " oh",
    "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen",
    "twenty thirty forty fifty sixty seventy eighty ninety hundred thousand",
    "yes", "no", "yeah", "yep", "nope", "okay", "sure", "right", "correct", "wrong",
    "yes please", "no thanks", "no thank you", "thank you", "thanks", "please",
    "yes that's right", "that's correct", "that's not right",
    "hello", "hi", "good morning", "good afternoon", "good evening",
    "bye", "goodbye", "that's all", "nothing else", "that's it",
    "help", "i need help", "can you help me",
    "agent", "operator", "representative", "a person", "a real person",
    "i want to speak to a person", "i want to talk to an agent", "transfer me",
    "repeat that", "can you repeat that", "say that again", "what", "sorry",
    "i don't know", "i'm not sure", "maybe", "wait", "hold on", "one moment",
    "never mind", "cancel", "stop", "start over", "go back",
    "um", "uh", "hmm",
    "my name is", "my number is", "my phone number is",
    *BACKCHANNELS,
)

# Expected answers of a typed question (gather_info `type`, a parameter's JSON type).
TYPED_ANSWERS: Mapping[str, tuple[str, ...]] = {
    "boolean": ("yes", "no", "yes it is", "no it isn't", "correct", "that's right"),
    "integer": (" ".join(DIGITS), "oh", "ten twenty thirty forty fifty hundred thousand"),
    "number": (" ".join(DIGITS), "oh", "point", "ten twenty thirty forty fifty hundred thousand"),
}

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*|[0-9]")


def normalize(text: str) -> str:
    """A phrase as the recognizer writes it: "Order-ID A123!" → "order id a one two three"."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _CAMEL.sub(" ", text.replace("&", " and ")).lower().replace("’", "'")
    words = []
    for token in _TOKEN.findall(text):
        words.append(DIGITS[int(token)] if token.isdigit() else token)
    return " ".join(words)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Phrases (one a line, for the language model) and the words they use."""

    phrases: tuple[str, ...]
    words: tuple[str, ...] = field(init=False)
    # Identifies the phrases: the cache key of everything built from them.
    key: str = field(init=False)

    def __post_init__(self) -> None:
        words = sorted({word for phrase in self.phrases for word in phrase.split()})
        object.__setattr__(self, "words", tuple(words))
        digest = hashlib.sha256("\n".join(self.phrases).encode()).hexdigest()
        object.__setattr__(self, "key", digest[:32])

    @classmethod
    def of(cls, texts: Iterable[str]) -> Vocabulary:
        """The vocabulary of these texts, normalized, deduplicated and sorted."""
        return cls(tuple(sorted({p for p in map(normalize, texts) if p})))

    def with_hints(self, hints: Iterable[str]) -> Vocabulary:
        """This vocabulary plus the phrases of `hints` (itself when nothing is new)."""
        have = set(self.phrases)
        new = {p for p in map(normalize, hints) if p and p not in have}
        return Vocabulary(tuple(sorted(have | new))) if new else self

    def missing(self, hints: Iterable[str]) -> tuple[str, ...]:
        """The phrases of `hints` this vocabulary does not have."""
        have = set(self.phrases)
        return tuple(sorted({p for p in map(normalize, hints) if p and p not in have}))


_CACHE: OrderedDict[str, Vocabulary] = OrderedDict()
_CACHE_SIZE = 64
_LOCK = threading.Lock()


def vocabulary_for(flow: ir.CompiledFlow) -> Vocabulary:
    """The flow's vocabulary, cached per `content_hash` (a flow without one is not cached)."""
    key = flow.content_hash
    if key:
        with _LOCK:
            cached = _CACHE.get(key)
            if cached is not None:
                _CACHE.move_to_end(key)
                return cached
    vocabulary = Vocabulary.of((*GENERAL_PHRASES, *flow_texts(flow)))
    if key:
        with _LOCK:
            _CACHE[key] = vocabulary
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return vocabulary


def flow_texts(flow: ir.CompiledFlow) -> Iterator[str]:
    """Every text of the flow a caller may say, unnormalized, in document order."""
    for section in flow.sections:
        yield from _block_texts(section.body)


def _block_texts(block: ir.Block) -> Iterator[str]:
    for verb in block:
        match verb:
            case ir.Ai():
                yield from _ai_texts(verb)
            case ir.PromptInput():
                yield from verb.speech_hints
                yield from verb.listen.hints
            case ir.Switch():
                yield from verb.cases
                for case in verb.cases.values():
                    yield from _block_texts(case)
                if verb.default is not None:
                    yield from _block_texts(verb.default)
            case ir.Cond():
                yield from _cond_texts(verb)
            case ir.Execute():
                if verb.on_return is not None:
                    yield from _block_texts(verb.on_return)
                yield from _result_texts(verb.result)
            case ir.Connect():
                if isinstance(verb.confirm, tuple):
                    yield from _block_texts(verb.confirm)
                yield from _result_texts(verb.result)
            case _:
                pass


def _cond_texts(cond: ir.Cond) -> Iterator[str]:
    for branch in cond.branches:
        yield from _block_texts(branch.then)
        if branch.otherwise is not None:
            yield from _block_texts(branch.otherwise)


def _result_texts(result: ir.Switch | ir.Cond | None) -> Iterator[str]:
    if result is not None:
        yield from _block_texts((result,))


def _ai_texts(ai: ir.Ai) -> Iterator[str]:
    for hint in ai.hints:
        yield hint.hint
    yield from ai.params.listen.hints
    for language in ai.languages:
        yield language.name
    functions: dict[str, ir.Function] = {f.name: f for f in ai.functions}
    for context in ai.contexts:
        yield context.name
        for step in context.steps:
            yield step.name
            functions.update((f.name, f) for f in step.functions)
            if step.gather_info is not None:
                for question in step.gather_info.questions:
                    yield question.key
                    yield from TYPED_ANSWERS.get(question.type, ())
    for include in ai.includes:
        yield from include.functions
    for name in sorted(functions):
        if name in ir.RESERVED_FUNCTIONS:
            continue
        function = functions[name]
        yield function.name
        yield function.description
        yield from _schema_texts(function.parameters)


def _schema_texts(schema: ir.FrozenJSON) -> Iterator[str]:
    """Parameter names, descriptions, enum values and typed answers of a JSON schema."""
    if not isinstance(schema, Mapping):
        return
    description = schema.get("description")
    if isinstance(description, str):
        yield description
    kind = schema.get("type")
    if isinstance(kind, str):
        yield from TYPED_ANSWERS.get(kind, ())
    enum = schema.get("enum")
    if isinstance(enum, tuple):
        yield from (str(value) for value in enum
                    if isinstance(value, str | int | float) and not isinstance(value, bool))
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        for name, sub in properties.items():
            yield name
            yield from _schema_texts(sub)
    yield from _schema_texts(schema.get("items"))
