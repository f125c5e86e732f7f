"""Load a YAML or JSON flow document into plain JSON data with a span for every node.

libyaml (through ruamel.yaml) turns the text into a stream of parse events;
we build JSON values from that stream ourselves, with an explicit stack,
instead of letting a YAML composer and constructor do it, because that is
where the safety rules live:

- every bound is checked as the events arrive, before the work it would
  cause: nesting deeper than `DOCUMENT_MAX_DEPTH` is refused at the first
  level too deep (libyaml's scanner does work proportional to the flow depth
  for every token, and a recursive composer overflows the C stack, so the
  parse must stop there), and so is a document with more than
  `DOCUMENT_MAX_NODES` values;
- only the JSON-compatible core tags are allowed (`!!python/...`, `!!binary`,
  custom `!tags` are refused), timestamps stay strings;
- numbers must be finite doubles, integers within 64 bits (CK009): `1e999`
  is not silently Infinity;
- a key defined twice is an error, not a silent overwrite;
- aliases are never copied: a repeated subtree is shared, and the number of
  values reachable through aliases, and the depth they reach, are counted and
  bounded, so an alias bomb is refused in milliseconds with flat memory.

JSON goes through the same path (JSON is YAML's flow style) after a strict
`json` parse, so JSON syntax errors get JSON's own messages and positions; its
nesting is scanned first so that parse cannot recurse too deep either.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import re
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import implicit_resolvers

from interpreter.diagnostics import Diagnostic, JSONPath, Severity, Span
from interpreter.document.syntax_hints import explain
from interpreter.errors import DocumentError, DocumentTooLarge
from interpreter.jsontypes import JSONValue
from interpreter.limits import (
    DOCUMENT_MAX_ALIAS_NODES,
    DOCUMENT_MAX_BYTES,
    DOCUMENT_MAX_DEPTH,
    DOCUMENT_MAX_INTEGER,
    DOCUMENT_MAX_NODES,
)
from interpreter.safejson import find_too_deep

CParser: Any
try:
    from ruamel.yaml import cyaml
    CParser = cyaml.CParser  # type: ignore[attr-defined]  # libyaml, from ruamel.yaml.clib
except ImportError:  # pragma: no cover - only without ruamel.yaml.clib
    CParser = None

# Kept for callers that imported them from here; the values live in limits.py.
DEFAULT_MAX_BYTES = DOCUMENT_MAX_BYTES
DEFAULT_MAX_ALIAS_NODES = DOCUMENT_MAX_ALIAS_NODES
MAX_DEPTH = DOCUMENT_MAX_DEPTH

_CORE = "tag:yaml.org,2002:"
# Line breaks as libyaml counts them, so offsets agree with the parser's marks.
_NEWLINE = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_INT_RE = re.compile(r"[-+]?(0|[1-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)")
# Enough digits for any integer within DOCUMENT_MAX_INTEGER in any base, so
# nothing longer is ever converted (int() of a huge decimal is quadratic).
_MAX_INT_DIGITS = 64
_KEY_TAGS = frozenset(_CORE + name for name in
                      ("str", "int", "float", "bool", "null", "timestamp", "value"))


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Bounds on untrusted input; every entry point passes these through."""

    max_bytes: int = DOCUMENT_MAX_BYTES
    max_alias_nodes: int = DOCUMENT_MAX_ALIAS_NODES
    max_nodes: int = DOCUMENT_MAX_NODES
    max_depth: int = DOCUMENT_MAX_DEPTH


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """A loaded document: its data, its text and where every node came from."""

    file: str
    text: str
    data: JSONValue
    spans: Mapping[JSONPath, Span] = field(repr=False)
    key_spans: Mapping[JSONPath, Span] = field(repr=False)
    # The text split into lines and the offsets where lines start, filled on
    # first use (diagnostics quote lines and place carets inside strings).
    _lines: list[str] = field(default_factory=list, repr=False, compare=False)
    _starts: list[int] = field(default_factory=list, repr=False, compare=False)

    def span(self, path: JSONPath, *, key: bool = False) -> Span:
        """The span of the node at `path` (its key with `key=True`), or of its
        nearest ancestor that has one (nodes inside an alias share the anchor's)."""
        if key and path in self.key_spans:
            return self.key_spans[path]
        probe = path
        while probe:
            found = self.spans.get(probe)
            if found is not None:
                return found
            probe = probe[:-1]
        return self.spans.get((), Span(self.file, 1, 1))

    def lines(self) -> list[str]:
        """The text's lines, split once."""
        if not self._lines and self.text:
            self._lines.extend(self.text.splitlines())
        return self._lines

    def line(self, number: int) -> str | None:
        lines = self.lines()
        return lines[number - 1] if 0 < number <= len(lines) else None

    def _line_starts(self) -> list[int]:
        if not self._starts:
            self._starts.append(0)
            self._starts.extend(match.end() for match in _NEWLINE.finditer(self.text))
        return self._starts

    def offset(self, line: int, col: int) -> int:
        """The character offset of a 1-based line and column."""
        starts = self._line_starts()
        return starts[min(max(line, 1), len(starts)) - 1] + col - 1

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based line and column of a character offset."""
        starts = self._line_starts()
        index = bisect.bisect_right(starts, offset) - 1
        return index + 1, offset - starts[index] + 1

    def diagnostic(
        self,
        code: str,
        severity: Severity,
        message: str,
        path: JSONPath,
        *,
        key: bool = False,
        hint: str | None = None,
        span: Span | None = None,
    ) -> Diagnostic:
        where = span or self.span(path, key=key)
        return Diagnostic(code, severity, message, where, path, hint, self.line(where.line))

    def get(self, path: JSONPath) -> JSONValue:
        """The value at `path`; KeyError/IndexError if absent."""
        node: Any = self.data
        for part in path:
            node = node[part]
        result: JSONValue = node
        return result


def _loader_error(file: str, text: str | None, code: str, message: str, line: int = 1,
                  col: int = 1, hint: str | None = None) -> DocumentError:
    source_line = None
    if text is not None:
        source_line = _source_line(text, line)
    diagnostic = Diagnostic(code, Severity.ERROR, message, Span(file, line, col), (), hint,
                            source_line)
    return DocumentError([diagnostic])


def _source_line(text: str, line: int) -> str | None:
    """Line `line` (1-based) of `text`, found without splitting the whole text."""
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return None
    end = text.find("\n", start)
    return text[start:] if end < 0 else text[start:end]


def _too_large(file: str, message: str) -> DocumentTooLarge:
    return DocumentTooLarge([Diagnostic(
        "CK005", Severity.ERROR, message, Span(file, 1, 1), (),
        "raise the limit with --max-bytes if this is intended")])


def decode(raw: bytes, file: str, options: LoadOptions) -> str:
    """Bytes to text, enforcing the size limit and UTF-8."""
    if len(raw) > options.max_bytes:
        raise _too_large(file, f"document is {len(raw):,} bytes, over the limit of "
                               f"{options.max_bytes:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
        raise _loader_error(file, None, "CK006",
                            f"document is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                            line, col) from None
    return text.removeprefix("\ufeff")


def _checked_text(source: str, file: str, options: LoadOptions) -> str:
    """A str source under the same rules as bytes: size in UTF-8, no lone surrogates."""
    if len(source) > options.max_bytes:  # a character is at least one byte
        raise _too_large(file, f"document is over the limit of {options.max_bytes:,} bytes")
    try:
        size = len(source.encode("utf-8"))
    except UnicodeEncodeError as exc:
        line, col = _position(source, exc.start)
        raise _loader_error(file, source, "CK006",
                            "document is not UTF-8 text (a lone surrogate "
                            f"U+{ord(source[exc.start]):04X})", line, col) from None
    if size > options.max_bytes:
        raise _too_large(file, f"document is {size:,} bytes, over the limit of "
                               f"{options.max_bytes:,} bytes")
    return source.removeprefix("\ufeff")


def looks_like_json(file: str, text: str) -> bool:
    if file.endswith(".json"):
        return True
    if file.endswith((".yaml", ".yml")):
        return False
    return text.lstrip()[:1] in ("{", "[")


def load_document(source: str | bytes, file: str = "<input>",
                  options: LoadOptions | None = None) -> SourceDocument:
    """Parse a YAML or JSON document; raise DocumentError with located diagnostics."""
    options = options or LoadOptions()
    if isinstance(source, bytes):
        text = decode(source, file, options)
    else:
        text = _checked_text(source, file, options)
    if looks_like_json(file, text):
        _check_json_syntax(file, text, options)
    builder = _Builder(file, text, options)
    data = builder.build()
    return SourceDocument(file, text, data, MappingProxyType(builder.spans),
                          MappingProxyType(builder.key_spans))


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _check_json_syntax(file: str, text: str, options: LoadOptions) -> None:
    too_deep = find_too_deep(text, options.max_depth)
    if too_deep is not None:  # before json recurses into it
        line, col = _position(text, too_deep)
        raise _loader_error(file, text, "CK004",
                            f"document nests deeper than {options.max_depth} levels", line, col)
    try:
        # Numbers are only checked for syntax here (len is the cheapest hook);
        # the builder checks their range, with their position.
        json.loads(text, parse_constant=_reject_constant, parse_int=len, parse_float=len)
    except json.JSONDecodeError as exc:
        raise _loader_error(file, text, "CK007", f"JSON syntax error: {exc.msg}",
                            exc.lineno, exc.colno) from None
    except ValueError as exc:
        raise _loader_error(file, text, "CK007", f"JSON syntax error: {exc}") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# YAML 1.2 rules for plain scalars (`yes` stays a string), by first character;
# `=` and the documentation-only `!!yaml` rule resolve to strings here.
_RESOLVERS: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
for _versions, _tag, _regexp, _first in implicit_resolvers:
    if (1, 2) in _versions and _tag not in (_CORE + "value", _CORE + "yaml"):
        for _character in _first:
            _RESOLVERS.setdefault(_character, []).append(
                (_tag, re.compile(_regexp.pattern, _regexp.flags)))


@functools.lru_cache(maxsize=4096)
def _resolve(value: str) -> str:
    """The tag of a plain scalar."""
    for tag, regexp in _RESOLVERS.get(value[:1], ()):
        if regexp.match(value):
            return tag
    return _CORE + "str"


def _events(text: str) -> Generator[Event, None, None]:
    if CParser is None:  # pragma: no cover - only without ruamel.yaml.clib
        from ruamel.yaml import YAML
        yield from YAML(typ="safe", pure=True).parse(text)
        return
    parser = CParser(text)
    try:
        while True:
            event = parser.get_event()
            yield event
            if type(event) is StreamEndEvent:
                return
    finally:
        parser.dispose()


@dataclass(slots=True)
class _Anchor:
    value: JSONValue
    size: int  # values in the subtree, aliases inside it expanded
    height: int  # levels it occupies: 1 for a scalar or an empty list
    span: Span
    key: str | None  # a scalar's source text, if it is used as a key


@dataclass(slots=True)
class _Frame:
    """An open list or map while its events stream in."""

    value: list[JSONValue] | dict[str, JSONValue]
    path: JSONPath
    span: Span
    anchor: str | None
    nodes_before: int
    height: int = 0
    # Maps: the key whose value comes next, or None while a key is expected.
    key: str | None = None
    merge_next: bool = False  # the key was `<<`
    first_seen: dict[str, Span] = field(default_factory=dict)
    merged: list[dict[str, JSONValue]] = field(default_factory=list)
    # A list that is the value of `<<`: its items are merged, at the map's path.
    merge_list: bool = False
    item_spans: list[Span] = field(default_factory=list)


class _Builder:
    """Builds JSON values from parse events, recording spans as it goes."""

    def __init__(self, file: str, text: str, options: LoadOptions) -> None:
        self.file = file
        self.text = text
        self.options = options
        self.spans: dict[JSONPath, Span] = {}
        self.key_spans: dict[JSONPath, Span] = {}
        self._anchors: dict[str, _Anchor] = {}
        self._open_anchors: set[str] = set()
        self._alias_nodes = 0
        self._nodes = 0

    # ---------------------------------------------------------------- errors

    def _span(self, event: Event) -> Span:
        start, end = event.start_mark, event.end_mark
        return Span(self.file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)

    def _fail(self, code: str, message: str, span: Span, hint: str | None = None
              ) -> DocumentError:
        return _loader_error(self.file, self.text, code, message, span.line, span.col, hint)

    def _syntax_error(self, exc: YAMLError) -> DocumentError:
        if isinstance(exc, MarkedYAMLError):
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            problem = exc.problem or exc.context or "invalid YAML"
            message = f"YAML syntax error: {problem}"
            if exc.context and exc.problem and exc.context not in problem:
                message += f" ({exc.context})"
            error = _loader_error(self.file, self.text, "CK001", message, line, col)
            # A plain-language hint and the caret where the fix goes, for every
            # command that loads a document, not only lint.
            return DocumentError([explain(d, self.text) for d in error.diagnostics])
        if isinstance(exc, ReaderError) and isinstance(exc.character, int):
            # libyaml counts UTF-8 bytes; the pure-Python reader counts characters.
            offset = exc.position
            if CParser is not None:
                offset = len(self.text.encode("utf-8")[:offset].decode("utf-8", "ignore"))
            line, col = _position(self.text, offset)
            return _loader_error(
                self.file, self.text, "CK001",
                f"YAML syntax error: control character U+{exc.character:04X} is not allowed",
                line, col, "write it as an escape inside a double-quoted string, like \"\\t\"")
        return _loader_error(self.file, self.text, "CK001", f"YAML syntax error: {exc}")

    # ---------------------------------------------------------------- the stream

    def build(self) -> JSONValue:
        events = _events(self.text)
        try:
            return self._document(events)
        except YAMLError as exc:
            raise self._syntax_error(exc) from None
        finally:
            events.close()  # an early refusal stops the parser where it is

    def _document(self, events: Iterator[Event]) -> JSONValue:
        next(events)  # stream start
        event = next(events)
        if isinstance(event, StreamEndEvent):
            raise _loader_error(self.file, self.text, "CK008", "document is empty")
        value = self._root(events)
        next(events)  # document end
        event = next(events)
        if not isinstance(event, StreamEndEvent):
            span = self._span(event)
            raise self._fail("CK001", "YAML syntax error: expected a single document in the "
                             "stream, but found another document", span)
        return value

    def _root(self, events: Iterator[Any]) -> JSONValue:
        stack: list[_Frame] = []
        max_depth, max_nodes, file = self.options.max_depth, self.options.max_nodes, self.file
        spans = self.spans
        for event in events:
            height = 1  # levels the value occupies: 1 for a scalar
            kind = type(event)
            if kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                end = event.end_mark
                span = Span(file, frame.span.line, frame.span.col, end.line + 1, end.column + 1)
                if spans.get(frame.path) is frame.span:
                    spans[frame.path] = span  # now that its end is known
                value: JSONValue = self._close(frame, span)
                height = frame.height + 1
            else:
                start, end = event.start_mark, event.end_mark
                span = Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)
                parent = stack[-1] if stack else None
                if parent is not None and parent.key is None and not parent.merge_next \
                        and type(parent.value) is dict:
                    self._key(parent, event, span)
                    continue
                path = self._child_path(parent)
                if kind is AliasEvent:
                    value, height, span = self._alias(event, span, len(stack))
                    spans.setdefault(path, span)
                else:
                    if len(stack) > max_depth:
                        raise self._fail("CK004",
                                         f"document nests deeper than {max_depth} levels", span)
                    self._nodes += 1
                    if self._nodes > max_nodes:
                        raise self._too_many(span)
                    spans.setdefault(path, span)
                    tag = event.ctag
                    if kind is ScalarEvent:
                        value = self._scalar(event, tag, span)
                        if event.anchor is not None:
                            self._anchors[event.anchor] = _Anchor(
                                value, 1, 1, span, event.value)
                    else:
                        self._open(stack, parent, event, path, span)
                        continue
            if not stack:
                return value
            frame = stack[-1]
            if type(frame.value) is list and not frame.merge_list:
                frame.value.append(value)  # the common case, without a call
                if height > frame.height:
                    frame.height = height
            else:
                self._deliver(frame, value, height, span)
        raise self._fail("CK001", "YAML syntax error: unexpected end of the document",
                         Span(self.file, 1, 1))  # pragma: no cover - the parser says first

    def _open(self, stack: list[_Frame], parent: _Frame | None, event: Any, path: JSONPath,
              span: Span) -> None:
        """A list or map starts: check its tag and push it."""
        tag = None if event.ctag is None else str(event.ctag)
        container: list[JSONValue] | dict[str, JSONValue]
        if isinstance(event, SequenceStartEvent):
            if tag not in (None, "!", _CORE + "seq"):
                raise self._tag_error(span, tag)
            container = []
        elif isinstance(event, MappingStartEvent):
            if tag not in (None, "!", _CORE + "map"):
                raise self._tag_error(span, tag)
            container = {}
        else:  # pragma: no cover - the parser emits nothing else here
            raise self._fail("CK001", f"YAML syntax error: unexpected {type(event).__name__}",
                             span)
        if event.anchor is not None:
            self._open_anchors.add(event.anchor)
        merge_list = parent is not None and parent.merge_next and isinstance(container, list)
        stack.append(_Frame(container, path, span, event.anchor, self._nodes - 1,
                            merge_list=merge_list))

    def _child_path(self, parent: _Frame | None) -> JSONPath:
        if parent is None:
            return ()
        if isinstance(parent.value, list):
            return parent.path if parent.merge_list else (*parent.path, len(parent.value))
        if parent.merge_next:
            return parent.path  # a merged map's keys land in this map
        assert parent.key is not None
        return (*parent.path, parent.key)

    def _count(self, size: int, span: Span) -> None:
        self._nodes += size
        if self._nodes > self.options.max_nodes:
            raise self._too_many(span)

    def _too_many(self, span: Span) -> DocumentError:
        return self._fail(
            "CK005", f"document holds more than {self.options.max_nodes:,} values "
            "(lists, maps and scalars, keys and aliases included)", span,
            "split the document, or move bulk data out of it")

    def _deliver(self, frame: _Frame, value: JSONValue, height: int, span: Span) -> None:
        frame.height = max(frame.height, height)
        if isinstance(frame.value, list):
            frame.value.append(value)
            if frame.merge_list:
                frame.item_spans.append(span)
            return
        if frame.merge_next:
            frame.merge_next = False
            if isinstance(value, dict):
                frame.merged.append(value)
            elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
                frame.merged.extend(item for item in value if isinstance(item, dict))
            else:
                raise self._merge_error(span)
            return
        assert frame.key is not None
        frame.value[frame.key] = value
        frame.key = None

    def _merge_error(self, span: Span) -> DocumentError:
        return self._fail("CK008", "a merge key (<<) takes a mapping or a list of mappings",
                          span)

    def _close(self, frame: _Frame, span: Span) -> JSONValue:
        value = frame.value
        if frame.merge_list:
            for item, span in zip(value, frame.item_spans, strict=True):
                if not isinstance(item, dict):
                    raise self._merge_error(span)
        if isinstance(value, dict):
            for source in frame.merged:
                for key, item in source.items():
                    value.setdefault(key, item)
        if frame.anchor is not None:
            self._open_anchors.discard(frame.anchor)
            self._anchors[frame.anchor] = _Anchor(
                value, self._nodes - frame.nodes_before, frame.height + 1, span, None)
        return value

    def _key(self, frame: _Frame, event: Event, span: Span) -> None:
        """A map's key: a plain scalar (or an alias of one), or `<<`."""
        assert isinstance(frame.value, dict)
        if isinstance(event, AliasEvent):
            anchor = self._anchor(event, span)
            if anchor.key is None:
                raise self._fail("CK008", "mapping keys must be plain strings", span)
            key = anchor.key
        elif isinstance(event, ScalarEvent):
            self._count(1, span)
            tag = None if event.ctag is None else str(event.ctag)
            if tag is None or tag == "!":
                tag = _resolve(event.value) if event.implicit[0] else _CORE + "str"
            if tag == _CORE + "merge":
                frame.merge_next = True
                return
            if tag not in _KEY_TAGS:
                raise self._tag_error(span, tag)
            # Keys are strings in JSON; YAML `1:` or `true:` keys keep their source text
            # so `switch.case` values like `1:` match the string "1".
            key = str(event.value)
        else:
            raise self._fail("CK008", "mapping keys must be plain strings", span)
        first = frame.first_seen.get(key)
        if first is not None:
            raise self._fail("CK002", f'duplicate key "{key}"', span,
                             f"first defined at line {first.line}")
        frame.first_seen[key] = span
        self.key_spans[(*frame.path, key)] = span
        frame.key = key

    def _anchor(self, event: AliasEvent, span: Span) -> _Anchor:
        name = event.anchor
        found = self._anchors.get(name)
        if found is None:
            if name in self._open_anchors:
                raise self._fail("CK004", f"alias *{name} refers to a node that contains it",
                                 span, "a recursive structure cannot be plain data")
            raise self._fail("CK001", f"YAML syntax error: found undefined alias {name!r}", span)
        return found

    def _alias(self, event: AliasEvent, span: Span, depth: int) -> tuple[JSONValue, int, Span]:
        anchor = self._anchor(event, span)
        if depth + anchor.height - 1 > self.options.max_depth:
            raise self._fail("CK004", f"document nests deeper than {self.options.max_depth} "
                             f"levels through alias *{event.anchor}", span)
        self._alias_nodes += anchor.size
        if self._alias_nodes > self.options.max_alias_nodes:
            raise self._fail(
                "CK004", f"aliases expand to more than {self.options.max_alias_nodes:,} nodes",
                span, "an alias bomb: repeated anchors this large are refused")
        self._count(anchor.size, span)
        return anchor.value, anchor.height, anchor.span

    # ---------------------------------------------------------------- scalars

    def _scalar(self, event: ScalarEvent, tag: object, span: Span) -> JSONValue:
        text: str = event.value
        if tag is None or tag == "!":
            if not event.implicit[0] or text[:1] not in _RESOLVERS:
                return text  # quoted, or plain and cannot be anything but a string
            tag = _resolve(text)
        else:
            tag = str(tag)
        if tag in (_CORE + "str", _CORE + "timestamp", _CORE + "value"):
            return text
        if tag == _CORE + "null":
            return None
        if tag == _CORE + "bool":
            return text.lower() in ("true", "yes", "on", "y")
        if tag == _CORE + "int":
            return self._integer(text, span)
        if tag == _CORE + "float":
            return self._float(text, span)
        raise self._tag_error(span, tag)

    def _integer(self, text: str, span: Span) -> JSONValue:
        if not _INT_RE.fullmatch(text):
            return text
        cleaned = text.replace("_", "")
        digits = cleaned.lstrip("+-")
        radix = 0 if digits[1:2] in ("x", "o", "b") else 10
        if len((digits[2:] if radix == 0 else digits).lstrip("0")) > _MAX_INT_DIGITS:
            raise self._out_of_range(text, span)
        try:
            value = int(cleaned, radix)
        except ValueError:
            return text
        if abs(value) > DOCUMENT_MAX_INTEGER:
            raise self._out_of_range(text, span)
        return value

    def _float(self, text: str, span: Span) -> JSONValue:
        lowered = text.lower().replace("_", "")
        if lowered.lstrip("+-") in (".inf", ".nan"):
            raise self._fail("CK008", f"{text} is not a JSON number", span,
                             "quote it if you mean the string")
        try:
            value = float(lowered)
        except ValueError:
            return text
        if not math.isfinite(value):
            raise self._out_of_range(text, span)
        return value

    def _out_of_range(self, text: str, span: Span) -> DocumentError:
        shown = text if len(text) <= 24 else f"{text[:20]}… ({len(text)} characters)"
        return self._fail(
            "CK009", f"number {shown} is out of range: numbers must be finite, "
            f"integers between -{DOCUMENT_MAX_INTEGER:,} and {DOCUMENT_MAX_INTEGER:,}", span,
            "quote it if it is an identifier rather than a quantity")

    def _tag_error(self, span: Span, tag: str) -> DocumentError:
        shown = tag.replace(_CORE, "!!")
        return self._fail("CK003", f"YAML tag {shown} is not allowed in flow documents", span,
                          "flows are plain data: strings, numbers, booleans, null, lists, maps")
