"""ai calls: per-turn orchestration overhead and tool round-trip overhead.

N concurrent ai calls in real time against an instant scripted model (its
words stream one loop pass apart: a 1 µs sleep between words) and an instant
SWAIG webhook on loopback, served by a separate process so the calls' process
pays only for its own side of each request. Measured:

- turn: the caller's final transcript posted to the call → the first sentence
  handed to speech (`CallerChannel.play`), for turns without a tool call. This
  includes waiting for the actor to take the transcript out of its inbox.
- tool: the tool effect started → its reply taken by the actor (the runtime's
  `tool_returned.seconds`), including the HTTP round trip on loopback.
- loop lag: how late a 10 ms ticker task in the calls' process wakes up. It is
  the time any ready callback waits behind the others: the part of turn and
  tool times that is queueing behind other calls rather than this call's work.

The model and webhook take no time, so turn and tool are orchestration cost.
Every call follows the same script; calls start evenly spread over one turn
cycle of that script (STAGGER_SECONDS) so their turns are spread evenly in
phase, instead of all callers speaking in the same instant (the peak number
of caller turns in any one second is printed). The simulated callers run in
the calls' process: they are its transport.

Usage: python bench/bench_ai.py [--calls 100 500 1000] [--stagger 4] [--no-write]
(or python bench/bench_kernel.py --ai ...)
Writes the `bench_ai` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import gc
import multiprocessing
import os
import platform
import resource
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

from bench.report import write_section
from interpreter.destinations import DestinationPolicy
from interpreter.document.compile import compile_text
from interpreter.host import CallHost, tune_gc_for_calls
from interpreter.media.ports import Utterance
from interpreter.providers.llm.scripted import ScriptedProvider, load_rules
from interpreter.runtime import events as ev
from interpreter.runtime.call import Call
from interpreter.server.demo_webhook import build_app
from interpreter.transports.caller_script import CallerScript, load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

COUNTS = (100, 500, 1000)
# The comparison row: this many calls with CPython's default collector.
DEFAULT_GC_COUNT = 1000
DEFAULT_GC_THRESHOLDS = (700, 10, 10)
# One turn cycle of CALLER: the caller's words and endpointing (0.65-1.0 s),
# the agent's reply played (2.4-3.2 s) and the caller's pause (0.2 s) come to
# 3.6-4.1 s. Starting calls evenly over one cycle spreads every step's turns
# evenly in time: N calls offer about N / 4 caller turns (half of them with a
# tool call) per second; where one step's turns overlap the next's, the
# busiest second sees up to about 1.6 x N / 4. A shorter spread would make all
# N callers speak within it, a burst repeated at every step of the identical
# scripts; a longer one would leave fewer calls up at once.
STAGGER_SECONDS = 4.0
LAG_TICK = 0.010  # the loop-lag ticker's period
RUN_LIMIT = 120.0  # seconds one N may take before the run is abandoned
SERVER_LIFETIME = 900.0  # the webhook process exits on its own after this
SERVER_START = 30.0  # seconds to wait for the webhook process to listen


def flow_text(port: int) -> str:
    return f"""\
sections:
  main:
    - answer: {{}}
    - ai:
        prompt: {{text: You check orders.}}
        params: {{wait_for_user: true}}
        SWAIG:
          defaults: {{web_hook_url: "http://127.0.0.1:{port}/swaig"}}
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
# The agent waits for the caller (wait_for_user), so the caller speaks first,
# half a second in; after that it answers each of the agent's turns.
CALLER = """\
pause: 0.2
steps:
  - say: "hello"
    at: 0.5
  - say: "order A123"
  - say: "thanks"
  - say: "order B456"
  - hangup: {after: 3}
"""


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


# ------------------------------------------------------------------ webhook process


def _serve_webhook(conn: Connection) -> None:
    """The webhook process: demo_webhook's app on 127.0.0.1 (a free port, sent
    back on `conn`) until the parent says stop, closes the pipe, or
    SERVER_LIFETIME passes; then its CPU seconds are sent back."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)

    async def serve() -> None:
        site_runner = web.AppRunner(build_app(), access_log=None)
        await site_runner.setup()
        await web.SockSite(site_runner, listener, backlog=4096).start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_reader(conn.fileno(), stop.set)
        conn.send(listener.getsockname()[1])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SERVER_LIFETIME)
        loop.remove_reader(conn.fileno())
        await site_runner.cleanup()

    asyncio.run(serve())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with contextlib.suppress(OSError):  # the parent is gone
        conn.send(usage.ru_utime + usage.ru_stime)


class WebhookProcess:
    """The webhook server in its own process (spawned, so it shares nothing
    with the calls' event loop), bound to 127.0.0.1."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_webhook, args=(child,),
                                        name="bench_ai webhook", daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(SERVER_START):
            self.stop()
            raise RuntimeError("the webhook process did not start listening")
        self.port: int = self._conn.recv()

    def stop(self) -> float | None:
        """Stop the process (bounded in time); its CPU seconds if it reported them."""
        cpu: float | None = None
        try:
            self._conn.send("stop")
            if self._conn.poll(10):
                cpu = float(self._conn.recv())
        except (BrokenPipeError, EOFError, OSError):
            pass
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(2)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()
        return cpu


# ------------------------------------------------------------------ the calls


class TimedCaller(SimulatedCaller):
    """A simulated caller that notes when each playout was handed to it."""

    def __init__(self, script: CallerScript) -> None:
        super().__init__(script)
        self.played_at: dict[int, float] = {}

    def play(self, playout_id: int, items: Sequence[Utterance]) -> None:
        self.played_at.setdefault(playout_id, asyncio.get_running_loop().time())
        super().play(playout_id, items)


class TimedCall(Call):
    """A call that notes when each final caller transcript was posted."""

    heard_at: list[float]

    def post(self, event: ev.Event) -> None:
        if isinstance(event, ev.TranscriptReceived) and event.final:
            self.heard_at.append(self.now())
        super().post(event)


@dataclass
class Run:
    count: int
    completed: int = 0
    turns: list[float] = field(default_factory=list)
    tools: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    gc_pauses: list[tuple[int, float]] = field(default_factory=list)  # (generation, seconds)
    tuned_gc: bool = True
    peak_calls: int = 0
    heard: list[float] = field(default_factory=list)  # when each caller turn was posted
    wall: float = 0.0
    cpu: float = 0.0  # the calls' process
    webhook_cpu: float | None = None
    tool_failures: list[str] = field(default_factory=list)


def collect(call: TimedCall, caller: TimedCaller, run: Run) -> None:
    """Turn and tool samples from one finished call's trace."""
    run.heard.extend(call.heard_at)
    heard = iter(call.heard_at)
    heard_at: float | None = None
    for record in call.trace.records:
        kind = record["kind"]
        if kind == "event" and record.get("event") == "TranscriptReceived" \
                and record.get("final", True):
            heard_at = next(heard, None)
        elif kind == "effect_started" and record.get("effect") == "tool":
            heard_at = None  # a turn with a tool call: counted as a tool round trip
        elif kind == "say" and heard_at is not None:
            played = caller.played_at.get(int(record["playout"]))
            if played is not None:
                run.turns.append(played - heard_at)
            heard_at = None
        elif kind == "tool_returned":
            run.tools.append(float(record["seconds"]))
        elif kind == "tool_failed":
            run.tool_failures.append(str(record.get("message")))


async def run_calls(count: int, port: int, stagger: float) -> Run:
    flow = compile_text(flow_text(port), "bench_ai.yaml")
    script = load_caller_script(CALLER, "bench_ai.caller.yaml")
    # Parsed once; each call gets its own provider (its own counts) over them.
    rules = load_rules(RULES, "bench_ai.rules.yaml").rules
    loop = asyncio.get_running_loop()
    run = Run(count)
    live = 0
    # A call host as a server has one: its one HTTP client is shared by all
    # its calls (pooled connections, no cookies carried between calls).
    # The webhook process listens on loopback: the destination policy's
    # development switch, as for the demo.
    host = CallHost(call_type=TimedCall, destinations=DestinationPolicy(allow_loopback=True))
    await host.__aenter__()

    async def one(index: int) -> str:
        nonlocal live
        await asyncio.sleep(stagger * index / count)
        caller = TimedCaller(script)
        network = SimulatedNetwork.for_script(script)
        call = host.start_call(flow, caller, network, llm=ScriptedProvider(rules))
        assert isinstance(call, TimedCall)
        call.heard_at = []
        live += 1
        run.peak_calls = max(run.peak_calls, live)
        try:
            await host.wait(call)
        finally:
            live -= 1
        await caller.close()
        await network.close()
        collect(call, caller, run)
        return str(call.trace.of_kind("call_ended")[0]["disposition"])

    async def ticker() -> None:
        due = loop.time() + LAG_TICK
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            now = loop.time()
            run.lags.append(max(0.0, now - due))
            due = now + LAG_TICK

    gc_started = 0.0

    def on_gc(phase: str, info: dict[str, int]) -> None:
        nonlocal gc_started
        if phase == "start":
            gc_started = time.perf_counter()
        else:
            run.gc_pauses.append((info["generation"], time.perf_counter() - gc_started))

    lag_task = loop.create_task(ticker())
    gc.callbacks.append(on_gc)
    cpu, wall = time.process_time(), loop.time()
    try:
        dispositions = await asyncio.wait_for(
            asyncio.gather(*(one(index) for index in range(count))), RUN_LIMIT)
    finally:
        run.cpu, run.wall = time.process_time() - cpu, loop.time() - wall
        gc.callbacks.remove(on_gc)
        lag_task.cancel()
        await host.close()
    run.completed = sum(1 for d in dispositions if d == "caller_hangup")
    if run.tool_failures or not run.tools:
        # Figures of calls whose tools failed measure nothing: say so, loudly.
        raise SystemExit(f"bench_ai: {len(run.tool_failures)} tool calls failed "
                         f"(first: {run.tool_failures[:1]}); no figures written")
    return run


def measure(count: int, stagger: float, tuned_gc: bool = True) -> Run:
    """One run of `count` calls; `tuned_gc`: the process set up as a call host
    (interpreter/host.py), else CPython's default collector."""
    if tuned_gc:
        tune_gc_for_calls()
    else:
        gc.unfreeze()
        gc.set_threshold(*DEFAULT_GC_THRESHOLDS)
    server = WebhookProcess()
    try:
        run = asyncio.run(run_calls(count, server.port, stagger))
        run.tuned_gc = tuned_gc
    finally:
        webhook_cpu = server.stop()
    run.webhook_cpu = webhook_cpu
    return run


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def peak_rate(times: Sequence[float], window: float = 1.0) -> int:
    """The most events in any `window` seconds."""
    ordered, start, best = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def longest_gc(run: Run) -> float:
    return max((pause for _, pause in run.gc_pauses), default=0.0)


def full_collections(run: Run) -> int:
    return sum(1 for generation, _ in run.gc_pauses if generation == 2)


def summary(run: Run) -> str:
    return (f"N={run.count}: {run.completed}/{run.count} completed, peak {run.peak_calls} "
            f"calls up, peak {peak_rate(run.heard)} caller turns in a second; turn p50 "
            f"{ms(percentile(run.turns, .5))} ms, p99 "
            f"{ms(percentile(run.turns, .99))} ms; tool p50 {ms(percentile(run.tools, .5))} ms, "
            f"p99 {ms(percentile(run.tools, .99))} ms; loop lag p50 "
            f"{ms(percentile(run.lags, .5))} ms, p99 {ms(percentile(run.lags, .99))} ms, max "
            f"{ms(max(run.lags, default=0.0))} ms; calls' process CPU {run.cpu:.1f} s in "
            f"{run.wall:.1f} s ({run.cpu / run.wall:.0%}); GC {len(run.gc_pauses)} collections "
            f"({full_collections(run)} full), {sum(p for _, p in run.gc_pauses):.2f} s, longest "
            f"{ms(longest_gc(run))} ms; webhook process CPU "
            + (f"{run.webhook_cpu:.1f} s" if run.webhook_cpu is not None else "?"))


def verdict(runs: Sequence[Run]) -> str:
    at_500 = next((r for r in runs if r.count == 500 and r.tuned_gc), None)
    if at_500 is None:
        return "not measured in this run."
    p50, p99 = percentile(at_500.turns, .5), percentile(at_500.turns, .99)
    met = p50 < 0.002 and p99 < 0.010
    return f"{'meets' if met else 'misses'} (p50 {ms(p50)} ms, p99 {ms(p99)} ms)."


def main(counts: Sequence[int] = COUNTS, stagger: float = STAGGER_SECONDS,
         write: bool = True) -> str:
    runs = []
    for count, tuned in [*((n, True) for n in counts), (DEFAULT_GC_COUNT, False)]:
        run = measure(count, stagger, tuned)
        runs.append(run)
        print(("" if tuned else "default GC: ") + summary(run), flush=True)
    table = "".join(
        f"| {r.count}{'' if r.tuned_gc else ' (default GC)'} | {r.completed}/{r.count} "
        f"| {peak_rate(r.heard)} | {len(r.turns)} "
        f"| {ms(percentile(r.turns, .5))} "
        f"| {ms(percentile(r.turns, .99))} | {len(r.tools)} | {ms(percentile(r.tools, .5))} "
        f"| {ms(percentile(r.tools, .99))} | {ms(percentile(r.lags, .99))} "
        f"| {ms(max(r.lags, default=0.0))} | {ms(longest_gc(r))} | {r.cpu / r.wall:.0%} |\n"
        for r in runs)
    report = (
        "## ai calls (`bench/bench_ai.py`)\n\n"
        f"{datetime.date.today()}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, real time. Instant scripted model (words one loop pass "
        "apart); instant SWAIG webhook "
        "(demo_webhook) on loopback in a separate process, so the calls' process pays only "
        "the client side of each request. The calls and their simulated callers share one "
        "process and one event loop. Every call runs the same script (two plain turns and "
        "two tool turns); calls start evenly spread over "
        f"{stagger:g} s, one turn cycle of that script, so N calls offer about "
        f"N / {stagger:g} caller turns per second, spread evenly (the busiest second's count "
        "is shown), and all N are up at once for most of the run.\n\n"
        "Turn = the caller's final transcript posted to the call → the first sentence handed "
        "to speech, for turns without a tool call (includes the wait in the call's inbox). "
        "Tool = tool effect started → reply taken by the call (includes the HTTP round trip). "
        f"Loop lag = how late a {LAG_TICK * 1000:.0f} ms ticker in the calls' process wakes: "
        "queueing behind other calls, not this call's own work; its max is usually a full "
        "garbage collection, whose longest pause is shown (p99 and max at high N move from run "
        "to run with where those pauses land). CPU = the calls' process's CPU time over the "
        "run's wall time.\n\n"
        "The calls' process is set up as a call host (`interpreter/host.py`): startup "
        "objects frozen out of the collector's sight and full collections made rare, which "
        "finished calls do not need since they leave no reference cycles; the calls share "
        "one HTTP client. The last row is the same load with CPython's default collector, "
        "for comparison in the same run.\n\n"
        "| calls | completed | caller turns/s (busiest s) | turns | turn p50 ms | turn p99 ms "
        "| tool calls | tool p50 ms | tool p99 ms | loop lag p99 ms | loop lag max ms "
        "| longest GC ms | CPU |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        + table +
        "\nTarget ([above](#targets)): turn p50 < 2 ms, p99 < 10 ms at 500 concurrent calls: "
        + verdict(runs) + "\n")
    print(report)
    if write:
        write_section("bench_ai", report)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=list(COUNTS))
    parser.add_argument("--stagger", type=float, default=STAGGER_SECONDS,
                        help="seconds over which the calls start (default: one turn cycle)")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    main(options.calls, options.stagger, write=not options.no_write)
