"""Lint a flow document: load → schema → semantic rules, all diagnostics sorted.

A rule is a small generator function `rule(ctx) -> Iterator[Diagnostic]`
registered under the code it reports with `@rule("CK103")`. Rules see the
shapes the schema guarantees: on a document that fails the schema they still
run, so that one pass reports every problem, but on a copy with the nodes of
the wrong type set aside (see `_set_aside`). Findings about the document as a
whole (reachability, what is never used, what nothing implements or sets)
wait for a schema-clean document: the part set aside may be what they look for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from interpreter.diagnostics import Diagnostic, JSONPath, Severity, Span, sort_diagnostics
from interpreter.document.catalogue import CODES
from interpreter.document.index import DocumentIndex, build_index
from interpreter.document.loader import LoadOptions, SourceDocument, load_document
from interpreter.document.schema import validate_schema
from interpreter.errors import DocumentError
from interpreter.jsontypes import JSONValue


@dataclass(slots=True)
class LintContext:
    """What a rule sees: the document, its index, and a diagnostic factory."""

    doc: SourceDocument
    index: DocumentIndex
    code: str = ""
    _cache: dict[str, object] = field(default_factory=dict)

    def report(self, message: str, path: JSONPath, *, key: bool = False,
               hint: str | None = None, code: str | None = None,
               span: Span | None = None) -> Diagnostic:
        code = code or self.code
        return self.doc.diagnostic(code, CODES[code].severity, message, path, key=key, hint=hint,
                                   span=span)


Rule = Callable[[LintContext], Iterator[Diagnostic]]
RULES: dict[str, Rule] = {}


def rule(code: str) -> Callable[[Rule], Rule]:
    """Register a rule under the code it reports."""
    if code not in CODES:
        raise ValueError(f"{code} is not in the catalogue")

    def register(function: Rule) -> Rule:
        if code in RULES:
            raise ValueError(f"{code} registered twice")
        RULES[code] = function
        return function

    return register


# Rules whose findings need the whole document: with part of it set aside
# they would report what the set-aside part provides (a section its jump
# uses, a key that implements a function, the `set` that defines a variable).
WHOLE_DOCUMENT = frozenset({"CK301", "CK302", "CK303", "CK305", "CK306", "CK401", "CK503"})


def lint_source(doc: SourceDocument) -> list[Diagnostic]:
    """Schema then semantic diagnostics of a loaded document, sorted."""
    found = validate_schema(doc)
    if not found:
        return sort_diagnostics(run_rules(doc))
    aside = _set_aside(doc, found)
    if aside is not None:
        partial, removed = aside
        found.extend(d for d in run_rules(partial) if d.code not in WHOLE_DOCUMENT
                     and not any(gone[:len(d.path)] == d.path for gone in removed))
    return sort_diagnostics(found)


def _set_aside(doc: SourceDocument, schema_errors: list[Diagnostic]) -> tuple[
        SourceDocument, list[JSONPath]] | None:
    """A copy of `doc` without the nodes of the wrong type (CK204) and the method
    entries the schema could not read (CK201, CK206): list items become null,
    which the index skips, map entries are removed; paths of the rest stay valid.
    None when the document itself is of the wrong type."""
    removed: list[JSONPath] = []
    for diagnostic in schema_errors:
        path = diagnostic.path
        if diagnostic.code in ("CK201", "CK206"):
            path = path[:-1] if path and isinstance(path[-1], str) else path
            while path and not isinstance(path[-1], int):
                path = path[:-1]  # the entry: the list item holding the method map
        elif diagnostic.code != "CK204":
            continue
        if not path:
            return None
        removed.append(path)
    data: Any = _copy_containers(doc.data)
    for path in sorted(removed, key=len, reverse=True):
        parent: Any = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            if isinstance(parent, list) and isinstance(path[-1], int):
                parent[path[-1]] = None
            elif isinstance(parent, dict):
                parent.pop(path[-1], None)
        except (KeyError, IndexError, TypeError):
            continue  # already inside something set aside
    return dataclasses.replace(doc, data=data), removed


def _copy_containers(node: JSONValue) -> JSONValue:
    if isinstance(node, dict):
        return {key: _copy_containers(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copy_containers(item) for item in node]
    return node


def run_rules(doc: SourceDocument) -> Iterator[Diagnostic]:
    _load_rule_modules()
    ctx = LintContext(doc, build_index(doc.data))
    for code, check in RULES.items():
        ctx.code = code
        yield from check(ctx)


def lint_text(source: str | bytes, file: str = "<input>",
              options: LoadOptions | None = None) -> tuple[SourceDocument | None,
                                                           list[Diagnostic]]:
    """Load and lint; loader failures come back as diagnostics, never raised."""
    try:
        doc = load_document(source, file, options)
    except DocumentError as error:
        return None, sort_diagnostics(error.diagnostics)
    return doc, lint_source(doc)


def _load_rule_modules() -> None:
    # Imported for their @rule registrations; kept here so importing lint.py
    # alone has no side effects beyond defining the registry.
    from interpreter.document.rules import (  # noqa: F401
        compat,
        expressions,
        parameters,
        references,
        sdk,
        structure,
        templates,
        tools,
    )


def summary(diagnostics: list[Diagnostic]) -> tuple[int, int]:
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in diagnostics if d.severity is Severity.WARNING)
    return errors, warnings
