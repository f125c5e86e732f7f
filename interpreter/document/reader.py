"""Checking a small document of our own (a caller script, a routing table):
every problem collected as a diagnostic with its line and column, so one
run reports them all, as the linter does for flows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from interpreter.diagnostics import Diagnostic, JSONPath, Severity
from interpreter.document.loader import SourceDocument
from interpreter.document.schema import did_you_mean
from interpreter.jsontypes import JSONValue


class DocumentReader:
    """Collects the diagnostics of one document; a subclass names its codes."""

    UNKNOWN_KEY: ClassVar[str]  # a key the document's kind does not have
    INVALID: ClassVar[str]  # a value of the wrong type or out of range

    def __init__(self, doc: SourceDocument) -> None:
        self.doc = doc
        self.found: list[Diagnostic] = []

    def error(self, code: str, message: str, path: JSONPath, *, key: bool = False,
              hint: str | None = None) -> None:
        self.found.append(self.doc.diagnostic(code, Severity.ERROR, message, path, key=key,
                                              hint=hint))

    def mapping(self, path: JSONPath, value: JSONValue, allowed: Sequence[str],
                what: str) -> dict[str, JSONValue] | None:
        """`value` if it is a mapping (its unknown keys reported), else None."""
        if not isinstance(value, dict):
            self.error(self.INVALID, f"{what} must be a mapping", path)
            return None
        for key in value:
            if key not in allowed:
                self.error(self.UNKNOWN_KEY, f'unknown key "{key}" in {what}', (*path, key),
                           key=True, hint=did_you_mean(key, allowed))
        return value
