"""`callkernel describe PATH...`: lint, compile and summarise flows for a reader.

A PATH is a flow file, a directory (walked for flow files) or an http(s) URL
(fetched like the hosted platform fetches a document; sources.py)."""

from __future__ import annotations

import re
import sys
from collections import Counter
from typing import TextIO

from interpreter import ir
from interpreter.commands.inputs import UnreadableInput
from interpreter.commands.sources import expand_sources, read_source, shown, source_name
from interpreter.document.compile import compile_flow
from interpreter.document.loader import load_document
from interpreter.errors import DocumentError


def _function_kind(function: ir.Function) -> str:
    if function.native:
        return "native"
    if function.data_map is not None:
        return "data_map"
    return f"webhook {function.webhook.url}" if function.webhook else "webhook (include)"


def _walk(block: ir.Block) -> list[ir.Verb]:
    verbs: list[ir.Verb] = []
    for verb in block:
        verbs.append(verb)
        match verb:
            case ir.Cond(branches=branches):
                for branch in branches:
                    verbs += _walk(branch.then) + _walk(branch.otherwise or ())
            case ir.Switch(cases=cases, default=default):
                for body in cases.values():
                    verbs += _walk(body)
                verbs += _walk(default or ())
    return verbs


def describe(flow: ir.CompiledFlow) -> list[str]:
    lines = [f"{flow.source_file}  ({flow.content_hash[:19]}…)"]
    for section in flow.sections:
        verbs = _walk(section.body)
        counts = Counter(_verb_name(verb) for verb in verbs)
        shown = ", ".join(f"{name}×{count}" if count > 1 else name
                          for name, count in counts.items())
        lines.append(f"  section {section.name}: {shown or 'empty'}")
        for verb in verbs:
            if isinstance(verb, ir.Ai):
                lines.extend(_describe_ai(verb))
    return lines


def _verb_name(verb: ir.Verb) -> str:
    if isinstance(verb, ir.Unsupported):
        return f"{verb.method}(not executed)"
    if isinstance(verb, ir.Record) and verb.background:
        return "record_call"
    names = {ir.PromptInput: "prompt", ir.SetVars: "set", ir.UnsetVars: "unset"}
    # SWML's own spelling: SendDigits → send_digits.
    return names.get(type(verb)) or re.sub(r"(?<!^)(?=[A-Z])", "_", type(verb).__name__).lower()


def _describe_ai(agent: ir.Ai) -> list[str]:
    lines = []
    for context in agent.contexts:
        start = " (start)" if context is agent.start_context else ""
        lines.append(f"    context {context.name}{start}")
        for step in context.steps:
            moves = ", ".join(s.name for s in step.valid_steps) or ("end" if step.end else "—")
            extra = f"; contexts: {', '.join(c.name for c in step.valid_contexts)}" \
                if step.valid_contexts else ""
            tools = ", ".join(f.name for f in step.functions) or "none"
            lines.append(f"      step {step.name} → {moves}{extra}  [tools: {tools}]")
    for function in agent.functions:
        lines.append(f"    tool {function.name}: {_function_kind(function)}")
    overridden = [e.value for e, p in agent.error_recovery.items() if p != e.default_policy]
    if overridden:
        lines.append(f"    error_recovery: {', '.join(overridden)}")
    return lines


def run(paths: list[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    status = 0
    try:
        files = list(expand_sources(paths))
    except UnreadableInput as error:
        print(f"callkernel describe: {shown(str(error))}", file=err)
        return 2
    for path in files:
        try:
            flow, warnings = compile_flow(load_document(read_source(path), source_name(path)))
        except UnreadableInput as error:
            print(f"callkernel describe: {shown(str(error))}", file=err)
            return 2
        except DocumentError as error:
            for diagnostic in error.diagnostics:
                print(shown(str(diagnostic)), file=err)
            status = 1
            continue
        for warning in warnings:
            print(shown(str(warning)), file=err)
        print("\n".join(describe(flow)), file=out)
        print(file=out)
    return status
