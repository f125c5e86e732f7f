"""Where a document holds expressions, which language each is in, and their
parsed form (cached, so lint and compile parse every text once).

Calling SWML (`${...}`/`%{...}` as a JavaScript subset) is every string under a
method other than `ai`, with `cond.when` and `goto.when` as bare expressions.
Everything under `ai` is in the SWAIG template language.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from interpreter.diagnostics import JSONPath, Span
from interpreter.document.index import DocumentIndex, MethodSite, nested_lists
from interpreter.document.loader import SourceDocument
from interpreter.expressions import (
    Expr,
    ExpressionSyntaxError,
    SwaigTemplate,
    SwmlTemplate,
    parse_js,
    parse_swaig_template,
    parse_swml_template,
)
from interpreter.jsontypes import JSONValue

Language = Literal["js", "swml", "swaig"]


@dataclass(frozen=True, slots=True)
class ExpressionSite:
    path: JSONPath
    language: Language
    text: str


@lru_cache(maxsize=65536)
def parse_cached(language: Language, text: str) -> Expr | SwmlTemplate | SwaigTemplate | \
        ExpressionSyntaxError:
    """Parse once per distinct text; a syntax error is returned, not raised,
    so the cache remembers failures too."""
    try:
        match language:
            case "js":
                return parse_js(text)
            case "swml":
                return parse_swml_template(text)
            case "swaig":
                return parse_swaig_template(text)
    except ExpressionSyntaxError as error:
        return error


def _has_template(text: str, language: Language) -> bool:
    if language == "swaig":
        return "${" in text or "@{" in text or "%{" in text
    return "${" in text or "%{" in text


def expression_sites(index: DocumentIndex) -> Iterator[ExpressionSite]:
    for site in index.methods:
        nested = {path for _, path in nested_lists(site.method, site.args, site.args_path)}
        if site.method == "ai":
            yield from _strings(site.args, site.args_path, "swaig", nested)
            continue
        yield from _bare_conditions(site)
        skip = nested | _condition_paths(site)
        yield from _strings(site.args, site.args_path, "swml", skip)


def _condition_paths(site: MethodSite) -> set[JSONPath]:
    return {path for path, _ in _conditions(site)} | (
        {(*site.args_path, "variable")} if site.method == "switch" else set())


def _conditions(site: MethodSite) -> Iterator[tuple[JSONPath, str]]:
    args = site.args
    if site.method == "goto" and isinstance(args, dict) and isinstance(args.get("when"), str):
        yield (*site.args_path, "when"), str(args["when"])
    branches: JSONValue = args if site.method == "cond" else (
        args.get("result") if isinstance(args, dict) else None)
    base = site.args_path if site.method == "cond" else (*site.args_path, "result")
    if isinstance(branches, list):
        for position, branch in enumerate(branches):
            if isinstance(branch, dict) and isinstance(branch.get("when"), str):
                yield (*base, position, "when"), str(branch["when"])


def _bare_conditions(site: MethodSite) -> Iterator[ExpressionSite]:
    for path, text in _conditions(site):
        yield ExpressionSite(path, "js", text)


def _strings(node: JSONValue, path: JSONPath, language: Language,
             skip: set[JSONPath]) -> Iterator[ExpressionSite]:
    if path in skip:
        return
    if isinstance(node, str):
        if _has_template(node, language):
            yield ExpressionSite(path, language, node)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, key), language, skip)
    elif isinstance(node, list):
        for position, item in enumerate(node):
            yield from _strings(item, (*path, position), language, skip)


def position_in(doc: SourceDocument, path: JSONPath, line_offset: int, col: int,
                text: str) -> Span:
    """The source position of (line_offset, col) inside the string `text` at `path`.

    YAML folds, unescapes and re-indents scalars, so the text's own offsets do
    not map to the source arithmetically. Instead the few characters at the
    spot are looked up in the scalar's source region, from the earliest place
    they can be: the source of a scalar is never shorter than its text, so the
    spot lies at least as far into the region as it does into the text. That
    finds the right one of repeated parts (`${a}${a}`) and keeps positioning
    every part of a long string linear. The arithmetic estimate is the
    fallback when they cannot be found (e.g. they span an escape).
    """
    offset = _text_offset(text, line_offset, col)
    needle = text[offset:offset + 16].split("\n")[0].strip()
    span = doc.span(path)
    if needle and span.end_line:
        start = doc.offset(span.line, span.col)
        end = doc.offset(span.end_line, span.end_col)
        found = doc.text.find(needle, min(start + offset, end), end)
        if found < 0:
            found = doc.text.find(needle, start, end)
        if found >= 0:
            line, column = doc.position(found)
            return Span(doc.file, line, column)
    opener = (doc.line(span.line) or "")[span.col - 1: span.col]
    base = span.col + 1 if opener in ("'", '"') else span.col
    if line_offset == 0:
        return Span(doc.file, span.line, base + col - 1)
    return Span(doc.file, span.line + line_offset, col)


@lru_cache(maxsize=64)
def _line_starts(text: str) -> tuple[int, ...]:
    """Where each line of an expression's text starts (cached: one text has many parts)."""
    return (0, *(match.end() for match in re.finditer("\n", text)))


def _text_offset(text: str, line_offset: int, col: int) -> int:
    if line_offset == 0:
        return col - 1
    starts = _line_starts(text)
    return starts[min(line_offset, len(starts) - 1)] + col - 1
