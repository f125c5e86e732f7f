"""Diagnostics: what the loader, the schema check and the lint rules report.

A `Diagnostic` is complete when created: code, severity, message and the
`Span` of the node it is about. `str()` gives the one-line form users grep
(`flows/x.yaml:12:9: error CK103 ...`); `render()` adds the source line with
a caret under the spot.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

JSONPath = tuple[str | int, ...]


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A region of a source file; lines and columns are 1-based."""

    file: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def shifted(self, line_offset: int, col: int) -> Span:
        """The span `line_offset` lines below this one, at `col` (1-based) when
        it moved to another line, or `col` columns right of this one."""
        if line_offset == 0:
            return Span(self.file, self.line, self.col + col - 1)
        return Span(self.file, self.line + line_offset, col)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Span
    path: JSONPath = ()
    hint: str | None = None
    source_line: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        text = f"{self.span}: {self.severity.value} {self.code} {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def render(self) -> str:
        """The one-line form, then the source line and a caret under the spot."""
        if self.source_line is None:
            return str(self)
        line = self.source_line.rstrip("\n").expandtabs(1)
        caret = " " * max(self.span.col - 1, 0) + "^"
        return f"{self}\n    {line}\n    {caret}"

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.span.file,
            "line": self.span.line,
            "col": self.span.col,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "path": "/".join(str(p) for p in self.path),
            "hint": self.hint,
        }


_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def relevance(diagnostic: Diagnostic) -> tuple[str, int, int, int, str, str]:
    """Sort key: file, then position (authors fix documents top to bottom),
    then errors before warnings at the same spot, then code and message so the
    order is total and output is deterministic."""
    span = diagnostic.span
    return (
        span.file,
        span.line,
        span.col,
        _SEVERITY_RANK[diagnostic.severity],
        diagnostic.code,
        diagnostic.message,
    )


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sorted by `relevance`, exact duplicates removed."""
    unique = {(d.code, d.span, d.message): d for d in diagnostics}
    return sorted(unique.values(), key=relevance)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)
