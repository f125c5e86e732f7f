"""A finished call leaves no reference cycles: it is freed by reference
counting the moment its host drops it, so a process hosting many calls can
make full garbage collections (a stop-the-world pause of ~0.2 ms per live
call) rare. See interpreter/host.py."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from interpreter.clock import run_virtual
from interpreter.document.compile import compile_text
from interpreter.providers.llm.scripted import load_rules
from interpreter.runtime.ai.loop import runner
from interpreter.runtime.call import Call
from interpreter.runtime.tools.runner import MockRunner, ToolMock
from interpreter.transports.caller_script import load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork
from tests.runtime.ai.test_turn import FLOW, RULES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _cycles_left_by(run: object) -> int:
    assert callable(run)
    run()  # the first run warms caches (regexes, validators) that live on
    gc.collect()
    run()
    return gc.collect()


def test_a_finished_ai_call_with_a_tool_and_a_barge_in_leaves_no_cycles(
        no_automatic_gc: None) -> None:
    flow = compile_text(FLOW.replace("BARGE", "false"), "memory.yaml")
    script = load_caller_script('steps:\n  - say: "book a table"\n  - say: "for four"\n'
                                "    barge_in: 0.5\n  - hangup: {after: 3}\n")
    model = load_rules(RULES, "rules.yaml")

    def run() -> None:
        async def main() -> None:
            channel = SimulatedCaller(script)
            network = SimulatedNetwork.for_script(script)
            call = Call(flow, channel, network, ai_runner=runner(
                model, tools=MockRunner({"book": ToolMock("Booked.", delay=2.0)})))
            await call.run()
            await channel.close()
            await network.close()

        run_virtual(main)

    assert _cycles_left_by(run) == 0


def test_a_finished_call_that_dialed_legs_leaves_no_cycles(no_automatic_gc: None) -> None:
    flow = compile_text((ROOT / "flows" / "ivr.yaml").read_text(), "ivr.yaml")
    script = load_caller_script((ROOT / "flows" / "ivr.caller.yaml").read_text())

    def run() -> None:
        async def main() -> None:
            channel = SimulatedCaller(script)
            network = SimulatedNetwork.for_script(script)
            await Call(flow, channel, network).run()
            await channel.close()
            await network.close()

        run_virtual(main)

    assert _cycles_left_by(run) == 0
