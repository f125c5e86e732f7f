"""Rules: everything a document names must be defined, and defined once."""

from __future__ import annotations

import re
from collections.abc import Iterator

from interpreter.diagnostics import Diagnostic
from interpreter.document.index import (
    INJECTED_FUNCTIONS,
    AiSite,
    ContextSite,
    step_contexts,
)
from interpreter.document.lint import LintContext, rule
from interpreter.document.schema import did_you_mean

# A transfer/execute destination is a section name when it looks like one;
# URLs, inline SWML JSON and ${...} expressions are resolved at run time.
_SECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# A destination naming a flow file is another flow, resolved by the host.
_FLOW_FILES = (".yaml", ".yml", ".json")


def _destination(args: object) -> str | None:
    if isinstance(args, str):
        return args
    if isinstance(args, dict) and isinstance(args.get("dest"), str):
        return str(args["dest"])
    return None


@rule("CK101")
def undefined_section(ctx: LintContext) -> Iterator[Diagnostic]:
    sections = list(ctx.index.sections)
    for site in ctx.index.methods_named("execute", "transfer", "connect"):
        key = "confirm" if site.method == "connect" else "dest"
        dest = site.args.get(key) if isinstance(site.args, dict) else site.args
        if not isinstance(dest, str) or not _SECTION_NAME.match(dest) \
                or dest in ctx.index.sections or dest.endswith(_FLOW_FILES):
            continue
        path = (*site.args_path, key) if isinstance(site.args, dict) else site.args_path
        yield ctx.report(f'section "{dest}" is not defined', path,
                         hint=did_you_mean(dest, sections))
    for ai in ctx.index.ai:
        for path, name, value in ai.actions():
            dest = _destination(value) if name == "transfer" else None
            if dest and _SECTION_NAME.match(dest) and dest not in ctx.index.sections:
                yield ctx.report(f'section "{dest}" is not defined', path,
                                 hint=did_you_mean(dest, sections))


@rule("CK102")
def undefined_label(ctx: LintContext) -> Iterator[Diagnostic]:
    for site in ctx.index.methods_named("goto"):
        label = site.args.get("label") if isinstance(site.args, dict) else site.args
        if not isinstance(label, str):
            continue
        # goto reaches labels in its own method list or the section's top level.
        scopes = (site.list_path, ("sections", site.section))
        known = [name for name, _, list_path in ctx.index.labels.get(site.section, [])
                 if list_path in scopes]
        if label not in known:
            path = (*site.args_path, "label") if isinstance(site.args, dict) else site.args_path
            yield ctx.report(f'label "{label}" is not defined in section "{site.section}"',
                             path, hint=did_you_mean(label, known))


def _step_references(ai: AiSite, context: ContextSite) -> Iterator[tuple[tuple[str | int, ...],
                                                                          str]]:
    for step in context.steps:
        valid = step.data.get("valid_steps")
        if isinstance(valid, list):
            for position, target in enumerate(valid):
                if isinstance(target, str) and target != "next":
                    yield (*step.path, "valid_steps", position), target
        gather = step.data.get("gather_info")
        if isinstance(gather, dict):
            action = gather.get("completion_action")
            if isinstance(action, str) and action != "next_step":
                yield (*step.path, "gather_info", "completion_action"), action


@rule("CK103")
def undefined_step(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        every_step = {step.name for context in ai.contexts for step in context.steps}
        for context in ai.contexts:
            names = [step.name for step in context.steps]
            for path, target in _step_references(ai, context):
                if target not in names:
                    yield ctx.report(
                        f'step "{target}" is not defined in context "{context.name}"', path,
                        hint=did_you_mean(target, names))
        # change_step in a tool's output can land in whichever context is current.
        for path, name, value in ai.actions():
            if name == "change_step" and isinstance(value, str) and value not in every_step:
                yield ctx.report(f'step "{value}" is not defined in any context', path,
                                 hint=did_you_mean(value, sorted(every_step)))


@rule("CK104")
def undefined_context(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        names = [context.name for context in ai.contexts]
        for context in ai.contexts:
            lists = [((*context.path, "valid_contexts"), context.data.get("valid_contexts"))]
            lists += [((*step.path, "valid_contexts"), step.data.get("valid_contexts"))
                      for step in context.steps]
            for base, targets in lists:
                for position, target in enumerate(targets if isinstance(targets, list) else []):
                    if isinstance(target, str) and target not in names:
                        yield ctx.report(f'context "{target}" is not defined',
                                         (*base, position), hint=did_you_mean(target, names))
        for path, name, value in ai.actions():
            if name == "change_context" and isinstance(value, str) and value not in names:
                yield ctx.report(f'context "{value}" is not defined', path,
                                 hint=did_you_mean(value, names))


@rule("CK105")
def undefined_function(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        known = ai.function_names()
        for context in ai.contexts:
            for step in context.steps:
                listed = step.data.get("functions")
                for position, name in enumerate(listed if isinstance(listed, list) else []):
                    if isinstance(name, str) and name not in known | INJECTED_FUNCTIONS:
                        yield ctx.report(
                            f'step "{step.name}" offers function "{name}", which SWAIG does '
                            "not define", (*step.path, "functions", position),
                            hint=did_you_mean(name, sorted(known)))
        for path, name, value in ai.actions():
            if name != "toggle_functions" or not isinstance(value, list):
                continue
            for position, toggle in enumerate(value):
                targets = toggle.get("function") if isinstance(toggle, dict) else None
                names = [targets] if isinstance(targets, str) else \
                    targets if isinstance(targets, list) else []
                for target in names:
                    if isinstance(target, str) and target not in known:
                        yield ctx.report(f'toggle_functions names "{target}", which SWAIG does '
                                         "not define", (*path, position),
                                         hint=did_you_mean(target, sorted(known)))


@rule("CK106")
def duplicate_name(ctx: LintContext) -> Iterator[Diagnostic]:
    for section, labels in ctx.index.labels.items():
        seen: set[str] = set()
        for name, path, _ in labels:
            if name in seen:
                yield ctx.report(f'label "{name}" is defined twice in section "{section}"', path)
            seen.add(name)
    for ai in ctx.index.ai:
        seen_functions: set[str] = set()
        for function in ai.functions:
            if function.name in seen_functions:
                yield ctx.report(f'function "{function.name}" is defined twice',
                                 (*function.path, "function"))
            seen_functions.add(function.name)
        for context in ai.contexts:
            seen_steps: set[str] = set()
            for step in context.steps:
                if step.name in seen_steps:
                    yield ctx.report(f'step "{step.name}" is defined twice in context '
                                     f'"{context.name}"', (*step.path, "name"))
                seen_steps.add(step.name)


@rule("CK107")
def reserved_name(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        for context in ai.contexts:
            for step in context.steps:
                if step.name == "next":
                    yield ctx.report('a step cannot be named "next": valid_steps uses it to '
                                     "mean the following step", (*step.path, "name"))


def contexts_reachable_from(ai: AiSite, start: ContextSite) -> set[str]:
    """Context names reachable from `start` through valid_contexts and actions."""
    forced = {value for _, name, value in ai.actions()
              if name == "change_context" and isinstance(value, str)}
    reached = {start.name} | forced
    frontier = [start.name, *forced]
    while frontier:
        context = ai.context(frontier.pop())
        if context is None:
            continue
        for step in context.steps:
            for target in step_contexts(context, step):
                if target not in reached:
                    reached.add(target)
                    frontier.append(target)
    return reached
