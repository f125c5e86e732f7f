"""`callkernel console FLOW`: talk to a flow from the terminal.

The user is the caller: each line typed is said into the call (`/digits`
presses keys, `/hangup` or Ctrl-D hangs up), and the agent's replies are
printed as they happen, in `run --real-time`'s lines, on the wall clock.
With `--audio` the lines are spoken by the embedded TTS into the audio
runtime and heard by VAD, endpointing and the embedded recognizer, exactly as
`run --audio` does; the call is recorded to a stereo WAV.

Input that is not a terminal (a file, a pipe) is a conversation written
ahead: each line goes when the call is quiet, not as it is read
(transports/typed_caller.py says when), and its end hangs up after the
agent's answer to the last line.

Exit codes are `run`'s: 0 the call ended without a fatal error, 1 the flow,
caller script or model rules have errors, 2 usage error or unreadable input,
3 the call ended on a fatal error.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from interpreter.clock import run_virtual
from interpreter.commands.conversation import LiveTraceSink, LiveView
from interpreter.commands.inputs import UnreadableInput, outputs_problem, read
from interpreter.commands.run import (
    EXIT_CALL_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ModelUnavailable,
    NoModel,
    ended_on_fatal_error,
    model,
    print_deliveries,
    refused,
    refused_webhooks,
)
from interpreter.commands.sources import is_url, source_name
from interpreter.errors import DocumentError
from interpreter.flow_parts import has_ai
from interpreter.host import CallHost, FlowUnavailable
from interpreter.limits import INPUT_MAX_BYTES
from interpreter.runtime.call import Call
from interpreter.runtime.trace import JsonlTraceSink, TraceSink
from interpreter.transports.caller_script import CallerScript, call_details, load_caller_script
from interpreter.transports.simulated_network import SimulatedNetwork

if TYPE_CHECKING:
    from interpreter import ir
    from interpreter.transports.typed_caller import (
        Activity,
        TypedAudioCaller,
        TypedLines,
        Typing,
    )

DEFAULT_RECORDING = "console-call.wav"
LINE_MAX_CHARS = 4096  # one typed line; a longer one is said in parts


class ConsoleView(LiveView):
    """`LiveView` of a console call: also feeds the call's activity to the
    typed caller, and (audio) shows what the recognizer made of each line."""

    def __init__(self, out: TextIO, activity: Activity, *, audio: bool) -> None:
        super().__init__(out)
        self.activity = activity
        self.audio = audio

    def record(self, record: dict[str, Any]) -> None:
        self.activity.record(record)
        super().record(record)
        if self.audio and record.get("kind") == "event" and \
                record.get("event") == "TranscriptReceived" and record.get("final"):
            self.emit(float(record.get("t", 0.0)), "call",
                      f"recognized: \"{record.get('text', '')}\"")


def _read_ahead(stdin: TextIO) -> list[str]:
    """All of the input, for a virtual-time call (nothing can be typed during it)."""
    text = stdin.read(INPUT_MAX_BYTES + 1)
    if len(text) > INPUT_MAX_BYTES:
        raise UnreadableInput(f"<stdin>: larger than {INPUT_MAX_BYTES:,} characters")
    return text.splitlines()


def _read_lines(stdin: TextIO, lines: TypedLines, loop: asyncio.AbstractEventLoop) -> None:
    """Feed `lines` from `stdin` in a thread (a terminal read blocks) until it ends.
    A daemon thread: a call that ends while the user has not typed leaves it
    blocked in the read, and the process exits all the same."""

    def read_all() -> None:
        try:
            while line := stdin.readline(LINE_MAX_CHARS):
                loop.call_soon_threadsafe(lines.put, line)
            loop.call_soon_threadsafe(lines.end)
        except (OSError, ValueError, RuntimeError):
            pass  # stdin closed, or the loop is gone: the call is over

    threading.Thread(target=read_all, name="console input", daemon=True).start()


def run(flow_path: str, *, caller_path: str | None = None, trace_path: str | None = None,
        llm: str = "scripted", model_script: str | None = None, audio: bool = False,
        record: str | None = None, no_record: bool = False, stdin: TextIO | None = None,
        out: TextIO | None = None, err: TextIO | None = None,
        interactive: bool | None = None, real_time: bool = True,
        timeline: str | None = None) -> int:
    """`interactive`: lines go as typed (default: when `stdin` is a terminal).
    `real_time=False` runs on the virtual clock with all of `stdin` read
    first: a piped conversation finishes at once (the tests)."""
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    err = err or sys.stderr
    if record is not None and not audio:
        print("callkernel console: --record needs --audio (text media has no audio to record)",
              file=err)
        return EXIT_USAGE
    if audio and not no_record and record is None:
        record = DEFAULT_RECORDING
    if no_record:
        record = None
    problem = outputs_problem(record=record, timeline=timeline)
    if problem is not None:
        print(f"callkernel console: {problem}", file=err)
        return EXIT_USAGE
    if interactive is None:
        interactive = real_time and stdin.isatty()
    try:
        script = load_caller_script(read(caller_path), caller_path) if caller_path \
            else CallerScript(file="<console>")
        provider = model(llm, model_script, flow_path)
        ahead = None if real_time else _read_ahead(stdin)
    except (UnreadableInput, ModelUnavailable, DocumentError) as error:
        return refused(error, err, "console")

    from interpreter.transports.typed_caller import HELP, TypedLines, Typing

    def notice(text: str) -> None:
        print(text, file=err, flush=True)

    async def main() -> tuple[Call, CallHost] | int:
        typed = Typing(TypedLines(ahead or (), ended=ahead is not None), interactive, notice)
        view = ConsoleView(out, typed.activity, audio=audio)

        def sinks(_: str) -> TraceSink:
            return LiveTraceSink(view, JsonlTraceSink(trace_path) if trace_path else None)

        missing = NoModel(flow_path)
        call_id = str(uuid.uuid4())
        async with CallHost(llm={llm: provider or missing}, default_llm=llm, warnings=err,
                            trace_sinks=sinks) as host:
            try:
                if is_url(flow_path):
                    info = {"call_id": call_id, **call_details(script)}
                    raw, base = await host.fetch_document(flow_path, info), None
                else:
                    raw, base = read(flow_path), Path(flow_path).resolve().parent
                flow = host.compile(raw, source_name(flow_path))
                if provider is None and has_ai(flow):
                    print(f"callkernel console: {missing.warning}", file=err)
                for warning in refused_webhooks(flow, host.destinations):
                    print(f"callkernel console: {warning}", file=err)
                if trace_path:
                    open(trace_path, "w", encoding="utf-8").close()  # replaced, not appended
            except OSError as error:
                return refused(UnreadableInput(f"cannot write the trace to {trace_path}: "
                                               f"{error.strerror or error}"), err, "console")
            except (UnreadableInput, FlowUnavailable, DocumentError) as error:
                return refused(error, err, "console")
            if interactive:
                notice(f"console: {source_name(flow_path)}. You are the caller: type a line "
                       "and press Enter.\n" + HELP)
            call = await _talk(host, flow, script, typed, view, call_id=call_id, base=base,
                               audio=audio, record=record, ahead=ahead,
                               stdin=stdin if ahead is None else None)
        if view.broken is not None:
            raise view.broken
        return call, host

    outcome = asyncio.run(main()) if real_time else run_virtual(main)
    if isinstance(outcome, int):
        return outcome
    call, host = outcome
    print_deliveries(host, out)
    if record is not None:
        print(f"callkernel console: the call is recorded in {record} "
              "(caller left, agent right)", file=err)
    if timeline is not None:
        # From the trace alone (matplotlib loads only when a picture is asked for).
        from interpreter.timeline import build_timeline, draw_timeline

        drawn = draw_timeline(build_timeline(call.trace.records, flow=source_name(flow_path)),
                              timeline)
        print(f"callkernel console: timeline: {drawn}", file=err)
    return EXIT_CALL_FAILED if ended_on_fatal_error(call) else EXIT_OK


async def _talk(host: CallHost, flow: ir.CompiledFlow, script: CallerScript, typed: Typing,
                view: ConsoleView, *, call_id: str, base: Path | None, audio: bool,
                record: str | None, ahead: list[str] | None, stdin: TextIO | None) -> Call:
    """Run the call to its end with the typed caller; lines are read from
    `stdin` as they come (None: they were all read ahead)."""
    from interpreter.transports.typed_caller import TypedTextCaller

    caller: TypedTextCaller | TypedAudioCaller
    if audio:
        caller = _audio_caller(flow, script, typed, view, ahead or [], keep=record is not None)
    else:
        caller = TypedTextCaller(script, view, typed)
    view.follow(caller)
    network = SimulatedNetwork.for_script(script)
    loop = asyncio.get_running_loop()
    view.start = loop.time()
    try:
        call = host.start_call(flow, caller, network, call_id=call_id,
                               call_info=call_details(script), base=base)
        if stdin is not None:
            _read_lines(stdin, typed.lines, loop)
        await host.wait(call)
    finally:
        await caller.close()
        await network.close()
        if record is not None and not isinstance(caller, TypedTextCaller):
            caller.record(record)
    return call


def _audio_caller(flow: ir.CompiledFlow, script: CallerScript, typed: Typing,
                  view: ConsoleView, ahead: list[str], *,
                  keep: bool) -> TypedAudioCaller:
    # The speech engines load only for an audio call, as in `run`.
    from interpreter.media.clock import MediaClock
    from interpreter.providers.stt.pocketsphinx import PocketsphinxProvider
    from interpreter.providers.stt.vocabulary import vocabulary_for
    from interpreter.providers.tts.espeak import EspeakTts
    from interpreter.transports.typed_caller import TypedAudioCaller

    # Lines read ahead are known now, as a script's are; a typed line is
    # hinted when it is spoken (HintedStt).
    vocabulary = vocabulary_for(flow).with_hints([line for line in ahead if line.strip()
                                                  and not line.lstrip().startswith("/")])
    return TypedAudioCaller(script, view, typed, clock=MediaClock(), tts=EspeakTts(),
                            stt=PocketsphinxProvider(vocabulary, pool_size=1),
                            keep_audio=keep)
