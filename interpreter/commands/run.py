"""`callkernel run FLOW --caller SCRIPT`: one call on the text media runtime.

The flow runs against a simulated caller that follows the caller script, and
against simulated destinations for the legs it dials. By default time is
virtual (a ten-minute call finishes at once, with the same timings);
`--real-time` paces it on the wall clock. The output is the conversation with
timestamps, interleaved with what the runtime did (states, legs, errors).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from interpreter import ir
from interpreter.clock import run_virtual
from interpreter.commands.inputs import UnreadableInput, read
from interpreter.errors import DocumentError
from interpreter.host import CallHost, FlowUnavailable
from interpreter.providers.llm.base import LlmProvider
from interpreter.providers.llm.scripted import ScriptedProvider, load_rules
from interpreter.runtime.call import Call
from interpreter.runtime.outbox import DeliveryResult, MemoryOutbox
from interpreter.transports.caller_script import CallerScript, load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

# Trace kinds worth a line in the conversation view, and how to say them.
_SHOWN: dict[str, Callable[[dict[str, Any]], str]] = {
    "state": lambda r: "ai session over" if (r["old"], r["new"]) == ("in_ai", "answered")
    else f"call is {r['new']}",
    "barge_declined": lambda r: f"caller's words did not interrupt ({r['why']}); "
    "answered next",
    "attention_timeout": lambda r: f"caller silent for {r['seconds']:g} s: the agent is "
    "asked to get their attention",
    "inactivity_timeout": lambda r: f"caller silent for {r['seconds']:g} s: the ai "
    "session ends",
    "leg_dial": lambda r: f"dialing {r['destination']} ({r['leg']})",
    "leg_state": lambda r: f"{r['leg']} {r['new']}",
    "leg_reconciled": lambda r: f"{r['leg']} status query: {r['status']}",
    "leg_torn_down": lambda r: f"{r['leg']} torn down: {r['why']}",
    "transferred": lambda r: f"transferred to section {r['to']}",
    "prompt_result": lambda r: f"prompt: {r['result']} {r.get('value') or ''}".rstrip(),
    "request_finished": lambda r: f"request answered {r['status']}",
    "request_failed": lambda r: f"request failed: {r['error']}",
    "error": lambda r: f"{'FATAL ' if r.get('fatal') else ''}{r['type']}: {r['message']}",
    "not_executed": lambda r: f"{r['method']} not executed",
    "call_ended": lambda r: f"ended: {r['disposition']}",
    "step_change": lambda r: f"step {r['old']} → {r['new']} ({r['trigger']})",
    "context_change": lambda r: f"context {r['old']} → {r['new']} ({r['trigger']})",
    "effect_started": lambda r: f"calling {r['function']}({r.get('arguments', '')})"
    if r.get("effect") == "tool" else "",
    "tool_returned": lambda r: f"{r['function']} returned: {r.get('response')}",
    "barge_in": lambda r: f"barge-in; agent was heard saying: \"{r['heard']}\"",
    "tool_cancelled": lambda r: f"{r['function']} cancelled: {r['why']}",
    "gather_answer": lambda r: f"gathered {r['key']}: {r['answer']}",
    "language_change": lambda r: f"language {r['old']} → {r['new']}",
    "hold": lambda r: f"caller on hold for {r['seconds']:g} s",
    "unhold": lambda r: "caller back from hold",
}


def call_details(script: CallerScript) -> dict[str, Any]:
    """The `call` object a document fetch and the runtime's `call.*` both see."""
    return {"from": script.from_, "to": script.to, "direction": "inbound", "type": "phone"}


def conversation(caller: SimulatedCaller, call: Call) -> list[tuple[float, str, str]]:
    lines: list[tuple[float, str, str]] = []
    for line in caller.heard:
        text = line.text if line.kind == "say" else f"[{line.kind} {line.text}]"
        if line.cut_off:
            text += f"  (cut off; heard: \"{line.heard}\")"
        lines.append((line.start, "agent", text))
    for track in caller.background:
        lines.append((track.start, "agent", f"[background {track.text} until "
                      f"{track.end:.1f} s{', stopped' if track.cut_off else ''}]"))
    for action in caller.said:
        verb = {"say": "", "press": "presses ", "hangup": "hangs up"}.get(action.kind, "")
        text = f"{verb}{action.value}" if action.kind != "hangup" else verb
        lines.append((action.start, "caller", text + (f"  ({action.note})" if action.note
                                                      else "")))
    for record in call.trace.records:
        show = _SHOWN.get(str(record["kind"]))
        text = show(record) if show is not None else ""
        if text:
            lines.append((float(record["t"]), "call", text))
    # At the same instant: what the caller did, then what the runtime did about
    # it, then what the agent said.
    order = {"caller": 0, "call": 1, "agent": 2}
    return sorted(lines, key=lambda line: (line[0], order[line[1]]))


async def run_call(host: CallHost, flow: ir.CompiledFlow, script: CallerScript, *,
                   base: Path | None, trace_path: str | None,
                   call_id: str | None = None) -> tuple[Call, SimulatedCaller]:
    caller = SimulatedCaller(script)
    network = SimulatedNetwork.for_script(script)
    try:
        call = await host.run_call(flow, caller, network, call_id=call_id,
                                   call_info=call_details(script), base=base,
                                   trace_path=trace_path)
    finally:
        await caller.close()
        await network.close()
    return call, caller


def _results(host: CallHost) -> list[DeliveryResult]:
    outbox = host.outbox
    return outbox.results if isinstance(outbox, MemoryOutbox) else []


def print_deliveries(host: CallHost, out: TextIO) -> None:
    """What left the call afterwards: each summary and where it went."""
    for result in _results(host):
        where = {"delivered": f"delivered to {result.url}",
                 "kept": "kept (the flow has no post_prompt_url)",
                 "given_up": f"NOT delivered to {result.url} after {result.attempts} "
                             f"attempts ({result.error})"}[result.state]
        print(f"summary {where}: {result.summary or '(none: the model gave none)'}", file=out)


def model(kind: str, rules_path: str | None, flow_path: str) -> LlmProvider:
    """The model for ai verbs: `scripted` (rules from --model-script, else the
    flow's `<name>.model.yaml` beside it) or `openai` (configured from env)."""
    if kind == "openai":
        from interpreter.providers.llm.openai import OpenAIConfig, OpenAIProvider

        return OpenAIProvider(OpenAIConfig.from_env())
    if rules_path is None and not flow_path.startswith(("http://", "https://")):
        beside = Path(flow_path).with_suffix(".model.yaml")
        rules_path = str(beside) if beside.is_file() else None
    if rules_path is None:
        return ScriptedProvider(())
    return load_rules(read(rules_path), rules_path)


def run(flow_path: str, script_path: str, *, trace_path: str | None = None,
        real_time: bool = False, as_json: bool = False, llm: str = "scripted",
        model_script: str | None = None, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        script = load_caller_script(read(script_path), script_path)
        provider = model(llm, model_script, flow_path)
    except UnreadableInput as error:
        print(f"callkernel run: {error}", file=err)
        return 2
    except DocumentError as error:
        for diagnostic in error.diagnostics:
            print(diagnostic.render(), file=err)
        return 1
    call_id = str(uuid.uuid4())

    async def main() -> tuple[Call, SimulatedCaller, CallHost] | int:
        async with CallHost(llm={llm: provider}, default_llm=llm, warnings=err) as host:
            try:
                if flow_path.startswith(("http://", "https://")):
                    # The same call id in the fetch and in tool calls: applications
                    # (the SDK's secure functions) tie their tokens to it.
                    info = {"call_id": call_id, **call_details(script)}
                    raw, base = await host.fetch_document(flow_path, info), None
                else:
                    raw, base = read(flow_path), Path(flow_path).resolve().parent
                flow = host.compile(raw, flow_path)
            except (UnreadableInput, FlowUnavailable) as error:
                print(f"callkernel run: {error}", file=err)
                return 2
            except DocumentError as error:
                for diagnostic in error.diagnostics:
                    print(diagnostic.render(), file=err)
                return 1
            call, caller = await run_call(host, flow, script, base=base,
                                          trace_path=trace_path, call_id=call_id)
        # Leaving the host delivered the summary: its result is there now.
        return call, caller, host

    outcome = asyncio.run(main()) if real_time else run_virtual(main)
    if isinstance(outcome, int):
        return outcome
    call, caller, host = outcome
    lines = conversation(caller, call)
    if as_json:
        json.dump({"call_id": call.call_id, "disposition": call.trace.of_kind("call_ended")[-1]
                   ["disposition"], "variables": call.vars,
                   "conversation": [{"t": t, "who": who, "text": text}
                                    for t, who, text in lines],
                   "deliveries": [dataclasses.asdict(result) for result in _results(host)]},
                  out, indent=2, default=str)
        out.write("\n")
    else:
        for t, who, text in lines:
            print(f"{t:8.2f}  {who:<6}  {text}", file=out)
        print_deliveries(host, out)
    return 0
