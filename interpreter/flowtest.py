"""Flow tests: a caller script with expectations and tool mocks (`*.test.yaml`).

A test file is a caller script (docs/caller-scripts.md) plus:

```yaml
flow: support.yaml            # relative to the test file (default: <name>.yaml)
model: support.model.yaml     # scripted model rules (default: the flow's .model.yaml)
start: {context: default, step: lookup}   # optional: where the ai verb starts
mocks:                        # tool outcomes instead of webhooks
  check_order: {response: "Order A123: shipped", delay: 0.5}
  book_appointment: {fail: tool_timeout}
expect:
  - step: wrap_up                       # the agent reached this step
  - tool: check_order                   # called with arguments matching (regex per key)
    arguments: {order_id: "A12[0-9]"}
  - said: "shipped"                     # the agent said text containing this
  - error: tool_timeout                 # an error of this type happened and was recovered
  - ended: caller_hangup                # the call's disposition
```

Each expectation passes or fails on its own, with the trace lines that
explain a failure.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from interpreter.diagnostics import Diagnostic, Severity, sort_diagnostics
from interpreter.document.loader import SourceDocument, load_document
from interpreter.errors import DocumentError, ErrorType
from interpreter.jsontypes import JSONValue
from interpreter.runtime.tools.runner import ToolMock
from interpreter.transports.caller_script import CallerScript, parse_caller_script

_TEST_KEYS = ("flow", "model", "start", "mocks", "expect")
Report = Callable[[str, tuple[str | int, ...]], None]
_EXPECT_KINDS = ("step", "tool", "said", "error", "ended")


@dataclass(frozen=True, slots=True)
class Expectation:
    kind: str
    value: str
    arguments: Mapping[str, str] = field(default_factory=dict)
    line: int = 0

    def describe(self) -> str:
        extra = f" with {dict(self.arguments)}" if self.arguments else ""
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


def load_flow_test(path: Path) -> FlowTest:
    doc = load_document(path.read_bytes(), str(path))
    data = doc.data if isinstance(doc.data, dict) else {}
    problems: list[Diagnostic] = []

    def problem(message: str, where: tuple[str | int, ...]) -> None:
        problems.append(doc.diagnostic("CK711", Severity.ERROR, message, where))

    caller_doc = dataclasses.replace(doc, data={k: v for k, v in data.items()
                                                if k not in _TEST_KEYS})
    try:
        script = parse_caller_script(caller_doc)
    except DocumentError as error:
        problems.extend(error.diagnostics)
        script = CallerScript()
    base = path.parent
    stem = path.name.removesuffix(".test.yaml")
    flow = base / str(data.get("flow", f"{stem}.yaml"))
    if not flow.is_file():
        problem(f"the flow {flow.name} does not exist", ("flow",))
    model_name = data.get("model")
    model = base / str(model_name) if model_name else flow.with_suffix(".model.yaml")
    expect = tuple(_expectations(doc, data.get("expect"), problem))
    if not expect:
        problem("a flow test needs at least one `expect` entry", ("expect",))
    mocks = _mocks(data.get("mocks"), problem)
    start = data.get("start")
    start_at = None
    if isinstance(start, dict) and isinstance(start.get("context"), str):
        step = start.get("step")
        start_at = (str(start["context"]), str(step) if isinstance(step, str) else None)
    elif start is not None:
        problem("`start` is {context: NAME, step: NAME}", ("start",))
    if problems:
        raise DocumentError(sort_diagnostics(problems))
    return FlowTest(str(path), flow, model if model.is_file() else None, script,
                    MappingProxyType(mocks), expect, start_at)


def _expectations(doc: SourceDocument, raw: JSONValue, report: Report) -> list[Expectation]:
    found = []
    for position, entry in enumerate(raw if isinstance(raw, list) else []):
        path = ("expect", position)
        kinds = [k for k in _EXPECT_KINDS if isinstance(entry, dict) and k in entry]
        if len(kinds) != 1:
            report(f"each expectation has exactly one of {', '.join(_EXPECT_KINDS)}", path)
            continue
        assert isinstance(entry, dict)
        arguments = entry.get("arguments") or {}
        found.append(Expectation(
            kinds[0], str(entry[kinds[0]]),
            {str(k): str(v) for k, v in arguments.items()} if isinstance(arguments, dict)
            else {}, doc.span(path).line))
    return found


def _mocks(raw: JSONValue, report: Report) -> dict[str, ToolMock]:
    mocks = {}
    for name, spec in (raw.items() if isinstance(raw, dict) else []):
        if not isinstance(spec, dict):
            report("a mock is {response, actions, delay, fail}", ("mocks", name))
            continue
        fail = spec.get("fail")
        try:
            failure = ErrorType(fail) if isinstance(fail, str) else None
        except ValueError:
            report(f"`fail` is an error type such as tool_timeout, not {fail!r}",
                   ("mocks", name, "fail"))
            continue
        actions = spec.get("actions") or []
        delay = spec.get("delay", 0)
        mocks[name] = ToolMock(
            str(spec.get("response", "Action completed.")),
            tuple(a for a in actions if isinstance(a, dict)) if isinstance(actions, list)
            else (), float(delay) if isinstance(delay, int | float) else 0.0, failure)
    return mocks


@dataclass(frozen=True, slots=True)
class Outcome:
    expectation: Expectation
    passed: bool
    evidence: tuple[str, ...] = ()


def check(test: FlowTest, records: list[dict[str, JSONValue]],
          heard: list[tuple[float, str]]) -> list[Outcome]:
    """Each expectation against the call's trace and what the caller heard
    (each line with the time it started)."""
    outcomes = []
    for expectation in test.expect:
        value = expectation.value
        relevant: list[dict[str, JSONValue]] = []
        match expectation.kind:
            case "step":
                relevant = [r for r in records if r["kind"] in ("step_change", "ai_started",
                                                                 "context_change")]
                passed = any((r["kind"] == "step_change" and r.get("new") == value)
                             or r.get("step") == value for r in relevant)
            case "tool":
                relevant = [r for r in records if (r["kind"] == "effect_started"
                            and r.get("effect") == "tool") or r["kind"] == "tool_mocked"]
                passed = any(r.get("function") == value and _arguments_match(
                    expectation.arguments, r.get("arguments")) for r in relevant)
            case "said":
                passed = any(value.lower() in line.lower() for _, line in heard)
                relevant = [{"t": start, "kind": "heard", "text": line} for start, line in heard]
            case "error":
                relevant = [r for r in records if r["kind"] == "error"]
                passed = any(r.get("type") == value and not r.get("fatal") for r in relevant)
            case _:
                relevant = [r for r in records if r["kind"] == "call_ended"]
                passed = any(str(r.get("disposition", "")).startswith(value)
                             for r in relevant)
        evidence = () if passed else tuple(_line(r) for r in relevant[-6:])
        outcomes.append(Outcome(expectation, passed, evidence))
    return outcomes


def _arguments_match(expected: Mapping[str, str], raw: JSONValue) -> bool:
    try:
        actual = json.loads(str(raw or "{}"))
    except ValueError:
        return False
    if not isinstance(actual, dict):
        return False
    return all(re.fullmatch(pattern, str(actual.get(key, ""))) for key, pattern
               in expected.items())


def _line(record: Mapping[str, JSONValue]) -> str:
    from interpreter.runtime.trace import format_record

    return format_record(dict(record))
