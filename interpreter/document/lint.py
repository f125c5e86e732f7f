"""Lint a flow document: load → schema → semantic rules, all diagnostics sorted.

A rule is a small generator function `rule(ctx) -> Iterator[Diagnostic]`
registered under the code it reports with `@rule("CK103")`. Semantic rules run
only on documents that pass the schema, so each rule can trust the shapes the
schema guarantees and stays short; the author fixes schema errors first, the
way a compiler reports syntax before types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from interpreter.diagnostics import Diagnostic, JSONPath, Severity, sort_diagnostics
from interpreter.document.catalogue import CODES
from interpreter.document.index import DocumentIndex, build_index
from interpreter.document.loader import LoadOptions, SourceDocument, load_document
from interpreter.document.schema import validate_schema
from interpreter.errors import DocumentError


@dataclass(slots=True)
class LintContext:
    """What a rule sees: the document, its index, and a diagnostic factory."""

    doc: SourceDocument
    index: DocumentIndex
    code: str = ""
    _cache: dict[str, object] = field(default_factory=dict)

    def report(self, message: str, path: JSONPath, *, key: bool = False,
               hint: str | None = None, code: str | None = None) -> Diagnostic:
        code = code or self.code
        return self.doc.diagnostic(code, CODES[code].severity, message, path, key=key, hint=hint)


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


def lint_source(doc: SourceDocument) -> list[Diagnostic]:
    """Schema then semantic diagnostics of a loaded document, sorted."""
    found = validate_schema(doc)
    if not found:
        found = list(run_rules(doc))
    return sort_diagnostics(found)


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
        references,
        sdk,
        structure,
        tools,
    )


def summary(diagnostics: list[Diagnostic]) -> tuple[int, int]:
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in diagnostics if d.severity is Severity.WARNING)
    return errors, warnings
