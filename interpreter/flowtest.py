"""Flow tests: a caller script with expectations and tool mocks (`*.test.yaml`).

A test file is a caller script (docs/caller-scripts.md) plus:

```yaml
flow: support.yaml            # relative to the test file (default: <name>.yaml)
model: support.model.yaml     # scripted model rules (default: the flow's .model.yaml)
start: {context: default, step: lookup}   # optional: where the ai verb starts
mocks:                        # tool outcomes instead of webhooks
  check_order: {response: "Order A123: shipped", delay: 0.5}
  book_appointment: {fail: tool_timeout}
in_order: false               # true: the expectations must be met in this order
expect:
  - step: wrap_up                       # the agent reached this step
  - context: billing                    # ... this context
  - tool: check_order                   # called with arguments matching (regex per key)
    arguments: {order_id: "A12[0-9]"}
  - said: "shipped"                     # the agent said text containing this
  - error: tool_timeout                 # an error of this type happened and was recovered
  - dialed: "+15550100200"              # a leg was dialed to this destination
  - bridged: "+15550100200"             # ... and bridged to the caller
  - variables: {ai_result: success}     # the call's final variables (regex per name)
  - global_data: {order.id: "A\\d+"}    # the ai session's global_data at its end
  - summary: '"resolved": true'         # a regex searched in the post_prompt summary
  - ended: caller_hangup                # the call's disposition
```

The file is checked against its flow when it loads: step, context and
function names, mocks, error types and the start point must exist.
flowcheck.py checks the expectations after the call: each passes or fails on
its own, with the trace lines that explain a failure.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from interpreter import ir
from interpreter.diagnostics import Diagnostic, JSONPath, Severity, sort_diagnostics
from interpreter.document.compile import compile_flow
from interpreter.document.loader import SourceDocument, load_document
from interpreter.document.schema import did_you_mean
from interpreter.errors import DocumentError, ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.scripted import Rule, load_rules
from interpreter.runtime.tools.runner import ToolMock
from interpreter.transports.caller_script import CallerScript, parse_caller_script

_TEST_KEYS = ("flow", "model", "start", "mocks", "expect", "in_order")
_EXPECT_KINDS = ("step", "context", "tool", "said", "error", "ended", "dialed", "bridged",
                 "variables", "global_data", "summary")
# Expectations on how the call ended up rather than on something that
# happened at a moment: `in_order` does not place them.
FINAL_KINDS = ("variables", "global_data", "summary")
MAP_KINDS = ("variables", "global_data")  # {name: regex}
# Functions the runtime offers itself; the trace shows their effect as moves.
_INJECTED = {"next_step": "step", "change_context": "context", "gather_submit": "variables"}


class Report(Protocol):
    def __call__(self, message: str, path: JSONPath, *, key: bool = False,
                 hint: str | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Expectation:
    kind: str
    value: str = ""
    # tool: argument regexes; variables/global_data: a regex per name
    patterns: Mapping[str, str] = field(default_factory=dict)
    line: int = 0

    def describe(self) -> str:
        if self.kind in MAP_KINDS:
            return f"{self.kind} {dict(self.patterns)}"
        extra = f" with {dict(self.patterns)}" if self.patterns else ""
        return f"{self.kind} {self.value!r}{extra}"


@dataclass(frozen=True, slots=True)
class FlowTest:
    file: str
    flow: Path
    model: Path | None
    script: CallerScript
    mocks: Mapping[str, ToolMock]
    expect: tuple[Expectation, ...]
    start: tuple[str, str | None] | None = None
    in_order: bool = False
    compiled: ir.CompiledFlow | None = field(default=None, repr=False)
    rules: tuple[Rule, ...] = field(default=(), repr=False)  # the model file's


@dataclass(frozen=True, slots=True)
class FlowNames:
    """What a flow defines, for checking the names a test uses."""

    steps: dict[str, tuple[str, ...]]  # context → its steps
    functions: dict[str, ir.Function]
    open_ended: bool  # SWAIG.includes: functions are known only at run time

    @classmethod
    def of(cls, flow: ir.CompiledFlow) -> FlowNames:
        steps: dict[str, tuple[str, ...]] = {}
        functions: dict[str, ir.Function] = {}
        open_ended = False
        for agent in _agents(flow):
            for context in agent.contexts:
                steps[context.name] = steps.get(context.name, ()) + tuple(
                    s.name for s in context.steps)
            functions.update((f.name, f) for f in agent.functions)
            open_ended = open_ended or bool(agent.includes)
        return cls(steps, functions, open_ended)

    @property
    def all_steps(self) -> list[str]:
        return sorted({step for steps in self.steps.values() for step in steps})

    @property
    def contexts(self) -> list[str]:
        # A flow without contexts runs in one the scripted model calls `default`.
        return sorted(set(self.steps) | {"default"})


def _agents(flow: ir.CompiledFlow) -> Iterator[ir.Ai]:
    """Every ai verb of the flow, wherever it is nested."""
    seen: set[int] = set()

    def walk(value: object) -> Iterator[ir.Ai]:
        if isinstance(value, ir.Ai):
            yield value
        elif isinstance(value, tuple | list):
            for item in value:
                yield from walk(item)
        elif isinstance(value, Mapping):
            for item in value.values():
                yield from walk(item)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type) and \
                id(value) not in seen:
            seen.add(id(value))
            for part in dataclasses.fields(value):
                yield from walk(getattr(value, part.name))

    yield from walk(flow.sections)


def load_flow_test(path: Path) -> FlowTest:
    """Load and check a test file against its flow; DocumentError (CK711, the
    caller-script codes, the flow's and the model's own) when anything is wrong."""
    doc = load_document(path.read_bytes(), str(path))
    data = doc.data if isinstance(doc.data, dict) else {}
    problems: list[Diagnostic] = []

    def problem(message: str, path: JSONPath, *, key: bool = False,
                hint: str | None = None) -> None:
        problems.append(doc.diagnostic("CK711", Severity.ERROR, message, path, key=key,
                                       hint=hint))

    caller_doc = dataclasses.replace(doc, data={k: v for k, v in data.items()
                                                if k not in _TEST_KEYS})
    try:
        script = parse_caller_script(caller_doc)
    except DocumentError as error:
        problems.extend(error.diagnostics)
        script = CallerScript()
    base = path.parent
    stem = path.name.removesuffix(".test.yaml")
    named = data.get("flow")
    url = named if isinstance(named, str) and named.lower().startswith(
        ("http://", "https://")) else None
    # A flow at a URL is fetched as the platform fetches it; the test's folder
    # then holds its model file (<name>.model.yaml) and any flows it loads.
    flow = base / (f"{stem}.yaml" if url else str(named or f"{stem}.yaml"))
    compiled = None
    source: tuple[bytes, str] | None = None
    if url is not None:
        from interpreter.commands.inputs import UnreadableInput
        from interpreter.commands.sources import read_source, source_name

        try:
            source = (read_source(url), source_name(url))
        except UnreadableInput as error:
            problem(f"the flow could not be fetched: {error}", ("flow",))
    elif not flow.is_file():
        problem(f"the flow {flow.name} does not exist", ("flow",))
    else:
        source = (flow.read_bytes(), str(flow))
    if source is not None:
        try:
            compiled, _ = compile_flow(load_document(*source))
        except DocumentError as error:
            problems.extend(error.diagnostics)
    names = FlowNames.of(compiled) if compiled is not None else None
    model_name = data.get("model")
    model = base / str(model_name) if model_name else flow.with_suffix(".model.yaml")
    rules: tuple[Rule, ...] = ()
    if model.is_file():
        try:
            rules = load_rules(model.read_bytes(), str(model)).rules
        except DocumentError as error:
            problems.extend(error.diagnostics)
    elif model_name:
        problem(f"the model {model.name} does not exist", ("model",))
    expect = tuple(_expectations(doc, data.get("expect"), problem, names))
    if not expect and not any(p.path[:1] == ("expect",) for p in problems):
        problem("a flow test needs at least one `expect` entry", ("expect",))
    mocks = _mocks(data.get("mocks"), problem, names)
    start_at = _start(data.get("start"), problem, names)
    in_order = data.get("in_order", False)
    if not isinstance(in_order, bool):
        problem("`in_order` is true or false", ("in_order",))
    if problems:
        raise DocumentError(sort_diagnostics(problems))
    return FlowTest(str(path), flow, model if model.is_file() else None, script,
                    MappingProxyType(mocks), expect, start_at, in_order is True, compiled, rules)


def _expectations(doc: SourceDocument, raw: JSONValue, report: Report,
                  names: FlowNames | None) -> list[Expectation]:
    found = []
    if raw is not None and not isinstance(raw, list):
        report("`expect` is a list of expectations", ("expect",))
    for position, entry in enumerate(raw if isinstance(raw, list) else []):
        path: JSONPath = ("expect", position)
        kinds = [k for k in _EXPECT_KINDS if isinstance(entry, dict) and k in entry]
        if len(kinds) != 1 or not isinstance(entry, dict):
            unknown = [k for k in entry if k not in _EXPECT_KINDS and k != "arguments"] \
                if isinstance(entry, dict) else []
            hint = did_you_mean(unknown[0], _EXPECT_KINDS) if unknown else None
            report(f"each expectation has exactly one of {', '.join(_EXPECT_KINDS)}",
                   (*path, unknown[0]) if unknown else path, key=bool(unknown), hint=hint)
            continue
        kind = kinds[0]
        for key in entry:
            if key != kind and not (key == "arguments" and kind == "tool"):
                report(f'"{key}" does not go with `{kind}`' + (
                    " (`arguments` goes with `tool`)" if key == "arguments" else ""),
                    (*path, key), key=True)
        expectation = _expectation(kind, entry, path, report, names)
        if expectation is not None:
            found.append(dataclasses.replace(expectation, line=doc.span(path).line))
    return found


def _expectation(kind: str, entry: Mapping[str, JSONValue], path: JSONPath, report: Report,
                 names: FlowNames | None) -> Expectation | None:
    value = entry[kind]
    where: JSONPath = (*path, kind)
    if kind in MAP_KINDS:
        named = _patterns(value, where, report, f"`{kind}` is a map of name: regex")
        return Expectation(kind, patterns=named) if named is not None else None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        report(f"`{kind}` is a text", where)
        return None
    text = str(value)
    patterns: Mapping[str, str] = {}
    if kind == "tool" and "arguments" in entry:
        arguments = _patterns(entry["arguments"], (*path, "arguments"), report,
                              "`arguments` is a map of argument: regex")
        if arguments is None:
            return None
        patterns = arguments
    if kind == "summary" and not _compiles(text, where, report):
        return None
    if kind == "error":
        known = [t.value for t in ErrorType]
        if text not in known:
            report(f'"{text}" is not an error type (known: {", ".join(known)})', where,
                   hint=did_you_mean(text, known))
            return None
    if names is not None:
        _check_name(kind, text, where, report, names)
    return Expectation(kind, text, patterns)


def _check_name(kind: str, name: str, where: JSONPath, report: Report,
                names: FlowNames) -> None:
    """A step, context or function the flow does not have can never be met."""
    if kind == "step" and name not in names.all_steps:
        known = names.all_steps
        report(f'the flow has no step "{name}"' + (
            f" (steps: {', '.join(known)})" if known else " (it has no steps)"), where,
            hint=did_you_mean(name, known))
    elif kind == "context" and name not in names.contexts:
        report(f'the flow has no context "{name}" (contexts: {", ".join(names.contexts)})',
               where, hint=did_you_mean(name, names.contexts))
    elif kind == "tool" and name not in names.functions and not names.open_ended:
        if name in _INJECTED:
            report(f'"{name}" is offered by the runtime, not a function of the flow; '
                   f"expect the `{_INJECTED[name]}:` it leads to instead", where)
        else:
            known = sorted(names.functions)
            report(f'the flow has no function "{name}"'
                   f" (functions: {', '.join(known) or 'none'})", where,
                   hint=did_you_mean(name, known))


def _patterns(raw: JSONValue, where: JSONPath, report: Report,
              shape: str) -> dict[str, str] | None:
    if not isinstance(raw, dict) or not raw:
        report(shape, where)
        return None
    patterns: dict[str, str] = {}
    for key, pattern in raw.items():
        if isinstance(pattern, dict | list) or pattern is None:
            report(f"the pattern for {key!r} is a text (a regular expression)", (*where, key))
            continue
        text = as_text(pattern)
        if _compiles(text, (*where, key), report):
            patterns[str(key)] = text
    return patterns if len(patterns) == len(raw) else None


def _compiles(pattern: str, where: JSONPath, report: Report) -> bool:
    try:
        re.compile(pattern)
    except re.error as error:
        report(f"invalid regular expression: {error.msg}", where)
        return False
    return True


def _mocks(raw: JSONValue, report: Report, names: FlowNames | None) -> dict[str, ToolMock]:
    mocks = {}
    if raw is not None and not isinstance(raw, dict):
        report("`mocks` is a map of function name: {response, actions, delay, fail}",
               ("mocks",))
    for name, spec in (raw.items() if isinstance(raw, dict) else []):
        if names is not None and not names.open_ended and name not in names.functions:
            known = sorted(names.functions)
            report(f'the flow has no function "{name}" to mock'
                   f" (functions: {', '.join(known) or 'none'})", ("mocks", name), key=True,
                   hint=did_you_mean(name, known))
            continue
        if names is not None and name in names.functions and names.functions[name].native:
            report(f'"{name}" is a native function: the runtime runs it, a mock cannot '
                   "replace it", ("mocks", name), key=True)
            continue
        if not isinstance(spec, dict):
            report("a mock is {response, actions, delay, fail}", ("mocks", name))
            continue
        fail = spec.get("fail")
        try:
            failure = ErrorType(fail) if isinstance(fail, str) else None
        except ValueError:
            known = [t.value for t in ErrorType]
            report(f"`fail` is an error type such as tool_timeout, not {fail!r}",
                   ("mocks", name, "fail"), hint=did_you_mean(str(fail), known))
            continue
        actions = spec.get("actions") or []
        delay = spec.get("delay", 0)
        mocks[name] = ToolMock(
            str(spec.get("response", "Action completed.")),
            tuple(a for a in actions if isinstance(a, dict)) if isinstance(actions, list)
            else (), float(delay) if isinstance(delay, int | float) else 0.0, failure)
    return mocks


def _start(raw: JSONValue, report: Report,
           names: FlowNames | None) -> tuple[str, str | None] | None:
    """`start: {context, step}`: the context defaults to the one holding the step."""
    if raw is None:
        return None
    context, step = (raw.get(k) if isinstance(raw, dict) else None for k in ("context", "step"))
    if not isinstance(raw, dict) or not (isinstance(context, str) or isinstance(step, str)) \
            or set(raw) - {"context", "step"} or not isinstance(context, str | None) \
            or not isinstance(step, str | None):
        report("`start` is {context: NAME, step: NAME} (either may be left out)", ("start",))
        return None
    if names is None:
        return (context or "default", step)
    contexts = sorted(names.steps)
    if not contexts:
        report("the flow's ai verbs have no contexts to start in", ("start",))
        return None
    if context is not None and context not in contexts:
        report(f'the flow has no context "{context}" (contexts: {", ".join(contexts)})',
               ("start", "context"), hint=did_you_mean(context, contexts))
        return None
    if step is None:
        return (str(context), None)
    holders = [c for c, steps in names.steps.items() if step in steps
               and context in (None, c)]
    if not holders:
        known = list(names.steps.get(context, ())) if context else names.all_steps
        report(f'no step "{step}"' + (f' in context "{context}"' if context else
                                      " in the flow"), ("start", "step"),
               hint=did_you_mean(step, known))
        return None
    if len(holders) > 1:
        report(f'step "{step}" is in several contexts ({", ".join(holders)}): name the '
               "`context` too", ("start", "step"))
        return None
    return (holders[0], step)


def as_text(value: JSONValue) -> str:
    """A value as a pattern sees it: text as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)
