"""`callkernel test PATH...`: run flow tests (`*.test.yaml`) with the scripted model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from interpreter.clock import run_virtual
from interpreter.commands.inputs import UnreadableInput, read
from interpreter.commands.run import call_details
from interpreter.document.compile import compile_flow
from interpreter.document.loader import load_document
from interpreter.errors import DocumentError
from interpreter.flowtest import FlowTest, Outcome, check, load_flow_test
from interpreter.host import CallHost
from interpreter.providers.llm.scripted import ScriptedProvider, load_rules
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork


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


def run_once(test: FlowTest) -> list[Outcome]:
    flow, _ = compile_flow(load_document(read(str(test.flow)), str(test.flow)))
    model = load_rules(read(str(test.model)), str(test.model)) if test.model \
        else ScriptedProvider(())

    async def main() -> list[Outcome]:
        caller = SimulatedCaller(test.script)
        network = SimulatedNetwork.for_script(test.script)
        async with CallHost(llm={"scripted": model}, warnings=sys.stderr) as host:
            call = await host.run_call(flow, caller, network,
                                       call_info=call_details(test.script),
                                       base=test.flow.parent, mocks=test.mocks,
                                       start=test.start)
        await caller.close()
        await network.close()
        return check(test, call.trace.records,
                     [(line.start, line.text) for line in caller.heard])

    return run_virtual(main)


def run(paths: list[str], *, repeat: int = 1, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        files = find_tests(paths)
    except UnreadableInput as error:
        print(f"callkernel test: {error}", file=err)
        return 2
    failures = 0
    for path in files:
        try:
            test = load_flow_test(path)
        except DocumentError as error:
            for diagnostic in error.diagnostics:
                print(diagnostic.render(), file=err)
            failures += 1
            continue
        for attempt in range(1, repeat + 1):
            try:
                outcomes = run_once(test)
            except DocumentError as error:
                for diagnostic in error.diagnostics:
                    print(diagnostic.render(), file=err)
                failures += 1
                break
            failed = [o for o in outcomes if not o.passed]
            label = f"{path}" + (f" (run {attempt}/{repeat})" if repeat > 1 else "")
            print(f"{'PASS' if not failed else 'FAIL'} {label}", file=out)
            for outcome in outcomes:
                mark = "ok  " if outcome.passed else "FAIL"
                print(f"  {mark} line {outcome.expectation.line}: expect "
                      f"{outcome.expectation.describe()}", file=out)
                for evidence in outcome.evidence:
                    print(f"         | {evidence}", file=out)
            failures += bool(failed)
    print(f"{len(files)} test file(s), {failures} failing", file=err)
    return 1 if failures else 0
