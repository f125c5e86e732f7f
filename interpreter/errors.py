"""The one exception hierarchy of callkernel.

    CallkernelError
    ├── DocumentError        a flow document cannot be used; carries diagnostics
    │   └── DocumentTooLarge the input is over the configured size limit
    └── CallFault            something failed while a call ran; carries its
                             error type (the runtime issue fills this in)

Errors raised while reading a document always carry `Diagnostic`s with a
source location, so a CLI or an HTTP handler can show them without knowing
where they came from.
"""

from __future__ import annotations

from collections.abc import Sequence

from interpreter.diagnostics import Diagnostic


class CallkernelError(Exception):
    """Base of every error callkernel raises on purpose."""


class DocumentError(CallkernelError):
    """A flow document failed to load, validate or compile."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        first = str(self.diagnostics[0]) if self.diagnostics else "invalid document"
        more = len(self.diagnostics) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))


class DocumentTooLarge(DocumentError):
    """The document is over the size limit; refused before parsing."""


class CallFault(CallkernelError):
    """A classified failure during a call."""

    def __init__(self, error_type: str, message: str) -> None:
        self.error_type = error_type
        super().__init__(f"{error_type}: {message}")
