"""callkernel: a self-hostable interpreter for declarative voice-AI calls.

The names below are the public API; everything else is internal and may change.
"""

from interpreter.diagnostics import Diagnostic, Severity, Span
from interpreter.document.compile import compile_flow, compile_text
from interpreter.document.lint import lint_source, lint_text
from interpreter.document.loader import LoadOptions, SourceDocument, load_document
from interpreter.errors import (
    CallFault,
    CallkernelError,
    DocumentError,
    DocumentTooLarge,
    ErrorType,
    RecoveryPolicy,
)
from interpreter.ir import CompiledFlow
from interpreter.jsontypes import JSONValue

__all__ = [
    "CallFault",
    "CallkernelError",
    "CompiledFlow",
    "Diagnostic",
    "DocumentError",
    "DocumentTooLarge",
    "ErrorType",
    "JSONValue",
    "LoadOptions",
    "RecoveryPolicy",
    "Severity",
    "SourceDocument",
    "Span",
    "compile_flow",
    "compile_text",
    "lint_source",
    "lint_text",
    "load_document",
]
