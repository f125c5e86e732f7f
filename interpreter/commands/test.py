"""`callkernel test PATH...`: run flow tests (`*.test.yaml`).

Each test runs one call on a `CallHost` in virtual time, with the scripted
model (the flow's `<name>.model.yaml`, or the test's `model:`) or, with
`--llm openai`, a real OpenAI-compatible model; mocks apply either way.

Exit codes: 0 every test passed; 1 a test failed, or a test file, its flow
or its model rules have errors; 2 usage error or an unreadable path, or
`--llm openai` without the variables it needs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from interpreter.clock import run_virtual
from interpreter.commands.inputs import UnreadableInput
from interpreter.errors import DocumentError
from interpreter.flowcheck import Observed, Outcome, check
from interpreter.flowtest import FlowTest, load_flow_test
from interpreter.host import CallHost
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import LlmProvider
from interpreter.providers.llm.openai_config import openai_problem
from interpreter.providers.llm.scripted import ScriptedProvider
from interpreter.runtime.outbox import Delivery, MemoryOutbox
from interpreter.transports.caller_script import call_details
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

LLMS = ("scripted", "openai")


def find_tests(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(path.rglob("*.test.yaml"))
        elif path.is_file():
            found.append(path)
        else:
            raise UnreadableInput(f"{raw}: no such file or directory")
    return found


class _KeepingOutbox(MemoryOutbox):
    """The in-memory outbox, keeping the body of each delivery (the summary
    payload carries the session's global_data)."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[Mapping[str, JSONValue]] = []

    def submit(self, delivery: Delivery) -> None:
        self.payloads.append(delivery.body)
        super().submit(delivery)


def _model(test: FlowTest, llm: str, env: Mapping[str, str]) -> LlmProvider:
    if llm == "openai":
        from interpreter.providers.llm.openai import OpenAIConfig, OpenAIProvider

        return OpenAIProvider(OpenAIConfig.from_env(env))
    return ScriptedProvider(test.rules)


def run_once(test: FlowTest, *, llm: str = "scripted", trace_path: Path | None = None,
             env: Mapping[str, str] | None = None) -> list[Outcome]:
    """One run of a loaded test; `trace_path`: where its trace goes (overwritten)."""
    assert test.compiled is not None, "load_flow_test compiles the flow"
    flow = test.compiled
    model = _model(test, llm, os.environ if env is None else env)
    if trace_path is not None:
        trace_path.parent.mkdir(parents=True, exist_ok=True)
        trace_path.unlink(missing_ok=True)

    async def main() -> list[Outcome]:
        caller = SimulatedCaller(test.script)
        network = SimulatedNetwork.for_script(test.script)
        outbox = _KeepingOutbox()
        try:
            async with CallHost(llm={llm: model}, default_llm=llm, outbox=outbox,
                                warnings=sys.stderr) as host:
                call = await host.run_call(flow, caller, network,
                                           call_info=call_details(test.script),
                                           base=test.flow.parent, mocks=test.mocks,
                                           start=test.start, trace_path=trace_path)
        finally:
            await caller.close()
            await network.close()
        # Leaving the host delivered the summaries: the outbox has them now.
        summaries = [r.summary for r in outbox.results if r.summary is not None]
        return check(test, Observed(call.trace.records,
                                    [(line.start, line.text) for line in caller.heard],
                                    summaries, outbox.payloads))

    return run_virtual(main)


def run(paths: list[str], *, repeat: int = 1, out: TextIO | None = None,
        err: TextIO | None = None, llm: str = "scripted", trace_dir: str | None = None,
        env: Mapping[str, str] | None = None) -> int:
    """Run the tests found in `paths`; the exit code (see the module docstring)."""
    out = out or sys.stdout
    err = err or sys.stderr
    env = os.environ if env is None else env
    if llm not in LLMS:
        print(f"callkernel test: --llm is one of {', '.join(LLMS)}, not {llm!r}", file=err)
        return 2
    problem = openai_problem(env) if llm == "openai" else None
    if problem is not None:
        print(f"callkernel test: {problem}", file=err)
        return 2
    try:
        files = find_tests(paths)
    except UnreadableInput as error:
        print(f"callkernel test: {error}", file=err)
        return 2
    failures = 0
    traces = _TraceNames(Path(trace_dir)) if trace_dir is not None else None
    for path in files:
        try:
            test = load_flow_test(path)
        except DocumentError as error:
            for diagnostic in error.diagnostics:
                print(diagnostic.render(), file=err)
            print(f"FAIL {path} (the test file, its flow or its model has errors)", file=out)
            failures += 1
            continue
        except OSError as error:
            print(f"callkernel test: {path}: {error.strerror or error}", file=err)
            failures += 1
            continue
        for attempt in range(1, repeat + 1):
            trace = traces.next(path, attempt if repeat > 1 else None) if traces else None
            outcomes = run_once(test, llm=llm, trace_path=trace, env=env)
            failed = [o for o in outcomes if not o.passed]
            label = f"{path}" + (f" (run {attempt}/{repeat})" if repeat > 1 else "")
            print(f"{'PASS' if not failed else 'FAIL'} {label}", file=out)
            for outcome in outcomes:
                mark = "ok  " if outcome.passed else "FAIL"
                print(f"  {mark} line {outcome.expectation.line}: expect "
                      f"{outcome.expectation.describe()}", file=out)
                for evidence in outcome.evidence:
                    print(f"         | {evidence}", file=out)
            if trace is not None:
                print(f"  trace: {trace}", file=out)
            failures += bool(failed)
    print(f"{len(files)} test file(s), {failures} failing", file=err)
    return 1 if failures else 0


class _TraceNames:
    """`DIR/<test name>.jsonl` per test (`.run2` … with --repeat), unique per run."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.used: set[Path] = set()

    def next(self, test: Path, attempt: int | None) -> Path:
        stem = test.name.removesuffix(".test.yaml").removesuffix(".yaml")
        suffix = f".run{attempt}" if attempt is not None else ""
        candidate = self.directory / f"{stem}{suffix}.jsonl"
        number = 2
        while candidate in self.used:
            candidate = self.directory / f"{stem}-{number}{suffix}.jsonl"
            number += 1
        self.used.add(candidate)
        return candidate
