"""Running one ai call on the simulated text runtime with the scripted model."""

from __future__ import annotations

from collections.abc import Mapping

from interpreter.clock import run_virtual
from interpreter.document.compile import compile_text
from interpreter.providers.llm.scripted import ScriptedProvider, load_rules
from interpreter.runtime.ai.loop import runner
from interpreter.runtime.call import Call, CallResult
from interpreter.runtime.tools.runner import MockRunner, ToolMock
from interpreter.transports.caller_script import load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork


def run_ai_call(flow: str, caller: str, rules: str | ScriptedProvider,
                mocks: Mapping[str, ToolMock] | None = None) -> tuple[
        Call, CallResult, SimulatedCaller, ScriptedProvider]:
    """Compile `flow`, play `caller` against it in virtual time; the call, its
    result, the caller (what was heard) and the model (what it was sent)."""
    compiled = compile_text(flow, "flow.yaml")
    script = load_caller_script(caller, "caller.yaml")
    model = load_rules(rules, "rules.yaml") if isinstance(rules, str) else rules

    async def main() -> tuple[Call, CallResult, SimulatedCaller]:
        channel = SimulatedCaller(script)
        network = SimulatedNetwork.for_script(script)
        call = Call(compiled, channel, network,
                    ai_runner=runner(model, tools=MockRunner(mocks or {})))
        result = await call.run()
        await channel.close()
        await network.close()
        return call, result, channel

    call, result, channel = run_virtual(main)
    return call, result, channel, model


def spoken(channel: SimulatedCaller) -> list[str]:
    return [line.text for line in channel.heard if line.kind == "say"]
