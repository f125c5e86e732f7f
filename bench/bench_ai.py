"""ai calls: per-turn orchestration overhead and tool round-trip overhead.

N concurrent ai calls in real time against an instant scripted model (no
delay between words) and an instant local SWAIG webhook on loopback. Per
turn: the caller's final transcript → the first sentence handed to speech.
Per tool call: the tool effect started → its reply applied. Both are pure
orchestration cost, since the model and the webhook take no time.

Run through `bench/bench_kernel.py --ai` (or directly). Writes the
`bench_ai` section of docs/performance.md.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

from bench.report import write_section
from interpreter.document.compile import compile_text
from interpreter.providers.llm.scripted import load_rules
from interpreter.runtime.ai.loop import runner
from interpreter.runtime.call import Call
from interpreter.server.demo_webhook import build_app
from interpreter.transports.caller_script import load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

PORT = 18790
STAGGER_SECONDS = 2.0
FLOW = f"""\
sections:
  main:
    - answer: {{}}
    - ai:
        prompt: {{text: You check orders.}}
        params: {{wait_for_user: true}}
        SWAIG:
          defaults: {{web_hook_url: "http://127.0.0.1:{PORT}/swaig"}}
          functions:
            - function: check_order
              description: Check an order.
              parameters: {{type: object, properties: {{order_id: {{type: string}}}}}}
    - hangup: {{}}
"""
RULES = """\
rules:
  - when: {said: "order (?P<id>\\\\w+)"}
    call: {function: check_order, arguments: {order_id: "{id}"}}
    delay_ms: 0.001
  - when: {after_tool: check_order}
    reply: "{tool}. Anything else?"
    delay_ms: 0.001
  - reply: "Sure. What is your order number?"
    delay_ms: 0.001
"""
CALLER = """\
pause: 0.2
steps:
  - say: "hello"
  - say: "order A123"
  - say: "thanks"
  - say: "order B456"
  - hangup: {after: 3}
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


async def run_calls(count: int) -> tuple[list[float], list[float], int]:
    flow = compile_text(FLOW, "bench_ai.yaml")
    script = load_caller_script(CALLER, "bench_ai.caller.yaml")
    site_runner = web.AppRunner(build_app())
    await site_runner.setup()
    await web.TCPSite(site_runner, "127.0.0.1", PORT).start()
    turns: list[float] = []
    tools: list[float] = []

    async def one(index: int) -> str:
        # Calls arrive spread over two seconds, as real traffic does, rather
        # than every caller speaking in the same millisecond.
        await asyncio.sleep(STAGGER_SECONDS * index / count)
        caller = SimulatedCaller(script)
        network = SimulatedNetwork.for_script(script)
        call = Call(flow, caller, network, ai_runner=runner(load_rules(RULES)))
        result = await call.run()
        await caller.close()
        await network.close()
        heard_at: float | None = None
        for record in call.trace.records:
            kind, t = record["kind"], float(record["t"])
            if kind == "event" and record.get("event") == "TranscriptReceived":
                heard_at = t
            elif kind == "effect_started" and record.get("effect") == "tool":
                heard_at = None  # a turn with a tool call: counted as a tool round trip
            elif kind == "say" and heard_at is not None:
                turns.append(t - heard_at)
                heard_at = None
            elif kind == "tool_returned":
                tools.append(float(record["seconds"]))
        return result.disposition

    try:
        dispositions = await asyncio.gather(*(one(index) for index in range(count)))
    finally:
        await site_runner.cleanup()
    return turns, tools, sum(1 for d in dispositions if d == "caller_hangup")


def main(counts: tuple[int, ...] = (100, 1000), write: bool = True) -> str:
    rows = []
    for count in counts:
        turns, tools, completed = asyncio.run(run_calls(count))
        rows.append((count, completed, turns, tools))
        print(f"N={count}: turn p50 {percentile(turns, .5) * 1000:.2f} ms, p99 "
              f"{percentile(turns, .99) * 1000:.2f} ms; tool p50 "
              f"{percentile(tools, .5) * 1000:.2f} ms, p99 {percentile(tools, .99) * 1000:.2f} ms")
    table = "".join(
        f"| {n} | {done}/{n} | {len(t)} | {percentile(t, .5) * 1000:.2f} | "
        f"{percentile(t, .99) * 1000:.2f} | {len(k)} | {percentile(k, .5) * 1000:.2f} | "
        f"{percentile(k, .99) * 1000:.2f} |\n" for n, done, t, k in rows)
    report = (
        "## ai calls (`bench/bench_ai.py`)\n\n"
        f"{datetime.date.today()}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, one process, real time. Instant scripted model, instant "
        "local SWAIG webhook on loopback. Turn = caller's final transcript → first sentence "
        "handed to speech, for turns without a tool call; tool = tool effect started → reply "
        "received (includes the HTTP round trip on loopback). Calls start spread over "
        f"{STAGGER_SECONDS:.0f} s; each caller, the webhook and the calls share one process "
        "and one core.\n\n"
        "| calls | completed | turns | turn p50 ms | turn p99 ms | tool calls | tool p50 ms "
        "| tool p99 ms |\n|---|---|---|---|---|---|---|---|\n" + table +
        "\nTarget (DESIGN.md): turn p50 < 2 ms, p99 < 10 ms at 500 concurrent calls.\n")
    print(report)
    if write:
        write_section("bench_ai", report)
    return report


if __name__ == "__main__":
    main(write="--no-write" not in sys.argv)
