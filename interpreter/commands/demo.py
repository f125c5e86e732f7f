"""`callkernel demo`: the support flow end to end, with its tool served locally.

Starts the demo SWAIG webhook on 127.0.0.1:8765 (where the example flows send
their tools and summaries), runs flows/support.yaml against its caller script
with the scripted model, and prints the conversation and the summary the
webhook received. Runs in virtual time; the webhook answers over real
loopback HTTP.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from aiohttp import web

from interpreter.clock import run_virtual
from interpreter.commands.inputs import UnreadableInput, read
from interpreter.commands.run import conversation, model, run_call
from interpreter.destinations import DestinationPolicy
from interpreter.document.compile import compile_flow
from interpreter.document.loader import load_document
from interpreter.errors import DocumentError
from interpreter.host import CallHost
from interpreter.server.demo_webhook import CALLS, SUMMARIES, build_app
from interpreter.transports.caller_script import load_caller_script

HOST, PORT = "127.0.0.1", 8765


def run(flow_path: str, script_path: str, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        script = load_caller_script(read(script_path), script_path)
        flow, _ = compile_flow(load_document(read(flow_path), flow_path))
        provider = model("scripted", None, flow_path)
    except UnreadableInput as error:
        print(f"callkernel demo: {error}", file=err)
        return 2
    except DocumentError as error:
        for diagnostic in error.diagnostics:
            print(diagnostic.render(), file=err)
        return 1
    app = build_app()

    async def main() -> int:
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            await web.TCPSite(runner, HOST, PORT).start()
        except OSError as error:
            print(f"callkernel demo: cannot listen on {HOST}:{PORT}: {error}", file=err)
            return 2
        try:
            # The demo's webhook listens on loopback: the development switch.
            async with CallHost(llm={"scripted": provider}, warnings=err,
                                destinations=DestinationPolicy(allow_loopback=True)) as host:
                call, caller = await run_call(host, flow, script, base=Path(flow_path).parent,
                                              trace_path=None)
        finally:
            await runner.cleanup()
        for t, who, text in conversation(caller, call):
            print(f"{t:8.2f}  {who:<6}  {text}", file=out)
        print(f"\nwebhook: {len(app[CALLS])} tool call(s) served on http://{HOST}:{PORT}/swaig",
              file=out)
        for summary in app[SUMMARIES]:
            data = summary.get("post_prompt_data") if isinstance(summary, dict) else None
            raw = data.get("raw") if isinstance(data, dict) else None
            print(f"summary delivered to /post_prompt: {json.dumps(raw)}", file=out)
        return 0

    return run_virtual(main)
