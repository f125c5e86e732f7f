"""Response time with the embedded engines: from the end of the caller's
speech to the agent's first audible frame, on the wall clock, split into the
endpoint wait plus recognition (the last caller frame → the final transcript)
and the rest (final transcript → model → TTS → first frame out).

One run of the bundled support demo (`callkernel demo --audio`) in real
time: its webhook on loopback, the scripted model (instant, so the figures
are the runtime's and the embedded engines'), eSpeak, webrtcvad,
endpointing with the document's end_of_speech_timeout, pocketsphinx. Turns
the caller barged into are left out (their response starts before the
speech ends). Target (issue 10): at most end_of_speech_timeout + 150 ms.

Usage: python bench/bench_response.py [--no-write]   (about 40 s)
Writes the `bench_response` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import platform
import statistics
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from interpreter.commands import demo
from interpreter.commands.run import run_call
from interpreter.destinations import DestinationPolicy
from interpreter.host import CallHost
from interpreter.media.ports import ListenSettings
from interpreter.providers.llm.scripted import load_rules
from interpreter.server.demo_webhook import build_app
from interpreter.transports.caller_script import load_caller_script


async def _turns() -> list[tuple[str, float, float]]:
    """(caller line, end of speech → final transcript, final → first agent frame)."""
    (flow_name, flow_raw), (script_name, script_raw) = demo.bundled(demo.FLOW), \
        demo.bundled(demo.CALLER)
    rules = load_rules(*reversed(demo.bundled(demo.MODEL)))
    rules.default_delay_ms = 0.0  # an instant model: the figures are the runtime's
    script = load_caller_script(script_raw, script_name)
    runner = web.AppRunner(build_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = int(runner.addresses[0][1])
    raw = flow_raw.replace(demo.DEMO_ORIGIN.encode(), f"http://127.0.0.1:{port}/".encode())
    policy = dataclasses.replace(DestinationPolicy.from_env(), allow_loopback=True)
    try:
        async with CallHost(llm={"scripted": rules}, destinations=policy) as host:
            ran = await run_call(host, host.compile(raw, flow_name), script, base=None,
                                 audio=True)
    finally:
        await runner.cleanup()
    finals = [ran.start + float(r["t"]) for r in ran.call.trace.records
              if r.get("event") == "TranscriptReceived" and r.get("final")]
    agent_starts = sorted(line.start for line in ran.caller.heard)
    cut = {line.end for line in ran.caller.heard if line.cut_off}
    turns = []
    for action in ran.caller.said:
        if action.kind != "say":
            continue
        final = next((t for t in finals if t >= action.end), None)
        first = next((t for t in agent_starts if final is not None and t >= final), None)
        barged = any(action.start <= end <= action.end for end in cut)
        if final is not None and first is not None and not barged:
            turns.append((action.value, final - action.end, first - final))
    return turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    turns = asyncio.run(_turns())
    end_of_speech = ListenSettings().end_of_speech_ms
    rows = [f"| {text} | {1000 * heard:.0f} | {1000 * answer:.0f} | "
            f"{1000 * (heard + answer):.0f} |" for text, heard, answer in turns]
    totals = [1000 * (heard + answer) for _, heard, answer in turns]
    body = "\n".join([
        "## Response time with the embedded engines (bench/bench_response.py)",
        "",
        f"{datetime.date.today()}, {platform.machine()}, Python {platform.python_version()}; "
        "the audio support demo on the wall clock, scripted model; "
        f"end_of_speech_timeout {end_of_speech} ms.",
        "",
        "| caller said | end of speech → final transcript (ms) "
        "| final → first agent frame (ms) | total (ms) |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Total p50 {statistics.median(totals):.0f} ms, max {max(totals):.0f} ms; target "
        f"≤ {end_of_speech + 150} ms (end_of_speech_timeout + 150 ms).",
    ])
    print(body)
    if not args.no_write:
        write_section("bench_response", body)


if __name__ == "__main__":
    main()
