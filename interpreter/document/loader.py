"""Load a YAML or JSON flow document into plain JSON data with a span for every node.

ruamel.yaml composes the text into a node tree (each node with its start mark);
we construct JSON values from that tree ourselves instead of letting a YAML
constructor do it, because that is where the safety rules live:

- only the JSON-compatible core tags are allowed (`!!python/...`, `!!binary`,
  custom `!tags` are refused), timestamps stay strings;
- a key defined twice is an error, not a silent overwrite;
- aliases are never copied: a repeated subtree is shared, and the number of
  nodes reachable through aliases is counted and bounded, so an alias bomb is
  refused in milliseconds with flat memory.

JSON goes through the same path (JSON is YAML's flow style) after a strict
`json` parse, so JSON syntax errors get JSON's own messages and positions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

from interpreter.diagnostics import Diagnostic, JSONPath, Severity, Span
from interpreter.errors import DocumentError, DocumentTooLarge
from interpreter.jsontypes import JSONValue

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 200

_CORE = "tag:yaml.org,2002:"
_INT_RE = re.compile(r"[-+]?(0|[1-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)")


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Bounds on untrusted input; every entry point passes these through."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_alias_nodes: int = DEFAULT_MAX_ALIAS_NODES


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """A loaded document: its data, its text and where every node came from."""

    file: str
    text: str
    data: JSONValue
    spans: Mapping[JSONPath, Span] = field(repr=False)
    key_spans: Mapping[JSONPath, Span] = field(repr=False)

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

    def line(self, number: int) -> str | None:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else None

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
        lines = text.splitlines()
        source_line = lines[line - 1] if 0 < line <= len(lines) else None
    diagnostic = Diagnostic(code, Severity.ERROR, message, Span(file, line, col), (), hint,
                            source_line)
    return DocumentError([diagnostic])


def decode(raw: bytes, file: str, options: LoadOptions) -> str:
    """Bytes to text, enforcing the size limit and UTF-8."""
    if len(raw) > options.max_bytes:
        raise DocumentTooLarge(DocumentError([Diagnostic(
            "CK005", Severity.ERROR,
            f"document is {len(raw):,} bytes, over the limit of {options.max_bytes:,} bytes",
            Span(file, 1, 1), (), "raise the limit with --max-bytes if this is intended",
        )]).diagnostics)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise _loader_error(file, None, "CK006",
                            f"document is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                            line, col) from None
    return text.removeprefix("\ufeff")


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
        if len(source.encode("utf-8", "surrogatepass")) > options.max_bytes:
            decode(source.encode("utf-8", "surrogatepass"), file, options)
        text = source.removeprefix("\ufeff")
    if looks_like_json(file, text):
        _check_json_syntax(file, text)
    node = _compose(file, text)
    if node is None:
        raise _loader_error(file, text, "CK008", "document is empty")
    builder = _Builder(file, text, options)
    data = builder.build(node, (), 0)
    return SourceDocument(file, text, data, MappingProxyType(builder.spans),
                          MappingProxyType(builder.key_spans))


def _check_json_syntax(file: str, text: str) -> None:
    try:
        json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _loader_error(file, text, "CK007", f"JSON syntax error: {exc.msg}",
                            exc.lineno, exc.colno) from None
    except ValueError as exc:
        raise _loader_error(file, text, "CK007", f"JSON syntax error: {exc}") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class _Yaml12Resolver(VersionedResolver):
    """Resolves plain scalars by YAML 1.2 rules (`yes` stays a string).

    ruamel looks the YAML version up for every scalar through a chain of
    attribute lookups that fail with the C parser; flows are YAML 1.2, so the
    version is fixed, which halves composing time on large documents.
    """

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)


def _yaml() -> YAML:
    try:
        yaml = YAML(typ="safe", pure=False)
    except Exception:  # pragma: no cover - only without ruamel.yaml.clib
        yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _Yaml12Resolver
    return yaml


_PARSER = _yaml()


def _compose(file: str, text: str) -> Node | None:
    try:
        node: Node | None = _PARSER.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        message = f"YAML syntax error: {problem}"
        if exc.context and exc.problem and exc.context not in problem:
            message += f" ({exc.context})"
        raise _loader_error(file, text, "CK001", message, line, col) from None
    except YAMLError as exc:
        raise _loader_error(file, text, "CK001", f"YAML syntax error: {exc}") from None
    return node


class _Builder:
    """Turns composed nodes into JSON values, recording spans as it goes."""

    def __init__(self, file: str, text: str, options: LoadOptions) -> None:
        self.file = file
        self.text = text
        self.options = options
        self.spans: dict[JSONPath, Span] = {}
        self.key_spans: dict[JSONPath, Span] = {}
        # id(node) -> (value, subtree size): an alias reuses the value and
        # charges the size against the alias budget instead of expanding again.
        self._built: dict[int, tuple[JSONValue, int]] = {}
        self._alias_nodes = 0
        self._size = 0

    def _span(self, node: Node) -> Span:
        start, end = node.start_mark, node.end_mark
        return Span(self.file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)

    def _fail(self, code: str, message: str, node: Node, hint: str | None = None) -> DocumentError:
        span = self._span(node)
        return _loader_error(self.file, self.text, code, message, span.line, span.col, hint)

    def build(self, node: Node, path: JSONPath, depth: int) -> JSONValue:
        if depth > MAX_DEPTH:
            raise self._fail("CK004", f"document nests deeper than {MAX_DEPTH} levels", node)
        self.spans.setdefault(path, self._span(node))
        cached = self._built.get(id(node))
        if cached is not None:
            value, size = cached
            self._alias_nodes += size
            self._size += size
            if self._alias_nodes > self.options.max_alias_nodes:
                raise self._fail(
                    "CK004",
                    f"aliases expand to more than {self.options.max_alias_nodes:,} nodes",
                    node, "an alias bomb: repeated anchors this large are refused")
            return value
        size_before = self._size
        self._size += 1
        value = self._construct(node, path, depth)
        if isinstance(node, MappingNode | SequenceNode) or getattr(node, "anchor", None):
            self._built[id(node)] = (value, self._size - size_before)
        return value

    def _construct(self, node: Node, path: JSONPath, depth: int) -> JSONValue:
        tag = node.tag or ""
        if isinstance(node, ScalarNode):
            return self._scalar(node, tag)
        if isinstance(node, SequenceNode):
            if tag != _CORE + "seq":
                raise self._tag_error(node, tag)
            return [self.build(item, (*path, index), depth + 1)
                    for index, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            if tag != _CORE + "map":
                raise self._tag_error(node, tag)
            return self._mapping(node, path, depth)
        raise self._fail("CK003", f"unsupported YAML node {type(node).__name__}", node)

    def _mapping(self, node: MappingNode, path: JSONPath, depth: int) -> dict[str, JSONValue]:
        result: dict[str, JSONValue] = {}
        first_seen: dict[str, Span] = {}
        merged: list[dict[str, JSONValue]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _CORE + "merge":
                merged.extend(self._merge_sources(value_node, path, depth))
                continue
            if not isinstance(key_node, ScalarNode):
                raise self._fail("CK008", "mapping keys must be plain strings", key_node)
            if key_node.tag not in (_CORE + "str", _CORE + "int", _CORE + "float",
                                    _CORE + "bool", _CORE + "null", _CORE + "timestamp"):
                raise self._tag_error(key_node, str(key_node.tag))
            # Keys are strings in JSON; YAML `1:` or `true:` keys keep their source text
            # so `switch.case` values like `1:` match the string "1".
            key = str(key_node.value)
            key_span = self._span(key_node)
            if key in first_seen:
                first = first_seen[key]
                raise _loader_error(self.file, self.text, "CK002", f'duplicate key "{key}"',
                                    key_span.line, key_span.col,
                                    f"first defined at line {first.line}")
            first_seen[key] = key_span
            self.key_spans[(*path, key)] = key_span
            result[key] = self.build(value_node, (*path, key), depth + 1)
        for source in merged:
            for key, value in source.items():
                result.setdefault(key, value)
        return result

    def _merge_sources(self, node: Node, path: JSONPath,
                       depth: int) -> list[dict[str, JSONValue]]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        out: list[dict[str, JSONValue]] = []
        for source in sources:
            value = self.build(source, path, depth + 1)
            if not isinstance(value, dict):
                raise self._fail("CK008", "a merge key (<<) takes a mapping or a list of mappings",
                                 source)
            out.append(value)
        return out

    def _scalar(self, node: ScalarNode, tag: str) -> JSONValue:
        text: str = node.value
        if tag in (_CORE + "str", _CORE + "timestamp"):
            return text
        if tag == _CORE + "null":
            return None
        if tag == _CORE + "bool":
            return text.lower() in ("true", "yes", "on", "y")
        if tag == _CORE + "int":
            cleaned = text.replace("_", "")
            if _INT_RE.fullmatch(text):
                try:
                    return int(cleaned, 0) if not cleaned.lstrip("+-").startswith("0") or \
                        cleaned.lstrip("+-")[1:2] in ("x", "o", "b") else int(cleaned, 10)
                except ValueError:
                    pass
            return text
        if tag == _CORE + "float":
            lowered = text.lower().replace("_", "")
            if lowered.lstrip("+-") in (".inf", ".nan"):
                raise self._fail("CK008", f"{text} is not a JSON number", node,
                                 "quote it if you mean the string")
            try:
                return float(lowered)
            except ValueError:
                return text
        raise self._tag_error(node, tag)

    def _tag_error(self, node: Node, tag: str) -> DocumentError:
        shown = tag.replace(_CORE, "!!")
        return self._fail("CK003", f"YAML tag {shown} is not allowed in flow documents", node,
                          "flows are plain data: strings, numbers, booleans, null, lists, maps")
