"""`callkernel demo`: the support flow end to end, with its tool served locally.

Starts the demo SWAIG webhook on 127.0.0.1 (port 8765, where the example
flows send their tools and summaries, unless `--port`), runs the support
flow against its caller script with the scripted model, and prints the
conversation, the tool calls served and the summary the webhook received.
Runs in virtual time; the webhook answers over real loopback HTTP.

The support flow, its caller script and its model rules travel with the
package (a wheel carries flows/ as interpreter/flows/), so the demo runs
from any directory; in a checkout they are read from flows/.

Requests to loopback are allowed (the webhook listens there) whatever
CALLKERNEL_ALLOW_LOOPBACK says.

Exit codes as for `run`: 0, 1 document errors, 2 unreadable input or the
port in use, 3 the call ended on a fatal error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import TextIO

from aiohttp import web

from interpreter.clock import run_virtual
from interpreter.commands.conversation import print_lines
from interpreter.commands.inputs import UnreadableInput, outputs_problem, read
from interpreter.commands.run import (
    EXIT_CALL_FAILED,
    EXIT_DOCUMENT,
    EXIT_OK,
    EXIT_USAGE,
    ended_on_fatal_error,
    run_call,
)
from interpreter.commands.sources import shown
from interpreter.destinations import DestinationPolicy
from interpreter.errors import DocumentError
from interpreter.host import CallHost
from interpreter.jsontypes import JSONValue
from interpreter.providers.llm.base import LlmProvider
from interpreter.providers.llm.scripted import ScriptedProvider, load_rules
from interpreter.server.demo_webhook import CALLS, SUMMARIES, build_app
from interpreter.transports.caller_script import load_caller_script

HOST, PORT = "127.0.0.1", 8765
# Where the example flows send their tools and summaries; --port points it elsewhere.
DEMO_ORIGIN = f"http://{HOST}:{PORT}/"
FLOW, CALLER, MODEL = "support.yaml", "support.caller.yaml", "support.model.yaml"
_CHECKOUT = Path(__file__).resolve().parents[2] / "flows"


def bundled(name: str) -> tuple[str, bytes]:
    """An example file shipped with callkernel: its name to print, its bytes."""
    packaged = resources.files("interpreter").joinpath("flows", name)
    try:
        if packaged.is_file():
            return f"flows/{name}", packaged.read_bytes()
        return f"flows/{name}", (_CHECKOUT / name).read_bytes()
    except OSError as error:
        raise UnreadableInput(f"flows/{name}: {error.strerror or error} (the example flows "
                              "did not come with this installation)") from None


def _inputs(flow_path: str | None, script_path: str | None
            ) -> tuple[tuple[str, bytes], tuple[str, bytes], LlmProvider]:
    """The flow, the caller script and the model: bundled unless given."""
    if flow_path is None:
        flow = bundled(FLOW)
        name, raw = bundled(MODEL)
        rules: LlmProvider = load_rules(raw, name)
    else:
        flow = (flow_path, read(flow_path))
        beside = Path(flow_path).with_suffix(".model.yaml")
        rules = load_rules(read(str(beside)), str(beside)) if beside.is_file() \
            else ScriptedProvider(())
    caller = bundled(CALLER) if script_path is None else (script_path, read(script_path))
    return flow, caller, rules


def summary_text(summary: JSONValue) -> str:
    """The summary a post_prompt receiver got, as the model wrote it: JSON
    text is printed as JSON (compact, unescaped), other text as it is."""
    data = summary.get("post_prompt_data") if isinstance(summary, dict) else None
    raw = data.get("raw") if isinstance(data, dict) else None
    if not isinstance(raw, str):
        return json.dumps(raw, ensure_ascii=False)
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False)
    except ValueError:
        return raw


def refused_input(error: UnreadableInput | DocumentError, err: TextIO) -> int:
    """Say on `err` why a demo's input cannot be used; the exit code."""
    if isinstance(error, UnreadableInput):
        print(f"callkernel demo: {error}", file=err)
        return EXIT_USAGE
    for diagnostic in error.diagnostics:
        print(diagnostic.render(), file=err)
    return EXIT_DOCUMENT


@contextlib.asynccontextmanager
async def listening(app: web.Application, port: int, err: TextIO) -> AsyncIterator[int | None]:
    """`app` served on 127.0.0.1:`port` (0: a free one): the port it got, or
    None once it said on `err` why it cannot listen there."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, HOST, port).start()
        except OSError as error:
            print(f"callkernel demo: cannot listen on {HOST}:{port}: "
                  f"{error.strerror or error} (try --port)", file=err)
            yield None
            return
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


def serve_webhook(out: TextIO | None = None, err: TextIO | None = None, *,
                  port: int = PORT) -> int:
    """`demo --webhook`: the demo webhook alone, until Ctrl-C, for the example
    flows published to `callkernel serve --allow-loopback`."""
    out, err = out or sys.stdout, err or sys.stderr

    async def main() -> int:
        async with listening(build_app(), port, err) as served:
            if served is None:
                return EXIT_USAGE
            print(f"demo webhook: tools at http://{HOST}:{served}/swaig, summaries at "
                  f"http://{HOST}:{served}/post_prompt (the example flows' {DEMO_ORIGIN}); "
                  "Ctrl-C stops it", file=out, flush=True)
            await asyncio.Event().wait()  # until Ctrl-C
        return EXIT_OK

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return EXIT_OK


def run(flow_path: str | None = None, script_path: str | None = None,
        out: TextIO | None = None, err: TextIO | None = None, *, port: int = PORT,
        audio: bool = False, record: str | None = None, timeline: str | None = None,
        transcribe: bool = False) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        (flow_name, flow_raw), (script_name, script_raw), provider = \
            _inputs(flow_path, script_path)
        script = load_caller_script(script_raw, script_name)
    except (UnreadableInput, DocumentError) as error:
        return refused_input(error, err)
    if record is not None and not audio:
        print("callkernel demo: --record needs --audio", file=err)
        return EXIT_USAGE
    if transcribe and not audio:
        print("callkernel demo: --transcribe needs --audio", file=err)
        return EXIT_USAGE
    problem = outputs_problem(record=record, timeline=timeline)
    if problem is not None:
        print(f"callkernel demo: {problem}", file=err)
        return EXIT_USAGE
    app = build_app()

    async def main() -> int:
        async with listening(app, port, err) as served:
            if served is None:
                return EXIT_USAGE
            raw = flow_raw.replace(DEMO_ORIGIN.encode(), f"http://{HOST}:{served}/".encode())
            # The demo's webhook listens on loopback: requests may go there
            # (the rest of the destination policy is the environment's).
            policy = dataclasses.replace(DestinationPolicy.from_env(), allow_loopback=True)
            async with CallHost(llm={"scripted": provider}, warnings=err,
                                destinations=policy) as host:
                try:
                    flow = host.compile(raw, flow_name)
                except DocumentError as error:
                    return refused_input(error, err)
                base = Path(flow_path).resolve().parent if flow_path else None
                ran = await run_call(host, flow, script, base=base, audio=audio,
                                     record=record, transcribe=transcribe)
        print_lines(ran.lines(), out)
        if transcribe:
            from interpreter.transports.hearing_check import summary as heard_summary

            print(heard_summary(ran.caller.agent_heard), file=out)  # type: ignore[union-attr]
        print(f"\nwebhook: {len(app[CALLS])} tool call(s) served on "
              f"http://{HOST}:{served}/swaig", file=out)
        for summary in app[SUMMARIES]:
            print(shown(f"summary delivered to /post_prompt: {summary_text(summary)}"),
                  file=out)
        if record is not None:
            print(f"recording: {record} (stereo: caller left, agent right)", file=out)
        if timeline is not None:
            try:
                print(f"timeline: {ran.draw_timeline(timeline, flow_name)}", file=out)
            except OSError as error:
                print(f"callkernel demo: cannot write the timeline to {timeline}: "
                      f"{error.strerror or error}", file=err)
                return EXIT_USAGE
        return EXIT_CALL_FAILED if ended_on_fatal_error(ran.call) else EXIT_OK

    return run_virtual(main)
