"""A flow's own regular expressions, matched within a time bound.

Patterns a document writes (`hints` rewrites, data_map `expressions`,
`barge_match_string`) run on the event loop every call shares, so one
pattern that backtracks catastrophically would stall them all. They are
compiled with the `regex` engine, which accepts what Python's `re` does and
stops a match that runs over a time limit: every match here gets
`MATCH_TIMEOUT_S` of processor time and then raises `PatternTimeout`, which
each use site turns into a classified outcome (docs/flow-language.md,
"Regular expressions"). Our own fixed patterns stay with `re`.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from interpreter.errors import CallkernelError

# The time one match, search or substitution of a flow pattern may take: one
# media tick. A pattern that needs longer is almost always backtracking
# without end; ordinary ones take microseconds.
MATCH_TIMEOUT_S = 0.02

# Texts a pattern timed out on are remembered, so the same question asked
# again (a barge-in is decided, then explained) fails at once, the same way.
_TIMED_OUT_MEMORY = 16

_JS_LITERAL = regex.compile(r"^/(.*)/([a-z]*)$", regex.DOTALL)
_JS_FLAGS = {"i": regex.IGNORECASE, "s": regex.DOTALL, "m": regex.MULTILINE}

# A `sub` template's escapes: `\g<name>` (group 1) or any other `\x`.
_TEMPLATE_PART = regex.compile(r"\\(?:g<([^>]*)>|.)", regex.DOTALL)

Match = regex.Match[str]


class PatternError(CallkernelError):
    """A flow pattern (or a replacement for it) is invalid; `pos` is where in
    `text`, when known."""

    def __init__(self, text: str, msg: str, pos: int | None,
                 what: str = "regular expression") -> None:
        self.text, self.msg, self.pos = text, msg, pos
        super().__init__(f'invalid {what} "{text}": {msg}')


class PatternTimeout(CallkernelError):
    """A match of a flow pattern ran over MATCH_TIMEOUT_S and was stopped."""

    def __init__(self, source: str, length: int) -> None:
        self.source, self.length = source, length
        super().__init__(f'pattern "{source}" took over {MATCH_TIMEOUT_S * 1000:g} ms '
                         f"on {length} characters and was stopped")


def engine_text(source: str) -> tuple[str, int]:
    """The pattern text and flags the engine compiles: PCRE-style text as
    written, or the JavaScript literal `/text/flags` that SDK skills emit
    (flag `i` ignores case, `s` dot-all, `m` multiline; others are ignored)."""
    literal = _JS_LITERAL.match(source)
    if literal is None:
        return source, 0
    flags = 0
    for letter in literal[2]:
        flags |= _JS_FLAGS.get(letter, 0)
    return literal[1], flags


class _Engine:
    # The compiled engine object lives outside the dataclass fields, so a
    # FlowPattern compares, hashes and normalizes by what the document said.
    __slots__ = ("_regex", "_timed_out")
    _regex: regex.Pattern[str]
    _timed_out: dict[tuple[str, str], None]


@dataclass(frozen=True, slots=True)
class FlowPattern(_Engine):
    """A document's pattern, compiled once; every use is time-bounded.

    `source` is the text as written; `ignore_case` adds the flag a hint's
    `ignore_case` or the barge policy asks for. Raises PatternError when the
    pattern does not compile. search/fullmatch/sub raise PatternTimeout when a
    match runs over MATCH_TIMEOUT_S.
    """

    source: str
    ignore_case: bool = False

    def __post_init__(self) -> None:
        text, flags = engine_text(self.source)
        try:
            compiled = regex.compile(text, flags | (regex.IGNORECASE if self.ignore_case else 0))
        except regex.error as error:
            # The stubs do not declare the attributes the engine sets.
            raise PatternError(text, str(getattr(error, "msg", error)),
                               getattr(error, "pos", None)) from None
        object.__setattr__(self, "_regex", compiled)
        object.__setattr__(self, "_timed_out", {})

    def __reduce__(self) -> tuple[type[FlowPattern], tuple[str, bool]]:
        return FlowPattern, (self.source, self.ignore_case)

    @property
    def pattern(self) -> str:
        """The text the engine compiled (a JavaScript literal unwrapped)."""
        return self._regex.pattern

    def search(self, text: str) -> Match | None:
        """The first match anywhere in `text` (PCRE semantics), or None."""
        self._check(text, "search")
        try:
            return self._regex.search(text, timeout=MATCH_TIMEOUT_S)
        except TimeoutError:
            raise self._timed_out_on(text, "search") from None

    def fullmatch(self, text: str) -> Match | None:
        """A match of the whole of `text`, or None."""
        self._check(text, "fullmatch")
        try:
            return self._regex.fullmatch(text, timeout=MATCH_TIMEOUT_S)
        except TimeoutError:
            raise self._timed_out_on(text, "fullmatch") from None

    def sub(self, template: str, text: str) -> str:
        """`text` with every match replaced by `template` (`\\g<1>` groups; a
        document's `$1` is converted when the document is compiled). The
        bound covers the whole substitution; a template naming a group the
        pattern lacks raises PatternError (template_error finds it first)."""
        self._check(text, template)
        try:
            return self._regex.sub(template, text, timeout=MATCH_TIMEOUT_S)
        except TimeoutError:
            raise self._timed_out_on(text, template) from None
        except (regex.error, IndexError) as error:
            raise PatternError(template, str(getattr(error, "msg", error)), None,
                               "replacement") from None

    def template_error(self, template: str) -> str | None:
        """What is wrong with a `sub` template for this pattern (a group it
        names that the pattern does not have), or None."""
        groups = self._regex.groups
        for found in _TEMPLATE_PART.finditer(template):
            name = found[1]
            if name is None:
                continue
            if not ((name.isdigit() and int(name) <= groups) or name in self._regex.groupindex):
                return f"the replacement refers to group {name}, which the pattern does not have"
        return None

    def _check(self, text: str, how: str) -> None:
        if self._timed_out and (how, text) in self._timed_out:
            raise PatternTimeout(self.source, len(text))

    def _timed_out_on(self, text: str, how: str) -> PatternTimeout:
        memory = self._timed_out
        if len(memory) >= _TIMED_OUT_MEMORY:
            del memory[next(iter(memory))]
        memory[(how, text)] = None
        return PatternTimeout(self.source, len(text))
