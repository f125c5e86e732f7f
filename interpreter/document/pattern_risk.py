"""Which flow patterns can backtrack without end: the shapes lint warns about.

A backtracking engine takes exponential (or high-polynomial) time when a
repeated part of a pattern can match the same text in more than one way and
the rest of the pattern then fails. The engine stops such a match after its
time bound (interpreter/patterns.py), but the pattern then does not do its
job, so lint names the shape. Two shapes are reported, both under a
repetition (`*`, `+`, `{n,}`, or a count of two or more):

- a repeated part that itself contains an unbounded repetition, with nothing
  mandatory in the repeated part to tell one round from the next: `(a+)+`,
  `(\\w+\\s?)*`, `(.*a){8}` (`(\\d+,)*` is fine: each round ends at a comma the
  digits cannot match);
- a repeated alternation whose branches can start on the same character:
  `(a|aa)+`, `(\\w+|\\d+)*`.

The pattern text is read with a small parser of the syntax both `re` and
`regex` accept; character sets are compared on a sample alphabet (ASCII and
a few non-ASCII letters, digits and spaces), which can only over-report an
overlap. Atomic groups and possessive quantifiers never backtrack, so they
are never reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import regex

from interpreter.patterns import engine_text

_ALPHABET = (*(chr(code) for code in range(128)), "é", "ß", "Ω", "中", "١", "\u00a0")
_ALL = frozenset(_ALPHABET)
_NONE: frozenset[str] = frozenset()
_QUANTIFIER = regex.compile(r"\{(\d*)(?:(,)(\d*))?\}")


@dataclass(frozen=True, slots=True)
class _Atom:
    chars: frozenset[str]  # what one character of it can be
    width: int  # 0 (anchors, lookarounds) or 1; a backreference is _Repeat(_Atom)


@dataclass(frozen=True, slots=True)
class _Seq:
    items: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Alt:
    branches: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Repeat:
    node: _Node
    low: int
    high: int | None  # None: unbounded
    backtracks: bool = True  # False: possessive
    text: str = ""  # as written, quantifier included


@dataclass(frozen=True, slots=True)
class _Atomic:
    node: _Node  # an atomic group or a lookaround: matched once, never re-entered
    zero_width: bool = False  # a lookaround consumes nothing


_Node = _Atom | _Seq | _Alt | _Repeat | _Atomic


class _Unsupported(Exception):
    """Syntax this reader does not follow (recursion, V1 sets): no verdict."""


@lru_cache(maxsize=1024)
def _chars(atom: str, flags: int) -> frozenset[str]:
    try:
        compiled = regex.compile(atom, flags)
    except regex.error:
        return _ALL
    return frozenset(char for char in _ALPHABET if compiled.fullmatch(char))


class _Reader:
    def __init__(self, text: str, flags: int) -> None:
        self.text, self.at = text, 0
        # Inline flags anywhere widen the character sets for the whole pattern
        # (over-reporting an overlap, never missing one).
        letters = "".join(regex.findall(r"\(\?([a-zA-Z]+)[:)]", text))
        self.flags = flags | (regex.IGNORECASE if "i" in letters else 0) | \
            (regex.DOTALL if "s" in letters else 0)
        self.verbose = "x" in letters

    def alternation(self) -> _Node:
        branches = [self.sequence()]
        while self.at < len(self.text) and self.text[self.at] == "|":
            self.at += 1
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else _Alt(tuple(branches))

    def sequence(self) -> _Node:
        items: list[_Node] = []
        while self.at < len(self.text) and self.text[self.at] not in "|)":
            start = self.at
            atom = self.atom()
            if atom is not None:
                items.append(self.quantified(atom, start))
        return items[0] if len(items) == 1 else _Seq(tuple(items))

    def atom(self) -> _Node | None:
        text, start = self.text, self.at
        char = text[start]
        self.at += 1
        if self.verbose and char.isspace():
            return None
        if self.verbose and char == "#":
            end = text.find("\n", self.at)
            self.at = len(text) if end < 0 else end + 1
            return None
        if char == "(":
            return self.group()
        if char == "[":
            self.at = self._class_end(start + 1)
            return _Atom(_chars(text[start:self.at], self.flags), 1)
        if char == "\\":
            return self.escape(start)
        if char in "^$":
            return _Atom(_NONE, 0)
        if char == ".":
            return _Atom(_chars(".", self.flags), 1)
        return _Atom(_chars(regex.escape(char), self.flags), 1)

    def escape(self, start: int) -> _Node:
        text = self.text
        if self.at >= len(text):
            raise _Unsupported
        char = text[self.at]
        self.at += 1
        if char in "bBAZzGKmM":
            return _Atom(_NONE, 0)
        if char in "123456789" or (char == "g" and text.startswith("<", self.at)):
            # A backreference repeats text already matched: any width.
            self.at = text.find(">", self.at) + 1 if char == "g" else self.at
            while char != "g" and self.at < len(text) and text[self.at].isdigit():
                self.at += 1
            return _Repeat(_Atom(_ALL, 1), 0, None, backtracks=False)
        if char in "pPN" and text.startswith("{", self.at):
            self.at = text.index("}", self.at) + 1
        elif char in "pP":
            self.at += 1
        elif char in "xuU0":
            width = {"x": 2, "u": 4, "U": 8, "0": 2}[char]
            if char == "x" and text.startswith("{", self.at):
                width = text.index("}", self.at) + 1 - self.at
            self.at += width
        return _Atom(_chars(text[start:self.at], self.flags), 1)

    def group(self) -> _Node | None:
        text = self.text
        atomic = lookaround = False
        if text.startswith("?", self.at):
            self.at += 1
            head = text[self.at:self.at + 2]
            if head.startswith("#"):
                self.at = text.index(")", self.at) + 1
                return None
            if head.startswith(("=", "!", ">")) or head in ("<=", "<!"):
                atomic, lookaround = True, not head.startswith(">")
                self.at += 2 if head in ("<=", "<!") else 1
            elif head.startswith(("P<", "<")):
                self.at = text.index(">", self.at) + 1
            elif head.startswith(":"):
                self.at += 1
            elif head.startswith("P="):
                self.at = text.index(")", self.at) + 1
                return _Repeat(_Atom(_ALL, 1), 0, None, backtracks=False)
            else:
                flags = regex.match(r"[abefiLmprsuwxV01-]*([:)])", text[self.at:])
                if flags is None:
                    raise _Unsupported  # conditionals, recursion, branch reset
                self.at += flags.end()
                if flags[1] == ")":
                    return None
        node = self.alternation()
        if not text.startswith(")", self.at):
            raise _Unsupported
        self.at += 1
        return _Atomic(node, lookaround) if atomic else node

    def quantified(self, node: _Node, start: int) -> _Node:
        text = self.text
        if self.at >= len(text):
            return node
        char = text[self.at]
        if char in "*+?":
            self.at += 1
            low, high = (0, None) if char == "*" else (1, None) if char == "+" else (0, 1)
        else:
            count = _QUANTIFIER.match(text, self.at)
            if count is None or not (count[1] or count[3]):
                return node
            self.at = count.end()
            low = int(count[1] or 0)
            high = None if count[2] and not count[3] else int(count[3] or count[1])
        lazy_or_possessive = text[self.at:self.at + 1]
        if lazy_or_possessive in ("?", "+"):
            self.at += 1
        return _Repeat(node, low, high, lazy_or_possessive != "+", text[start:self.at])

    def _class_end(self, at: int) -> int:
        text = self.text
        at += 1 if text.startswith("^", at) else 0
        at += 1 if text.startswith("]", at) else 0
        while at < len(text) and text[at] != "]":
            if text[at] == "\\":
                at += 1
            elif text.startswith("[:", at) and ":]" in text[at:]:
                at = text.index(":]", at) + 1
            at += 1
        if at >= len(text):
            raise _Unsupported
        return at + 1


def _width(node: _Node) -> tuple[int, int | None]:
    """The fewest and most characters a match of `node` takes (None: no limit)."""
    low: int
    high: int | None
    match node:
        case _Atom(width=width):
            return width, width
        case _Atomic(node=inner, zero_width=zero_width):
            return (0, 0) if zero_width else _width(inner)
        case _Seq(items=items):
            low, high = 0, 0
            for item in items:
                item_low, item_high = _width(item)
                low += item_low
                high = None if high is None or item_high is None else high + item_high
            return low, high
        case _Alt(branches=branches):
            widths = [_width(branch) for branch in branches]
            highs = [item_high for _, item_high in widths]
            return min(item_low for item_low, _ in widths), \
                None if None in highs else max(h for h in highs if h is not None)
        case _Repeat(node=inner, low=count_low, high=count_high):
            low, high = _width(inner)
            return low * count_low, None if high is None or count_high is None \
                else high * count_high
    raise AssertionError(node)


def _all_chars(node: _Node) -> frozenset[str]:
    """The characters a match of `node` can consume anywhere."""
    match node:
        case _Atom(chars=chars, width=width):
            return chars if width else _NONE
        case _Atomic(node=inner) | _Repeat(node=inner):
            return _all_chars(inner) if _width(node)[1] != 0 else _NONE
        case _Seq(items=items):
            return frozenset().union(*(_all_chars(item) for item in items))
        case _Alt(branches=branches):
            return frozenset().union(*(_all_chars(branch) for branch in branches))
    raise AssertionError(node)


def _prefix(node: _Node) -> list[frozenset[str]]:
    """What the first characters of a match of `node` can be, position by
    position, as far as they are fixed (then the next item's whole set)."""
    items = node.items if isinstance(node, _Seq) else (node,)
    prefix: list[frozenset[str]] = []
    for item in items:
        if isinstance(item, _Atom) and item.width == 1:
            prefix.append(item.chars)
        elif _width(item) != (0, 0):
            prefix.append(_all_chars(item))
            break
    return prefix


def _alike(one: list[frozenset[str]], other: list[frozenset[str]]) -> bool:
    return bool(one and other) and all(a & b for a, b in zip(one, other, strict=False))


def _unbounded(node: _Node) -> list[_Repeat]:
    """The backtracking unbounded repetitions in `node`, outside atomic groups."""
    match node:
        case _Repeat(node=inner, high=high, backtracks=backtracks):
            own = [node] if high is None and backtracks and _width(inner)[1] != 0 else []
            return own + _unbounded(inner)
        case _Seq(items=items):
            return [found for item in items for found in _unbounded(item)]
        case _Alt(branches=branches):
            return [found for branch in branches for found in _unbounded(branch)]
    return []


def _delimited(body: _Node, inner: _Repeat) -> bool:
    """Whether each round of `body` holds a mandatory part `inner` cannot match,
    so its rounds cannot be told apart in more than one way."""
    items = body.items if isinstance(body, _Seq) else (body,)
    chars = _all_chars(inner.node)
    return any(_width(item)[0] > 0 and not _all_chars(item) & chars
               for item in items if not _contains(item, inner))


def _contains(node: _Node, target: _Node) -> bool:
    if node is target:
        return True
    match node:
        case _Atomic(node=inner) | _Repeat(node=inner):
            return _contains(inner, target)
        case _Seq(items=items):
            return any(_contains(item, target) for item in items)
        case _Alt(branches=branches):
            return any(_contains(branch, target) for branch in branches)
    return False


def _verdict(node: _Node) -> str | None:
    match node:
        case _Repeat(node=body, high=high, backtracks=True, text=text) \
                if high is None or high >= 2:
            for inner in _unbounded(body):
                if not _delimited(body, inner):
                    return f'"{text}" repeats a part that itself repeats without limit'
            if isinstance(body, _Alt):
                starts = [_prefix(branch) for branch in body.branches]
                for position, one in enumerate(starts):
                    if any(_alike(one, other) for other in starts[position + 1:]):
                        return f'"{text}" repeats a choice whose branches can match the same text'
            return _verdict(body)
        case _Repeat(node=inner):
            return _verdict(inner)
        case _Atomic(node=inner):
            return _verdict(inner)  # it may backtrack inside, though not back into it
        case _Seq(items=items) | _Alt(branches=items):
            for item in items:
                found = _verdict(item)
                if found is not None:
                    return found
    return None


def backtracking_risk(source: str) -> str | None:
    """Why `source` (a flow pattern as written) may backtrack without end, or
    None when no risky shape is found (or the syntax is beyond this reader)."""
    text, flags = engine_text(source)
    reader = _Reader(text, flags)
    try:
        tree = reader.alternation()
    except (_Unsupported, ValueError, IndexError):
        return None
    if reader.at != len(text):
        return None
    return _verdict(tree)
