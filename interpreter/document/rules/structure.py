"""Rules: every step, context and section can be reached, and can be left."""

from __future__ import annotations

from collections.abc import Iterator

from interpreter.diagnostics import Diagnostic
from interpreter.document.index import (
    RESERVED_FUNCTIONS,
    AiSite,
    ContextSite,
    actions_in,
    step_contexts,
    step_successors,
)
from interpreter.document.lint import LintContext, rule
from interpreter.document.rules.references import contexts_reachable_from

# A goto is not here: after `max` jumps it falls through to what follows.
_JUMPS = {"hangup", "transfer", "return"}


def _reachable_steps(context: ContextSite, forced: set[str]) -> set[str]:
    if not context.steps:
        return set()
    reached = {context.steps[0].name} | forced
    frontier = list(reached)
    while frontier:
        step = context.step(frontier.pop())
        if step is None:
            continue
        for target in step_successors(context, step):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    return reached


@rule("CK301")
def unreachable_step(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        forced = {value for _, name, value in ai.actions()
                  if name == "change_step" and isinstance(value, str)}
        for context in ai.contexts:
            reached = _reachable_steps(context, forced)
            for step in context.steps:
                if step.name not in reached:
                    yield ctx.report(
                        f'step "{step.name}" cannot be reached from "{context.steps[0].name}", '
                        f'the first step of context "{context.name}"', (*step.path, "name"),
                        hint="list it in a valid_steps, or remove it")


@rule("CK302")
def unreachable_context(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        start = ai.start_context
        if start is None:
            continue
        reached = contexts_reachable_from(ai, start)
        for context in ai.contexts:
            if context.name not in reached:
                yield ctx.report(
                    f'context "{context.name}" cannot be reached from "{start.name}", where '
                    "the conversation starts", context.path, key=True,
                    hint="list it in a valid_contexts, or remove it")


def _movers(ai: AiSite) -> set[str]:
    """Functions whose data_map output moves the conversation (change_step/context)."""
    movers = set()
    for function in ai.functions:
        data_map = function.data.get("data_map")
        if isinstance(data_map, dict) and any(
                name in ("change_step", "change_context")
                for _, name, _ in actions_in(data_map, function.path)):
            movers.add(function.name)
    return movers


@rule("CK303")
def dead_end_step(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        movers = _movers(ai)
        for context in ai.contexts:
            for step in context.steps:
                offered = step.data.get("functions")
                offers_mover = bool(movers) and (
                    offered is None or bool(movers & set(offered if isinstance(offered, list)
                                                         else [])))
                if step.data.get("end") or step_successors(context, step) \
                        or step_contexts(context, step) or offers_mover:
                    continue
                yield ctx.report(
                    f'step "{step.name}" has no way forward and is not marked end: the '
                    "conversation would stay in it", (*step.path, "name"),
                    hint='add valid_steps or valid_contexts, or set "end: true"')


@rule("CK304")
def end_with_valid_steps(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        for context in ai.contexts:
            for step in context.steps:
                if step.data.get("end") and step.data.get("valid_steps"):
                    yield ctx.report(f'step "{step.name}" is marked end but lists valid_steps',
                                     (*step.path, "end"), key=True,
                                     hint="a step that ends the conversation has no next "
                                     "step; the flow goes on after the ai verb")


@rule("CK305")
def function_offered_by_no_step(ctx: LintContext) -> Iterator[Diagnostic]:
    for ai in ctx.index.ai:
        steps = [step for context in ai.contexts for step in context.steps]
        # A step without a `functions` list offers every function.
        if not steps or any("functions" not in step.data for step in steps):
            continue
        offered = {name for step in steps
                   for name in (step.data["functions"] if isinstance(step.data["functions"],
                                                                     list) else [])}
        for function in ai.functions:
            if function.name not in offered and function.name not in RESERVED_FUNCTIONS:
                yield ctx.report(f'function "{function.name}" is defined but no step offers it',
                                 (*function.path, "function"))


@rule("CK306")
def unused_section(ctx: LintContext) -> Iterator[Diagnostic]:
    used = {"main"}
    for site in ctx.index.methods_named("execute", "transfer", "connect"):
        args = site.args
        for key in ("dest", "confirm"):
            value = args.get(key) if isinstance(args, dict) else (args if key == "dest" else None)
            if isinstance(value, str):
                used.add(value)
    for ai in ctx.index.ai:
        for _, name, value in ai.actions():
            if name == "transfer":
                used.add(value if isinstance(value, str) else
                         str(value.get("dest")) if isinstance(value, dict) else "")
    if any("${" in name or "%{" in name for name in used):
        return  # a computed destination may name any section
    for name in ctx.index.sections:
        if name not in used:
            yield ctx.report(f'section "{name}" is never executed, transferred to or used as '
                             "a confirm section", ("sections", name), key=True)


@rule("CK307")
def code_after_jump(ctx: LintContext) -> Iterator[Diagnostic]:
    by_list: dict[tuple[str | int, ...], list[tuple[int, str, object]]] = {}
    for site in ctx.index.methods:
        by_list.setdefault(site.list_path, []).append((int(site.path[-1]), site.method,
                                                        site.args))
    for list_path, entries in by_list.items():
        ordered = sorted(entries, key=lambda entry: entry[0])
        for position, method, _ in ordered:
            # A label right after a jump is a goto target, so what follows it runs.
            followed_by_label = position + 1 < len(ordered) and ordered[position + 1][1] == "label"
            if method in _JUMPS and position + 1 < len(ordered) and not followed_by_label:
                yield ctx.report(f'methods after "{method}" never run', (*list_path,
                                                                         position + 1))
                break
