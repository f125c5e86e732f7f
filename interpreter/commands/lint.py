"""`callkernel lint PATH...`: diagnostics for flow documents, and for the files
that travel beside them, each checked as what it is:

    *.caller.yaml   a caller script (CK701-CK706)
    *.model.yaml    a scripted model (CK801), whose function, step and context
                    names are checked against the flow it drives, the
                    `<name>.yaml` beside it (CK802)
    *.test.yaml     a flow test (CK711 and the caller-script codes)
    anything else   a flow document (CK0xx-CK6xx)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from interpreter.commands.inputs import UnreadableInput
from interpreter.commands.sources import (
    expand_sources,
    read_source,
    shown,
    shown_value,
    source_name,
)
from interpreter.diagnostics import Diagnostic, JSONPath, Severity, sort_diagnostics
from interpreter.document.catalogue import CODES
from interpreter.document.index import AiSite, build_index
from interpreter.document.lint import lint_text, summary
from interpreter.document.loader import LoadOptions, SourceDocument, load_document
from interpreter.document.schema import did_you_mean
from interpreter.errors import DocumentError
from interpreter.flowtest import load_flow_test
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.scripted import load_rules
from interpreter.transports.caller_script import load_caller_script

EXIT_CLEAN, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2

CALLER, MODEL, TEST = ".caller.yaml", ".model.yaml", ".test.yaml"
# Functions the runtime offers the model besides the flow's own.
RUNTIME_FUNCTIONS = frozenset({"next_step", "change_context", "change_language",
                               "gather_submit"})


def run(paths: list[str], *, fmt: str = "text", strict: bool = False, context: bool = False,
        max_bytes: int | None = None, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    options = LoadOptions(max_bytes=max_bytes) if max_bytes else LoadOptions()
    try:
        files = list(expand_sources(paths))
        found: list[Diagnostic] = []
        for path in files:
            found.extend(lint_file(read_source(path), source_name(path), options))
    except UnreadableInput as error:
        print(f"callkernel lint: {error}", file=err)
        return EXIT_USAGE
    errors, warnings = summary(found)
    if fmt == "json":
        json.dump({"files": [source_name(p) for p in files],
                   "diagnostics": [shown_value(d.as_json()) for d in found],
                   "errors": errors, "warnings": warnings}, out, indent=2)
        out.write("\n")
    else:
        for diagnostic in found:
            # A diagnostic may quote a URL from the document: never its credentials.
            print(shown(diagnostic.render() if context else str(diagnostic)), file=out)
        noun = "file" if len(files) == 1 else "files"
        print(f"{errors} error(s), {warnings} warning(s) in {len(files)} {noun}", file=err)
    failing = errors or (strict and any(d.severity is Severity.WARNING for d in found))
    return EXIT_ERRORS if failing else EXIT_CLEAN


def lint_file(raw: bytes, name: str, options: LoadOptions | None = None) -> list[Diagnostic]:
    """The diagnostics of one file, checked as the kind its name says it is."""
    options = options or LoadOptions()
    try:
        if name.endswith(CALLER):
            load_caller_script(raw, name, options)
        elif name.endswith(MODEL):
            load_rules(raw, name)
            return sort_diagnostics(model_names(load_document(raw, name, options)))
        elif name.endswith(TEST):
            load_flow_test(Path(name))
        else:
            return lint_text(raw, name, options)[1]
    except DocumentError as error:
        return sort_diagnostics(error.diagnostics)
    return []


# ------------------------------------------------- a model against its flow

def model_names(model: SourceDocument) -> Iterator[Diagnostic]:
    """CK802: names in a scripted model's rules that the flow beside it lacks."""
    flow = _flow_beside(model.file)
    if flow is None:
        return
    names = _FlowNames(flow)
    rules = model.data.get("rules") if isinstance(model.data, dict) else None
    for position, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, dict):
            continue
        path: JSONPath = ("rules", position)
        when = rule.get("when")
        if isinstance(when, dict):
            context = when.get("context")
            yield from names.check(model, (*path, "when"), when, "context", "context")
            steps = names.steps_of(context if isinstance(context, str) else None)
            yield from names.check(model, (*path, "when"), when, "step", "step", steps)
            for key in ("after_tool", "after_tool_error"):
                yield from names.check(model, (*path, "when"), when, key, "function")
        call = rule.get("call")
        if isinstance(call, dict):
            yield from names.check(model, (*path, "call"), call, "function", "function")
            arguments = call.get("arguments")
            if isinstance(arguments, dict):
                where = (*path, "call", "arguments")
                function = call.get("function")
                if function in ("next_step", "change_step"):
                    yield from names.check(model, where, arguments, "step", "step")
                elif function == "change_context":
                    yield from names.check(model, where, arguments, "context", "context")


def _flow_beside(file: str) -> tuple[str, list[AiSite]] | None:
    """The flow a model drives (`<name>.yaml` for `<name>.model.yaml`), indexed;
    None when there is none or it does not load."""
    path = Path(file[:-len(MODEL)] + ".yaml")
    try:
        doc = load_document(path.read_bytes(), str(path))
    except (OSError, DocumentError):
        return None
    return path.name, build_index(doc.data).ai


class _FlowNames:
    def __init__(self, flow: tuple[str, list[AiSite]]) -> None:
        self.file, agents = flow
        self.contexts: dict[str, set[str]] = {}
        self.functions: set[str] = set(RUNTIME_FUNCTIONS)
        self.open_ended = False  # SWAIG.includes: names are known only at run time
        for ai in agents:
            for context in ai.contexts:
                self.contexts.setdefault(context.name, set()).update(
                    step.name for step in context.steps)
            self.functions |= ai.function_names()
            swaig = ai.args.get("SWAIG")
            self.open_ended |= isinstance(swaig, dict) and bool(swaig.get("includes"))
        # A flow without contexts runs in one the scripted model calls `default`.
        self.contexts.setdefault("default", set())

    def steps_of(self, context: str | None) -> set[str]:
        if context in self.contexts:
            return self.contexts[context]
        return {step for steps in self.contexts.values() for step in steps}

    def check(self, model: SourceDocument, path: JSONPath, holder: dict[str, JSONValue],
              key: str, kind: str, steps: set[str] | None = None) -> Iterator[Diagnostic]:
        name = holder.get(key)
        if not isinstance(name, str):
            return
        known = {"function": self.functions, "context": set(self.contexts),
                 "step": self.steps_of(None) if steps is None else steps}[kind]
        if name in known or (kind == "function" and self.open_ended):
            return
        yield model.diagnostic(
            "CK802", CODES["CK802"].severity,
            f'{kind} "{name}" is not defined in {self.file}, the flow this model drives',
            (*path, key), hint=did_you_mean(name, sorted(known - RUNTIME_FUNCTIONS)
                                            if kind == "function" else sorted(known)))
