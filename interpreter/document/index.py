"""An index of a schema-valid document: where every method, section, label,
ai verb, context, step and function is, by path.

Lint rules and the compiler both need "all the gotos" or "every step of this
context"; building the index once keeps each rule a short query instead of
another walk of the tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from interpreter.diagnostics import JSONPath
from interpreter.ir import RESERVED_FUNCTIONS as RESERVED_FUNCTIONS
from interpreter.jsontypes import JSONValue

# Method arguments that hold nested method lists, run inline.
_NESTED_LISTS = {"then", "else", "default", "on_return"}
INJECTED_FUNCTIONS = frozenset({"next_step", "change_context"})


@dataclass(frozen=True, slots=True)
class MethodSite:
    """One method entry: `{method: args}` at `path` inside `section`."""

    section: str
    method: str
    args: JSONValue
    path: JSONPath          # path of the single-key map
    list_path: JSONPath     # path of the method list it belongs to

    @property
    def args_path(self) -> JSONPath:
        return (*self.path, self.method)


@dataclass(frozen=True, slots=True)
class StepSite:
    context: str
    name: str
    index: int
    data: dict[str, JSONValue]
    path: JSONPath


@dataclass(frozen=True, slots=True)
class ContextSite:
    name: str
    data: dict[str, JSONValue]
    path: JSONPath
    steps: tuple[StepSite, ...]

    def step(self, name: str) -> StepSite | None:
        return next((s for s in self.steps if s.name == name), None)


@dataclass(frozen=True, slots=True)
class FunctionSite:
    name: str
    data: dict[str, JSONValue]
    path: JSONPath


@dataclass(frozen=True, slots=True)
class AiSite:
    """An `ai` method with its contexts and SWAIG functions indexed."""

    method: MethodSite
    contexts: tuple[ContextSite, ...]
    functions: tuple[FunctionSite, ...]
    natives: tuple[str, ...]
    included: tuple[str, ...]

    @property
    def args(self) -> dict[str, JSONValue]:
        return self.method.args if isinstance(self.method.args, dict) else {}

    @property
    def path(self) -> JSONPath:
        return self.method.args_path

    def context(self, name: str) -> ContextSite | None:
        return next((c for c in self.contexts if c.name == name), None)

    @property
    def start_context(self) -> ContextSite | None:
        """`default` when present, else the first context (the SDK omits `default`)."""
        return self.context("default") or (self.contexts[0] if self.contexts else None)

    def function_names(self) -> set[str]:
        return {f.name for f in self.functions} | set(self.natives) | set(self.included)

    def actions(self) -> Iterator[tuple[JSONPath, str, JSONValue]]:
        """Every SWAIG action in the data_map outputs of this ai's functions."""
        for function in self.functions:
            data_map = function.data.get("data_map")
            if isinstance(data_map, dict):
                yield from actions_in(data_map, (*function.path, "data_map"))


@dataclass(slots=True)
class DocumentIndex:
    sections: dict[str, JSONPath] = field(default_factory=dict)
    methods: list[MethodSite] = field(default_factory=list)
    labels: dict[str, list[tuple[str, JSONPath, JSONPath]]] = field(default_factory=dict)
    ai: list[AiSite] = field(default_factory=list)

    def methods_named(self, *names: str) -> Iterator[MethodSite]:
        return (site for site in self.methods if site.method in names)


def build_index(data: JSONValue) -> DocumentIndex:
    index = DocumentIndex()
    sections = data.get("sections") if isinstance(data, dict) else None
    if not isinstance(sections, dict):
        return index
    for name, body in sections.items():
        index.sections[name] = ("sections", name)
        index.labels.setdefault(name, [])
        if isinstance(body, list):
            _walk_list(index, name, body, ("sections", name))
    return index


def _walk_list(index: DocumentIndex, section: str, body: list[JSONValue],
               list_path: JSONPath) -> None:
    for position, entry in enumerate(body):
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        method, args = next(iter(entry.items()))
        site = MethodSite(section, method, args, (*list_path, position), list_path)
        index.methods.append(site)
        if method == "label" and isinstance(args, str):
            index.labels[section].append((args, site.args_path, list_path))
        elif method == "ai" and isinstance(args, dict):
            index.ai.append(_ai_site(site, args))
        for nested, nested_path in nested_lists(method, args, site.args_path):
            _walk_list(index, section, nested, nested_path)


def nested_lists(method: str, args: JSONValue,
                  path: JSONPath) -> Iterator[tuple[list[JSONValue], JSONPath]]:
    """Method lists nested in a method's arguments (cond, switch, results...)."""
    if method == "cond" and isinstance(args, list):
        for position, branch in enumerate(args):
            if isinstance(branch, dict):
                yield from _lists_in(branch, (*path, position))
        return
    if not isinstance(args, dict):
        return
    yield from _lists_in(args, path)
    case = args.get("case")
    if isinstance(case, dict):
        for value, body in case.items():
            if isinstance(body, list):
                yield body, (*path, "case", value)
    result = args.get("result")
    if isinstance(result, dict):
        yield from nested_lists("switch", result, (*path, "result"))
    elif isinstance(result, list):
        yield from nested_lists("cond", result, (*path, "result"))
    confirm = args.get("confirm")
    if method == "connect" and isinstance(confirm, list):
        yield confirm, (*path, "confirm")


def _lists_in(mapping: dict[str, JSONValue],
              path: JSONPath) -> Iterator[tuple[list[JSONValue], JSONPath]]:
    for key in _NESTED_LISTS:
        body = mapping.get(key)
        if isinstance(body, list):
            yield body, (*path, key)


def _ai_site(site: MethodSite, args: dict[str, JSONValue]) -> AiSite:
    path = site.args_path
    contexts: list[ContextSite] = []
    prompt = args.get("prompt")
    raw_contexts = prompt.get("contexts") if isinstance(prompt, dict) else None
    if isinstance(raw_contexts, dict):
        for name, body in raw_contexts.items():
            if not isinstance(body, dict):
                continue
            context_path = (*path, "prompt", "contexts", name)
            steps = []
            raw_steps = body.get("steps")
            for position, step in enumerate(raw_steps if isinstance(raw_steps, list) else []):
                if isinstance(step, dict) and isinstance(step.get("name"), str):
                    steps.append(StepSite(name, str(step["name"]), position, step,
                                          (*context_path, "steps", position)))
            contexts.append(ContextSite(name, body, context_path, tuple(steps)))
    functions: list[FunctionSite] = []
    natives: list[str] = []
    included: list[str] = []
    swaig = args.get("SWAIG")
    if isinstance(swaig, dict):
        raw_functions = swaig.get("functions")
        for position, function in enumerate(raw_functions if isinstance(raw_functions, list)
                                            else []):
            if isinstance(function, dict) and isinstance(function.get("function"), str):
                functions.append(FunctionSite(str(function["function"]), function,
                                              (*path, "SWAIG", "functions", position)))
        raw_natives = swaig.get("native_functions")
        natives = [n for n in raw_natives if isinstance(n, str)] \
            if isinstance(raw_natives, list) else []
        includes = swaig.get("includes")
        for include in includes if isinstance(includes, list) else []:
            names = include.get("functions") if isinstance(include, dict) else None
            included.extend(n for n in names if isinstance(n, str)) \
                if isinstance(names, list) else None
    return AiSite(site, tuple(contexts), tuple(functions), tuple(natives), tuple(included))


def actions_in(node: JSONValue, path: JSONPath) -> Iterator[tuple[JSONPath, str, JSONValue]]:
    """Actions under any `action` key of a data_map (outputs nest at several levels)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "action":
                items = value if isinstance(value, list) else [value]
                for position, action in enumerate(items):
                    action_path = (*path, key, position) if isinstance(value, list) \
                        else (*path, key)
                    if isinstance(action, dict):
                        for name, argument in action.items():
                            # Beside `SWML`, `transfer` is a flag, not a destination.
                            if name == "transfer" and "SWML" in action:
                                continue
                            yield (*action_path, name), name, argument
            else:
                yield from actions_in(value, (*path, key))
    elif isinstance(node, list):
        for position, item in enumerate(node):
            yield from actions_in(item, (*path, position))


def step_successors(context: ContextSite, step: StepSite) -> list[str]:
    """Step names this step can move to within its context."""
    valid = step.data.get("valid_steps")
    following = context.steps[step.index + 1].name \
        if step.index + 1 < len(context.steps) else None
    targets: list[str] = []
    if isinstance(valid, list):
        for target in valid:
            if target == "next":
                if following:
                    targets.append(following)
            elif isinstance(target, str):
                targets.append(target)
    elif following and not step.data.get("end"):
        targets.append(following)
    if step.data.get("skip_to_next_step") and following:
        targets.append(following)
    gather = step.data.get("gather_info")
    if isinstance(gather, dict):
        action = gather.get("completion_action")
        if action == "next_step" and following:
            targets.append(following)
        elif isinstance(action, str) and action != "next_step":
            targets.append(action)
    return targets


def step_contexts(context: ContextSite, step: StepSite) -> list[str]:
    """Context names reachable from this step (its own list, else its context's)."""
    valid = step.data.get("valid_contexts")
    if not isinstance(valid, list):
        valid = context.data.get("valid_contexts")
    return [c for c in valid if isinstance(c, str)] if isinstance(valid, list) else []
