"""`callkernel run FLOW --caller SCRIPT`: one call on the text media runtime.

The flow runs against a simulated caller that follows the caller script, and
against simulated destinations for the legs it dials. By default time is
virtual (a ten-minute call finishes at once, with the same timings) and the
conversation is printed when the call is over; `--real-time` paces it on the
wall clock and prints each line as it happens. The output is the
conversation with timestamps, interleaved with what the runtime did (states,
legs, errors); conversation.py builds it.

`--audio` runs the same call through the audio media runtime instead: the
agent speaks through the embedded TTS, the caller's lines are spoken into
the call as 20 ms frames and heard by voice activity detection, endpointing
and the embedded recognizer (transports/audio_caller.py); `--record FILE`
writes both directions to a stereo WAV; `--transcribe` has the caller
transcribe what it heard of the agent after the call and compare it word by
word with what was said (transports/hearing_check.py). `--timeline FILE` draws the call
(speech, barge-ins, tools, steps, latency) as a PNG (interpreter/timeline.py).

Exit codes: 0 the call ended without a fatal error, 1 the flow, caller
script or model rules have errors, 2 usage error or unreadable input (or
`--llm openai` not configured), 3 the call ended on a fatal error. A flow
with an ai verb and no model gets a warning, and an ai verb the call reaches
fails with llm_error saying what to give.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

from interpreter import ir
from interpreter.clock import run_virtual
from interpreter.commands.conversation import (
    LiveTraceSink,
    LiveView,
    conversation,
    print_lines,
)
from interpreter.commands.inputs import UnreadableInput, outputs_problem, read
from interpreter.commands.sources import is_url, shown, shown_value, source_name
from interpreter.destinations import DestinationPolicy
from interpreter.errors import DocumentError
from interpreter.flow_parts import found_in, has_ai
from interpreter.host import CallHost, FlowUnavailable
from interpreter.providers.llm.base import LlmError, LlmProvider, LlmRequest, StreamItem
from interpreter.providers.llm.openai_config import openai_problem
from interpreter.providers.llm.scripted import load_rules
from interpreter.runtime.call import Call
from interpreter.runtime.outbox import DeliveryResult, MemoryOutbox
from interpreter.runtime.trace import JsonlTraceSink, TraceSink
from interpreter.transports.caller_script import CallerScript, call_details, load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

if TYPE_CHECKING:
    from interpreter.transports.audio_caller import AudioCaller

EXIT_OK, EXIT_DOCUMENT, EXIT_USAGE, EXIT_CALL_FAILED = 0, 1, 2, 3


class ModelUnavailable(Exception):
    """The call needs a model that was not given or is not configured (exit 2)."""


@dataclass(frozen=True, slots=True)
class CallRun:
    """A call that ran: the call, its simulated caller, and the loop time it
    started at (the caller's records are loop times; trace times count from it)."""

    call: Call
    caller: SimulatedCaller | AudioCaller
    start: float

    def lines(self) -> list[tuple[float, str, str]]:
        return conversation(self.caller, self.call, self.start)

    def draw_timeline(self, path: str, flow: str) -> Path:
        """Draw the call as a PNG at `path`; the path written."""
        # matplotlib loads only when a picture is asked for.
        from interpreter.timeline import build_timeline, draw_timeline

        timeline = build_timeline(self.call.trace.records, flow=flow, caller=self.caller,
                                  start=self.start)
        return draw_timeline(timeline, path)


async def run_call(host: CallHost, flow: ir.CompiledFlow, script: CallerScript, *,
                   base: Path | None, trace_path: str | None = None,
                   call_id: str | None = None, view: LiveView | None = None,
                   audio: bool = False, record: str | None = None,
                   transcribe: bool = False) -> CallRun:
    """Run one call to its end against the script; `view` prints it live;
    `audio` runs it on the audio runtime, `record` writes that audio,
    `transcribe` checks what the caller heard of the agent."""
    caller: SimulatedCaller | AudioCaller
    if audio:
        # The speech engines load only for an audio call (lint and text runs start faster).
        from interpreter.transports.audio_caller import for_flow
        from interpreter.transports.hearing_check import agent_recognizer

        caller = for_flow(flow, script, host.recognizer, keep_audio=record is not None,
                          transcribe_agent=agent_recognizer(flow, host.providers.values())
                          if transcribe else None)
    else:
        caller = view.caller(script) if view is not None else SimulatedCaller(script)
    network = SimulatedNetwork.for_script(script)
    start = asyncio.get_running_loop().time()
    if view is not None:
        view.start = start
    try:
        call = host.start_call(flow, caller, network, call_id=call_id,
                               call_info=call_details(script), base=base,
                               trace_path=trace_path)
        await host.wait(call)
    finally:
        await caller.close()
        await network.close()
        if record is not None and not isinstance(caller, SimulatedCaller):
            caller.record(record)
    return CallRun(call, caller, start)


def disposition(call: Call) -> str:
    ended = call.trace.of_kind("call_ended")
    return str(ended[-1]["disposition"]) if ended else "unknown"


def ended_on_fatal_error(call: Call) -> bool:
    """The call ended on a fatal error: an `error:*` disposition, or a fatal
    `error` record (an ai session ended by a fatal tool error hangs up as
    `hangup:ai`, but the call still failed)."""
    return disposition(call).startswith("error") or any(
        record.get("fatal") is True for record in call.trace.of_kind("error"))


def _results(host: CallHost) -> list[DeliveryResult]:
    outbox = host.outbox
    return outbox.results if isinstance(outbox, MemoryOutbox) else []


def print_deliveries(host: CallHost, out: TextIO) -> None:
    """What left the call afterwards: each summary and where it went."""
    for result in _results(host):
        summary = result.summary or "(none: the model gave none)"
        where = {"delivered": f"delivered to {result.url}",
                 "kept": "kept (the flow has no post_prompt_url)",
                 "given_up": f"NOT delivered to {result.url} after {result.attempts} "
                             f"attempts ({result.error})"}[result.state]
        print(shown(f"after the call: summary {where}: {summary}"), file=out)


# ------------------------------------------------------------------ models


def model(kind: str, rules_path: str | None, flow_path: str,
          env: Mapping[str, str] | None = None) -> LlmProvider | None:
    """The model for ai verbs: `scripted` (rules from --model-script, else the
    flow's `<name>.model.yaml` beside it; None when there are none) or
    `openai` (configured from the environment; ModelUnavailable when it is
    not)."""
    if kind == "openai":
        from interpreter.providers.llm.openai import OpenAIConfig, OpenAIProvider

        variables = os.environ if env is None else env
        problem = openai_problem(variables)
        if problem is not None:
            raise ModelUnavailable(problem)
        return OpenAIProvider(OpenAIConfig.from_env(variables))
    if rules_path is None and not is_url(flow_path):
        beside = Path(flow_path).with_suffix(".model.yaml")
        rules_path = str(beside) if beside.is_file() else None
    if rules_path is None:
        return None
    return load_rules(read(rules_path), rules_path)


def refused_webhooks(flow: ir.CompiledFlow, policy: DestinationPolicy) -> list[str]:
    """Warnings for the flow's webhooks that the destination policy refuses
    by their address alone (127.0.0.1, localhost, a private address): said
    before the call, not found out at its first tool call."""
    warnings = []
    for url in dict.fromkeys(hook.url for hook in found_in(flow, ir.Webhook)):
        host = (urlsplit(url).hostname or "").strip("[]")
        literal = "127.0.0.1" if host == "localhost" else host
        try:
            why = policy.why_refused(literal)
        except ValueError:
            continue
        if why is not None and "not an IP address" not in why:
            warnings.append(f"warning: the webhook {shown(url)} is {why}: requests to it "
                            "will fail")
    return warnings


class NoModel:
    """The model of a run given none: every request fails (llm_error, not
    retryable) saying what to give, instead of a stub that answers nothing."""

    def __init__(self, flow_path: str) -> None:
        self.message = ("no model was given: use --model-script RULES or --llm openai "
                        "(docs/llm-providers.md)")
        self.warning = (f"warning: {source_name(flow_path)} has an ai verb but no model was "
                        f"given{_beside(flow_path)}; an ai verb the call reaches fails with "
                        "llm_error. Use --model-script RULES for scripted rules, or --llm "
                        "openai (docs/llm-providers.md).")

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamItem]:
        raise LlmError("provider", self.message, retryable=False)
        yield  # pragma: no cover - makes this an async generator


def _beside(flow_path: str) -> str:
    if is_url(flow_path):
        return ""
    return f" (no --model-script, no {Path(flow_path).with_suffix('.model.yaml').name} beside it)"


# ------------------------------------------------------------------ the command


def _truncate(path: str) -> None:
    """--trace FILE replaces what FILE held (the trace sink appends)."""
    try:
        with open(path, "w", encoding="utf-8"):
            pass
    except OSError as error:
        raise UnreadableInput(f"cannot write the trace to {path}: "
                              f"{error.strerror or error}") from None


def refused(error: Exception, err: TextIO, command: str = "run") -> int:
    """Why the call could not start, printed; its exit code."""
    if isinstance(error, DocumentError):
        for diagnostic in error.diagnostics:
            print(shown(diagnostic.render()), file=err)
        return EXIT_DOCUMENT
    print(f"callkernel {command}: {shown(str(error))}", file=err)
    return EXIT_USAGE


def stt_workers(wall_clock: bool) -> int:
    """Worker processes for speech recognition: CALLKERNEL_STT_WORKERS, for a
    call on the wall clock only (on the virtual clock recognition stays on
    the media tick, so a run is the same every time)."""
    if not wall_clock:
        return 0
    try:
        return max(0, min(64, int(os.environ.get("CALLKERNEL_STT_WORKERS", "0"))))
    except ValueError:
        return 0


def run(flow_path: str, script_path: str, *, trace_path: str | None = None,
        real_time: bool = False, as_json: bool = False, llm: str = "scripted",
        model_script: str | None = None, out: TextIO | None = None,
        err: TextIO | None = None, live: bool | None = None, audio: bool = False,
        record: str | None = None, timeline: str | None = None,
        transcribe: bool = False) -> int:
    """`live`: print each line as it happens (default: with `real_time`, not
    with `audio`)."""
    out = out or sys.stdout
    err = err or sys.stderr
    name = source_name(flow_path)
    try:
        script = load_caller_script(read(script_path), script_path)
        provider = model(llm, model_script, flow_path)
    except (UnreadableInput, ModelUnavailable, DocumentError) as error:
        return refused(error, err)
    call_id = str(uuid.uuid4())
    if record is not None and not audio:
        print("callkernel run: --record needs --audio (text media has no audio to record)",
              file=err)
        return EXIT_USAGE
    if transcribe and not audio:
        print("callkernel run: --transcribe needs --audio (text media has no audio to "
              "transcribe)", file=err)
        return EXIT_USAGE
    problem = outputs_problem(record=record, timeline=timeline)
    if problem is not None:
        print(f"callkernel run: {problem}", file=err)
        return EXIT_USAGE
    live = (real_time and not audio) if live is None else live
    view = LiveView(out) if live and not as_json else None

    def sinks(_: str) -> TraceSink:
        assert view is not None
        return LiveTraceSink(view, JsonlTraceSink(trace_path) if trace_path else None)

    async def main() -> tuple[CallRun, CallHost] | int:
        missing = NoModel(flow_path)
        async with CallHost(llm={llm: provider or missing}, default_llm=llm,
                            warnings=err, trace_sinks=sinks if view else None,
                            stt_workers=stt_workers(real_time and audio)) as host:
            try:
                if is_url(flow_path):
                    # The same call id in the fetch and in tool calls: applications
                    # (the SDK's secure functions) tie their tokens to it.
                    info = {"call_id": call_id, **call_details(script)}
                    raw, base = await host.fetch_document(flow_path, info), None
                else:
                    raw, base = read(flow_path), Path(flow_path).resolve().parent
                flow = host.compile(raw, name)
                if provider is None and has_ai(flow):
                    print(f"callkernel run: {missing.warning}", file=err)
                for warning in refused_webhooks(flow, host.destinations):
                    print(f"callkernel run: {warning}", file=err)
                if trace_path:
                    _truncate(trace_path)
            except (UnreadableInput, FlowUnavailable, ModelUnavailable, DocumentError) as error:
                return refused(error, err)
            ran = await run_call(host, flow, script, base=base, call_id=call_id, view=view,
                                 trace_path=None if view else trace_path, audio=audio,
                                 record=record, transcribe=transcribe)
        # Leaving the host delivered the summary: its result is there now.
        return ran, host

    outcome = asyncio.run(main()) if real_time else run_virtual(main)
    if isinstance(outcome, int):
        return outcome
    ran, host = outcome
    heard = ran.caller.agent_heard if transcribe and not isinstance(
        ran.caller, SimulatedCaller) else None
    if as_json:
        report = {"call_id": ran.call.call_id, "disposition": disposition(ran.call),
                  "variables": ran.call.vars,
                  "conversation": [{"t": t, "who": who, "text": text}
                                   for t, who, text in ran.lines()],
                  "deliveries": [dataclasses.asdict(result) for result in _results(host)]}
        if heard is not None:
            from interpreter.transports.hearing_check import report as heard_report

            report["heard"] = heard_report(heard, ran.start)
        json.dump(shown_value(json.loads(json.dumps(report, default=str))), out, indent=2)
        out.write("\n")
    else:
        if view is None:
            print_lines(ran.lines(), out)
        elif view.broken is not None:
            raise view.broken
        if heard is not None:
            from interpreter.transports.hearing_check import summary

            print(summary(heard), file=out)
        print_deliveries(host, out)
    if record is not None:
        print(f"recording: {record} (stereo: caller left, agent right)",
              file=err if as_json else out)
    if timeline is not None:
        try:
            written = ran.draw_timeline(timeline, name)
        except OSError as error:
            print(f"callkernel run: cannot write the timeline to {timeline}: "
                  f"{error.strerror or error}", file=err)
            return EXIT_USAGE
        print(f"timeline: {written}", file=err if as_json else out)
    return EXIT_CALL_FAILED if ended_on_fatal_error(ran.call) else EXIT_OK
