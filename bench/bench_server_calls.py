"""Calls through the server: starts per second, REST latency under calls, and
the calls' turn latency under REST load.

`callkernel serve` runs as a subprocess on 127.0.0.1 (bench/server_process.py);
this process is the client and runs the calls' loopback webhook and summary
receiver (bench/soak.py's fault servers, with no fault). The flow is the
soak's (bench/data/soak_flow.yaml: an ai agent, a webhook tool, a summary).

1. Starts: POST /v1/calls over `--connections` keep-alive connections for
   `--start-seconds`; calls started per second and the POST's p50/p99. Each
   start parses the caller script and the model's rules, records the call in
   the store (a SQLite write) and starts it on the host. Those calls run to
   their end before the next phase.
2. REST with no call live: GET /v1/flows and GET /v1/calls/{id} over the same
   connections, p50/p99: the reference.
3. `--calls` calls kept live (spread over 10 s, then a settling pause). Their
   callers talk in turns: "hello there", a pause, again, each answered by the
   scripted model ("Sorry?", 30 ms to its first word).
   a. REST idle for `--phase-seconds` (only the client's twice-a-second
      listing of live calls);
   b. REST under load for `--phase-seconds`: the same GETs as in 2, as fast as
      the connections go, while the calls run; p50/p99.
   The calls are then hung up over REST and their traces read. A turn's
   latency is its trace's `audio_latency_s` (the caller's final words to the
   agent's first sentence handed to speech); `eos_to_request_s` is the
   runtime's own part (final words to the model request). Turns are placed in
   phase a or b by when they happened (the call's start + the record's `t`).
   The ratio of the p99s says whether the calls noticed the REST load.

Usage: python bench/bench_server_calls.py [--calls 500] [--connections 16]
       [--start-seconds 5] [--phase-seconds 15] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from bench.server_process import Server, cpu_seconds, rss_mb, running_server
from bench.soak import FLOW, Driver, FaultServers, Started

RAMP_S = 10.0
SETTLE_S = 3.0
TALK_TURNS = 40  # more than any phase needs: the calls are hung up at the end
TALK_PAUSE_S = 3.0  # silence between the caller's lines


def talking_caller(_fault: str | None, _hold_s: float) -> str:
    """A caller that says a line, waits, and again: a turn every few seconds."""
    steps = "".join(f'  - say: "hello there"\n  - wait: {TALK_PAUSE_S}\n'
                    for _ in range(TALK_TURNS))
    return f'from: "+15551230000"\npause: 0.3\nlinger: 5\nsteps:\n{steps}  - hangup: {{}}\n'


@dataclass(frozen=True, slots=True)
class Latencies:
    what: str
    values_ms: tuple[float, ...]
    seconds: float

    @property
    def per_second(self) -> float:
        return len(self.values_ms) / self.seconds if self.seconds else 0.0

    def pct(self, pct: int) -> float:
        if len(self.values_ms) < 2:
            return self.values_ms[0] if self.values_ms else float("nan")
        return statistics.quantiles(self.values_ms, n=100, method="inclusive")[pct - 1]


def one_line_caller(_fault: str | None, _hold_s: float) -> str:
    """A caller that says one line and hangs up: the start phase's calls."""
    return 'pause: 0.2\nsteps:\n  - say: "bye"\n  - hangup: {}\n'


class Bench:
    def __init__(self, session: aiohttp.ClientSession, server: Server,
                 connections: int) -> None:
        self.server = server
        self.session = session
        self.connections = connections
        self.driver = Driver(session, server, random.Random(7), 0.0, script=talking_caller,
                             in_flight=connections)

    async def starts(self, seconds: float) -> Latencies:
        """POST /v1/calls as fast as `connections` go, for `seconds`."""
        latencies: list[float] = []
        end = time.monotonic() + seconds
        short = Driver(self.session, self.server, random.Random(5), 0.0,
                       script=one_line_caller, in_flight=self.connections)

        async def worker() -> None:
            while time.monotonic() < end:
                began = time.perf_counter()
                await short.start(None)
                latencies.append((time.perf_counter() - began) * 1000)

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(self.connections)))
        elapsed = time.monotonic() - began
        if short.start_failures:
            raise RuntimeError(f"starts refused: {short.start_failures[:3]}")
        await short.wait_all_ended(120.0)
        return Latencies("POST /v1/calls (start a call)", tuple(latencies), elapsed)

    async def gets(self, seconds: float, call_ids: list[str]) -> list[Latencies]:
        """GET /v1/flows and GET /v1/calls/{id}, alternating, on every connection."""
        flows: list[float] = []
        calls: list[float] = []
        end = time.monotonic() + seconds
        rng = random.Random(3)

        async def worker(index: int) -> None:
            count = index
            while time.monotonic() < end:
                count += 1
                path, into = ("/v1/flows", flows) if count % 2 else \
                    (f"/v1/calls/{rng.choice(call_ids)}", calls)
                began = time.perf_counter()
                async with self.session.get(f"{self.server.url}{path}",
                                            headers=self.server.auth) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"GET {path}: {response.status}")
                into.append((time.perf_counter() - began) * 1000)

        began = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(self.connections)))
        elapsed = time.monotonic() - began
        return [Latencies("GET /v1/flows", tuple(flows), elapsed),
                Latencies("GET /v1/calls/{id}", tuple(calls), elapsed)]

    async def hang_up(self, calls: list[Started]) -> None:
        limit = asyncio.Semaphore(self.connections)

        async def one(call: Started) -> None:
            async with limit, self.session.post(
                    f"{self.server.url}/v1/calls/{call.call_id}/hangup",
                    headers=self.server.auth) as response:
                await response.read()  # 202, or 409 for one that ended already

        await asyncio.gather(*(one(c) for c in calls))


@dataclass(frozen=True, slots=True)
class Figures:
    starts: Latencies
    rest_idle: list[Latencies]
    rest_loaded: list[Latencies]
    turns_idle: Latencies
    turns_loaded: Latencies
    eos_idle: Latencies
    eos_loaded: Latencies
    live_calls: int
    server_cpu_idle: float
    server_cpu_loaded: float
    rss_mb: float


def _turns(found: dict[str, tuple[Any, list[dict[str, Any]]]], calls: list[Started],
           window: tuple[float, float], field: str) -> tuple[float, ...]:
    start = {c.call_id: c.started_at for c in calls}
    values = []
    for call_id, (_, trace) in found.items():
        for record in trace:
            if record.get("kind") != "turn" or record.get(field) is None \
                    or record.get("tool_calls") or record.get("eos_to_request_s") is None:
                continue
            at = start[call_id] + float(record["t"])
            if window[0] <= at < window[1]:
                values.append(float(record[field]) * 1000)
    return tuple(values)


async def run(server: Server, calls: int, connections: int, start_seconds: float,
              phase_seconds: float) -> Figures:
    faults = FaultServers(down=False)
    runner = web.AppRunner(faults.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    faults.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        connector = aiohttp.TCPConnector(limit=connections + 8)
        async with aiohttp.ClientSession(connector=connector) as session:
            bench = Bench(session, server, connections)
            await bench.driver.publish("soak", FLOW.read_text().replace(
                "WEBHOOK_URL", faults.url + "/swaig").replace("SUMMARY_URL",
                                                              faults.url + "/summary"))
            starts = await bench.starts(start_seconds)
            ids = [c.call_id for c in bench.driver.calls] or \
                [c["call_id"] for c in (await bench.driver.read("/v1/calls"))["calls"]]
            rest_idle = await bench.gets(min(5.0, phase_seconds), ids)
            return await _under_calls(bench, calls, phase_seconds, starts, rest_idle)
    finally:
        await runner.cleanup()


async def _under_calls(bench: Bench, calls: int, phase_seconds: float, starts: Latencies,
                       rest_idle: list[Latencies]) -> Figures:
    driver, pid = bench.driver, bench.server.pid
    keeping = asyncio.create_task(driver.keep_live(
        calls, RAMP_S + SETTLE_S + 2 * phase_seconds + 1, [None], RAMP_S, []))
    await asyncio.sleep(RAMP_S + SETTLE_S)
    live, _ = await driver.live_ids()
    idle_window = (time.monotonic(), time.monotonic() + phase_seconds)
    cpu = cpu_seconds(pid)
    await asyncio.sleep(phase_seconds)
    cpu_idle = (cpu_seconds(pid) - cpu) / phase_seconds
    ids = sorted(live)
    loaded_began = time.monotonic()
    cpu = cpu_seconds(pid)
    rest_loaded = await bench.gets(phase_seconds, ids)
    cpu_loaded = (cpu_seconds(pid) - cpu) / (time.monotonic() - loaded_began)
    loaded_window = (loaded_began, time.monotonic())
    memory = rss_mb(pid)
    await keeping
    await bench.hang_up(driver.calls)
    still = await driver.wait_all_ended(120.0)
    if still:
        raise RuntimeError(f"{len(still)} calls still live after their hangup")
    found = await driver.records(driver.calls)
    return Figures(
        starts, rest_idle, rest_loaded,
        Latencies("turn, REST idle", _turns(found, driver.calls, idle_window,
                                            "audio_latency_s"), phase_seconds),
        Latencies("turn, REST loaded", _turns(found, driver.calls, loaded_window,
                                              "audio_latency_s"), phase_seconds),
        Latencies("eos→request, REST idle", _turns(found, driver.calls, idle_window,
                                                   "eos_to_request_s"), phase_seconds),
        Latencies("eos→request, REST loaded", _turns(found, driver.calls, loaded_window,
                                                     "eos_to_request_s"), phase_seconds),
        len(live), cpu_idle, cpu_loaded, memory)


def render(f: Figures, connections: int, phase_seconds: float) -> str:
    def row(latency: Latencies, when: str) -> str:
        return (f"| {latency.what} | {when} | {len(latency.values_ms):,} | "
                f"{latency.per_second:,.0f} | {latency.pct(50):.1f} | {latency.pct(99):.1f} |\n")

    rest = "".join(row(x, "no call live") for x in f.rest_idle) + \
        "".join(row(x, f"{f.live_calls} calls live") for x in f.rest_loaded)
    turns = "".join(row(x, when) for x, when in (
        (f.turns_idle, "REST idle"), (f.turns_loaded, "REST under load"),
        (f.eos_idle, "REST idle"), (f.eos_loaded, "REST under load")))
    ratio = f.turns_loaded.pct(99) / f.turns_idle.pct(99)
    eos_ratio = f.eos_loaded.pct(99) / f.eos_idle.pct(99)
    return (
        "## Calls through the server (`bench/bench_server_calls.py`)\n\n"
        f"{datetime.date.today()}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, aiohttp {aiohttp.__version__}. `callkernel serve` in its own "
        "process on 127.0.0.1; this process is the client (and runs the calls' loopback "
        f"webhook and summary receiver), with {connections} keep-alive connections. The "
        "flow: bench/data/soak_flow.yaml (ai, a webhook tool, a post_prompt_url) with the "
        "scripted model bench/data/soak.model.yaml (30 ms to each word).\n\n"
        "| request | while | requests | per second | p50 ms | p99 ms |\n"
        "|---|---|---|---|---|---|\n"
        + row(f.starts, "calls running as they start")
        + rest
        + f"\nCalls started over REST: **{f.starts.per_second:,.0f} per second** (each: the "
        "caller script and rules parsed, the call recorded in SQLite, started on the host).\n\n"
        f"The calls' turns ({f.live_calls} calls live, a caller line every "
        f"~{TALK_PAUSE_S + 1:g} s; {phase_seconds:g} s with REST idle, then {phase_seconds:g} s "
        "with the GETs above as fast as they go). `audio_latency_s`: the caller's final "
        "words to the agent's first sentence (the scripted model's 30 ms included); "
        "`eos_to_request_s`: final words to the model request, the runtime's own part.\n\n"
        "| turn latency | while | turns | per second | p50 ms | p99 ms |\n"
        "|---|---|---|---|---|---|\n" + turns
        + f"\nTurn p99 under REST load / idle: **{ratio:.2f}×** (eos→request: "
        f"{eos_ratio:.2f}×). Server CPU: {f.server_cpu_idle:.0%} of a core with REST idle, "
        f"{f.server_cpu_loaded:.0%} under REST load; RSS {f.rss_mb:.0f} MB with the calls "
        "live.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--start-seconds", type=float, default=5.0)
    parser.add_argument("--phase-seconds", type=float, default=15.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-server-calls-"))
    try:
        with running_server(data_dir, extra=("--allow-loopback", "true")) as server:
            figures = asyncio.run(run(server, args.calls, args.connections,
                                      args.start_seconds, args.phase_seconds))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    report = render(figures, args.connections, args.phase_seconds)
    print(report)
    if not args.no_write:
        write_section("bench_server_calls", report)


if __name__ == "__main__":
    main()
