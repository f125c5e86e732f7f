"""`callkernel lint PATH...`: diagnostics for flow documents."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from interpreter.commands.inputs import UnreadableInput, display_name, expand, read
from interpreter.diagnostics import Diagnostic, Severity
from interpreter.document.lint import lint_text, summary
from interpreter.document.loader import LoadOptions

EXIT_CLEAN, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def run(paths: list[str], *, fmt: str = "text", strict: bool = False, context: bool = False,
        max_bytes: int | None = None, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    options = LoadOptions(max_bytes=max_bytes) if max_bytes else LoadOptions()
    try:
        files = list(expand(paths))
        found: list[Diagnostic] = []
        for path in files:
            _, diagnostics = lint_text(read(path), display_name(path), options)
            found.extend(diagnostics)
    except UnreadableInput as error:
        print(f"callkernel lint: {error}", file=err)
        return EXIT_USAGE
    errors, warnings = summary(found)
    if fmt == "json":
        json.dump({"files": [display_name(p) for p in files],
                   "diagnostics": [d.as_json() for d in found],
                   "errors": errors, "warnings": warnings}, out, indent=2)
        out.write("\n")
    else:
        for diagnostic in found:
            print(diagnostic.render() if context else str(diagnostic), file=out)
        noun = "file" if len(files) == 1 else "files"
        print(f"{errors} error(s), {warnings} warning(s) in {len(files)} {noun}", file=err)
    failing = errors or (strict and any(d.severity is Severity.WARNING for d in found))
    return EXIT_ERRORS if failing else EXIT_CLEAN
