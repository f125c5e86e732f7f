"""The server soak: N calls live through `callkernel serve` for a while, with faults.

`callkernel serve` runs as a subprocess on 127.0.0.1 (bench/server_process.py)
with outbound requests to loopback allowed, so the calls' webhook and
summaries reach the fault servers this process runs. Two flows are published
from bench/data/soak_flow.yaml (an ai agent with one SWAIG webhook tool and a
post_prompt_url): `soak`, whose summaries go to a receiver that is always up,
and `soak-down`, whose summary endpoint is down (503) for `down_s` from the
first summary sent to it, then back.

Every call runs the scripted model bench/data/soak.model.yaml against a
caller script made here. `fault_share` of the calls (per class) get one fault:

| class | how it is injected | evidence checked |
|---|---|---|
| webhook_hang | the webhook holds the request until the client gives up | error tool_timeout |
| webhook_5xx | the webhook answers 500 | error tool_error |
| webhook_garbage | the webhook answers 200 with a body that is not JSON | error tool_error |
| llm_cut | the model's stream breaks after a few words (`reply` + `fail: protocol`) | llm_error |
| llm_429 | the model is rate limited once (`fail: rate_limit`) | error llm_error |
| tts | the flow's voice fails once (caller script `faults.tts`) | error tts_error |
| stt | the caller's first line is not recognized (`garbled: true`) | error stt_error |
| transport_drop | the caller's connection drops (`hangup: {drop: true}`) | ends transport_lost |
| summary_down | the call's summary endpoint is down, then back | refused, then delivered |

After a warm-up (every class, run to its end; the memory baseline is read
after it) the soak keeps `calls` calls live for `seconds`, starting a
replacement as each ends, then lets them end and the outbox drain. Checks:
every call ended with a disposition (transport_lost for a drop, caller_hangup
otherwise) and a trace whose last record is call_ended; each fault left its
evidence and a clean call no error; every call's summary reached the receiver
(its idempotency key answered 200) at least once; no call is live
(`GET /v1/calls?state=live`, the live-calls gauge), no delivery pending or
failed, no hung webhook request still open; the server's RSS back within
the margin of its baseline (see MEMORY_* below).

Usage: python bench/soak.py [--calls 500] [--seconds 120] [--fault-share 0.05]
       [--hold 20] [--no-write]
Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from bench.server_process import Server, rss_mb, running_server, threads
from interpreter.server.call_registry import KEEP_ENDED

ROOT = Path(__file__).resolve().parents[1]
FLOW = ROOT / "bench" / "data" / "soak_flow.yaml"
MODEL = ROOT / "bench" / "data" / "soak.model.yaml"
FAULTS = ("webhook_hang", "webhook_5xx", "webhook_garbage", "llm_cut", "llm_429", "tts",
          "stt", "transport_drop", "summary_down")
# The webhook mode each caller asks for ("check order MODE").
WEBHOOK_MODES = {"webhook_hang": "hang", "webhook_5xx": "error",
                 "webhook_garbage": "garbage"}
EVIDENCE = {"webhook_hang": "tool_timeout", "webhook_5xx": "tool_error",
            "webhook_garbage": "tool_error", "llm_cut": "llm_error", "llm_429": "llm_error",
            "tts": "tts_error", "stt": "stt_error"}
# A hung webhook request is held at most this long (the flow's tool timeout is
# 2 s: the server gives up long before, and the hold ends when it does).
HANG_LIMIT_S = 60.0
STARTS_IN_FLIGHT = 16  # POST /v1/calls at once
READS_IN_FLIGHT = 16  # record and trace reads at once, for the checks
POLL_S = 0.5  # how often the live calls are listed
END_DEADLINE_S = 120.0  # after the soak, for every call to end (bounded, generous)
DELIVERY_DEADLINE_S = 180.0  # then for every summary (back-off after the down window)
SETTLE_S = 5.0  # after everything ended, before memory is read: the allocator's moment
# Memory: RSS after the calls end, compared with RSS after the warm-up. The
# server keeps the last KEEP_ENDED ended calls' traces in memory by design,
# and CPython's allocator keeps freed arenas that
# are not entirely empty; the margin allows that much and no more: a fixed
# slack plus a per-call allowance for each ended call kept, so a leak of a
# call's worth of state per call (the soak runs thousands) fails it.
MEMORY_SLACK_MB = 24.0
MEMORY_PER_KEPT_CALL_MB = 0.06


# ------------------------------------------------------------ calls and their faults

def caller_script(fault: str | None, hold_s: float) -> str:
    """The caller for one call: asks about an order (the webhook misbehaving
    as the fault says), stays `hold_s` on the line, says bye, hangs up."""
    mode = WEBHOOK_MODES.get(fault or "", "ok")
    words = {"llm_cut": "cut", "llm_429": "busy"}.get(fault or "")
    steps = []
    if fault == "stt":
        steps.append('  - {say: "check order ok", garbled: true}')
    if words:
        steps.append(f'  - say: "{words} please"')
    steps.append(f'  - say: "check order {mode}"')
    if hold_s > 0:
        steps.append(f"  - wait: {hold_s:.2f}")
    if fault == "transport_drop":
        steps.append("  - hangup: {drop: true}\n    after: 0.1")
    else:
        steps += ['  - say: "bye"', "  - hangup: {}"]
    text = 'from: "+15551230000"\npause: 0.2\npatience: 20\nlinger: 5\nsteps:\n' + \
        "\n".join(steps) + "\n"
    if fault == "tts":
        text += 'faults:\n  tts:\n    - saying: "anything else"\n'
    return text


def plan_faults(count: int, share: float, rng: random.Random,
                every_class: bool) -> list[str | None]:
    """Each call's fault: each class on about `share` of the calls (at least
    once each with `every_class`), the rest clean, in random order."""
    plan: list[str | None] = []
    for fault in FAULTS:
        plan += [fault] * max(1 if every_class else 0, round(count * share))
    plan += [None] * max(0, count - len(plan))
    rng.shuffle(plan)
    return plan


@dataclass
class Started:
    call_id: str
    fault: str | None
    started_at: float  # monotonic, when the 201 arrived


# ------------------------------------------------------------ the fault servers

@dataclass
class FaultServers:
    """The webhook and the two summary endpoints, on loopback in this process."""

    down_s: float = 0.0  # the down endpoint refuses for this long after its first refusal
    down: bool = True
    down_since: float | None = None  # monotonic: its first refusal
    refused: Counter[str] = field(default_factory=Counter)  # key -> 503s
    received: dict[str, str] = field(default_factory=dict)  # key -> call_id, answered 200
    receipts: int = 0
    hangs_open: int = 0
    hangs: int = 0
    hangs_released: int = 0  # the client gave up the connection first
    webhook_calls: Counter[str] = field(default_factory=Counter)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/swaig", self.swaig)
        app.router.add_post("/summary", self.summary)
        app.router.add_post("/summary-down", self.summary_down)
        return app

    async def swaig(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        parsed = (body.get("argument") or {}).get("parsed") or [{}]
        mode = str(parsed[0].get("mode", "ok")) if isinstance(parsed[0], dict) else "ok"
        self.webhook_calls[mode] += 1
        if mode == "hang":
            return await self._hang(request)
        if mode == "error":
            return web.Response(status=500, text="internal error (soak fault)")
        if mode == "garbage":
            return web.Response(status=200, body=b"\x00<html>not json{{",
                                content_type="application/json")
        return web.json_response({"response": "Done."})

    async def _hang(self, request: web.Request) -> web.Response:
        """Hold the request until the client closes the connection (bounded)."""
        self.hangs += 1
        self.hangs_open += 1
        try:
            deadline = time.monotonic() + HANG_LIMIT_S
            while time.monotonic() < deadline:
                transport = request.transport
                if transport is None or transport.is_closing():
                    self.hangs_released += 1
                    break
                await asyncio.sleep(0.1)
            return web.json_response({"response": "too late"})
        finally:
            self.hangs_open -= 1

    async def summary(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.receipts += 1
        self.received[request.headers.get("Idempotency-Key", "")] = str(body.get("call_id"))
        return web.json_response({"ok": True})

    async def summary_down(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        now = time.monotonic()
        if self.down and (self.down_since is None or now < self.down_since + self.down_s):
            self.down_since = self.down_since or now
            self.refused[key] += 1
            return web.Response(status=503, text="down (soak fault)")
        self.down = False
        return await self.summary(request)


# ------------------------------------------------------------ driving the server

class Driver:
    def __init__(self, session: aiohttp.ClientSession, server: Server, rng: random.Random,
                 hold_s: float, *, script: Callable[[str | None, float], str] = caller_script,
                 in_flight: int = STARTS_IN_FLIGHT) -> None:
        """`script(fault, hold_s)` makes each call's caller script; at most
        `in_flight` starts are sent at once."""
        self.session = session
        self.server = server
        self.rng = rng
        self.hold_s = hold_s
        self.script = script
        self.model = MODEL.read_text()
        self.calls: list[Started] = []
        self.start_failures: list[str] = []
        self._starting = asyncio.Semaphore(in_flight)

    async def publish(self, name: str, source: str) -> None:
        url = f"{self.server.url}/v1/flows/{name}"
        async with self.session.post(url, data=source.encode(), headers={
                **self.server.auth, "Content-Type": "application/yaml"}) as response:
            body = await response.json()
            if response.status != 201:
                raise RuntimeError(f"upload of {name}: {response.status} {body}")
        async with self.session.post(f"{url}/publish", json={"version": body["version"]},
                                     headers=self.server.auth) as response:
            if response.status != 200:
                raise RuntimeError(f"publish of {name}: {response.status}")

    async def start(self, fault: str | None) -> Started | None:
        hold = self.rng.uniform(0.5, 1.5) * self.hold_s
        body = {"flow": "soak-down" if fault == "summary_down" else "soak",
                "caller": self.script(fault, hold), "model": self.model}
        async with self._starting, self.session.post(
                f"{self.server.url}/v1/calls", json=body, headers=self.server.auth) as response:
            answer = await response.read()
            if response.status != 201:
                self.start_failures.append(f"{response.status}: {answer[:200]!r}")
                return None
        started = Started(json.loads(answer)["call_id"], fault, time.monotonic())
        self.calls.append(started)
        return started

    async def live_ids(self) -> tuple[set[str], float]:
        """The live calls' ids, and when the listing was asked for (monotonic)."""
        asked = time.monotonic()
        async with self.session.get(f"{self.server.url}/v1/calls",
                                    params={"state": "live", "limit": "1000"},
                                    headers=self.server.auth) as response:
            listing = await response.json()
        return {c["call_id"] for c in listing["calls"]}, asked

    async def keep_live(self, count: int, seconds: float, faults: list[str | None],
                        ramp_s: float, memory: list[float]) -> None:
        """`count` calls live for `seconds`: the first ones spread over
        `ramp_s`, then a replacement as each ends."""
        plan = iter(faults)

        def next_fault() -> str | None:
            try:
                return next(plan)
            except StopIteration:
                return self.rng.choice(faults)

        end = time.monotonic() + seconds
        mine: dict[str, Started] = {}
        pending: set[asyncio.Task[Started | None]] = set()

        async def launch(delay: float) -> Started | None:
            await asyncio.sleep(delay)
            return await self.start(next_fault()) if time.monotonic() < end else None

        for index in range(count):
            pending.add(asyncio.create_task(launch(ramp_s * index / count)))
        while time.monotonic() < end:
            await asyncio.sleep(POLL_S)
            for task in [t for t in pending if t.done()]:
                pending.discard(task)
                started = task.result()
                if started is not None:
                    mine[started.call_id] = started
            live, asked = await self.live_ids()
            ended = [c for c in mine.values() if c.call_id not in live and c.started_at < asked]
            for call in ended:
                del mine[call.call_id]
                pending.add(asyncio.create_task(launch(0.0)))
            memory.append(rss_mb(self.server.pid))
        for task in pending:
            await task  # each ends at once: past `end` it starts nothing

    async def wait_all_ended(self, deadline_s: float) -> set[str]:
        """Wait for every call this driver started to end; those still live."""
        ours = {c.call_id for c in self.calls}
        deadline = time.monotonic() + deadline_s
        while True:
            live, _ = await self.live_ids()
            if not live & ours or time.monotonic() > deadline:
                return live & ours
            await asyncio.sleep(POLL_S)

    async def read(self, path: str, json_trace: bool = False) -> Any:
        headers = {**self.server.auth, "Accept": "application/json"} if json_trace \
            else self.server.auth
        async with self.session.get(f"{self.server.url}{path}", headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status}")
            return await response.json()

    async def records(self, calls: Iterable[Started]) -> dict[str, tuple[dict[str, Any],
                                                                          list[dict[str, Any]]]]:
        """Each call's record and trace, read over REST."""
        limit = asyncio.Semaphore(READS_IN_FLIGHT)

        async def one(call: Started) -> tuple[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
            async with limit:
                record = await self.read(f"/v1/calls/{call.call_id}")
                trace = await self.read(f"/v1/calls/{call.call_id}/trace", json_trace=True)
            return call.call_id, (record, trace)

        return dict(await asyncio.gather(*(one(c) for c in calls)))

    async def metric(self, name: str) -> float | None:
        async with self.session.get(f"{self.server.url}/metrics",
                                    headers=self.server.auth) as response:
            text = await response.text()
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None


# ------------------------------------------------------------ the soak

@dataclass(frozen=True, slots=True)
class SoakOptions:
    calls: int = 500
    seconds: float = 120.0
    fault_share: float = 0.05
    hold_s: float = 20.0  # mean time a caller stays on the line (plus the conversation)
    warmup: int = 50  # calls run to their end before the memory baseline
    down_s: float = 20.0  # how long the summary endpoint stays down (at least)
    settle_s: float = SETTLE_S
    every_class: bool = True
    seed: int = 11


@dataclass
class SoakResult:
    options: SoakOptions
    calls: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    dispositions: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures.append(what)


def _deliveries(database: Path) -> list[dict[str, Any]]:
    """The outbox's deliveries, read from the store's SQLite file read-only."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(
            "SELECT key, call_id, kind, state, attempts, last_status FROM deliveries")]


async def run_soak(options: SoakOptions, server: Server) -> SoakResult:
    rng = random.Random(options.seed)
    result = SoakResult(options)
    faults = FaultServers()
    runner = web.AppRunner(faults.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    faults.url = f"http://127.0.0.1:{port}"
    source = FLOW.read_text()
    connector = aiohttp.TCPConnector(limit=STARTS_IN_FLIGHT + READS_IN_FLIGHT + 4)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            driver = Driver(session, server, rng, options.hold_s)
            for name, summary in (("soak", "/summary"), ("soak-down", "/summary-down")):
                await driver.publish(name, source.replace("WEBHOOK_URL", faults.url + "/swaig")
                                     .replace("SUMMARY_URL", faults.url + summary))
            await _soak(options, driver, faults, server, result, rng)
    finally:
        await runner.cleanup()
    return result


async def _soak(options: SoakOptions, driver: Driver, faults: FaultServers, server: Server,
                result: SoakResult, rng: random.Random) -> None:
    # Warm-up: every class once, to its end, so what the server builds on
    # first use (imports, caches, pools, worker threads) is in the baseline.
    # The summary endpoint is up for it.
    faults.down = False
    warm = [None, *FAULTS, *([None] * max(0, options.warmup - len(FAULTS) - 1))]
    warm = warm[:options.warmup]
    warm_driver = Driver(driver.session, server, rng, 0.0)
    await asyncio.gather(*(warm_driver.start(f) for f in warm))
    await warm_driver.wait_all_ended(END_DEADLINE_S)
    await asyncio.sleep(options.settle_s)
    baseline, baseline_threads = rss_mb(server.pid), threads(server.pid)

    faults.down, faults.refused, faults.down_s = True, Counter(), options.down_s
    plan = plan_faults(max(options.calls, int(options.calls * options.seconds / 8)),
                       options.fault_share, rng, options.every_class)
    memory: list[float] = []
    began = time.monotonic()
    await driver.keep_live(options.calls, options.seconds, plan,
                           ramp_s=min(10.0, options.seconds / 4), memory=memory)
    soak_s = time.monotonic() - began
    still_live = await driver.wait_all_ended(END_DEADLINE_S)
    result.check(not still_live, f"{len(still_live)} call(s) still live "
                                 f"{END_DEADLINE_S:g} s after the soak")
    calls = driver.calls
    result.calls = len(calls)
    result.faults = Counter(c.fault or "none" for c in calls)
    result.check(not driver.start_failures, f"{len(driver.start_failures)} call start(s) "
                                            f"refused: {driver.start_failures[:3]}")
    for fault in FAULTS:
        result.check(result.faults[fault] > 0, f"no call had the fault {fault}")

    # Every summary delivered at least once (after the down window).
    deadline = time.monotonic() + DELIVERY_DEADLINE_S
    wanted = {c.call_id for c in calls}
    while time.monotonic() < deadline:
        if wanted <= set(faults.received.values()):
            break
        await asyncio.sleep(POLL_S)
    delivered_s = time.monotonic() - began - soak_s
    missing = wanted - set(faults.received.values())
    result.check(not missing, f"{len(missing)} call(s) with no summary delivered, "
                              f"e.g. {sorted(missing)[:3]}")

    # Records and traces.
    found = await driver.records(calls)
    turns: list[float] = []
    for call in calls:
        record, trace = found[call.call_id]
        disposition = record.get("disposition")
        result.dispositions[str(disposition)] += 1
        ended = [r for r in trace if r.get("kind") == "call_ended"]
        errors = {str(r.get("type")) for r in trace if r.get("kind") == "error"}
        # The answer to "bye": caller's last words to the agent's first
        # sentence, with no tool or recovery phrase in between.
        turns += [float(r["audio_latency_s"]) for r in trace
                  if r.get("kind") == "turn" and r.get("response") == "Goodbye."
                  and r.get("audio_latency_s") is not None]
        label = f"call {call.call_id} ({call.fault or 'clean'})"
        result.check(record.get("state") == "ended" and bool(disposition)
                     and disposition != "unknown", f"{label}: no end reason ({record})")
        result.check(bool(trace) and trace[-1].get("kind") == "call_ended" and len(ended) == 1,
                     f"{label}: its trace does not end with call_ended "
                     f"({trace[-1].get('kind') if trace else 'empty'})")
        expected = "transport_lost" if call.fault == "transport_drop" else "caller_hangup"
        result.check(disposition == expected, f"{label}: ended {disposition}, not {expected}")
        evidence = EVIDENCE.get(call.fault or "")
        if evidence is not None:
            result.check(evidence in errors, f"{label}: no {evidence} in its trace "
                                             f"(errors: {sorted(errors)})")
        elif call.fault is None:
            result.check(not errors, f"{label}: errors {sorted(errors)} in a clean call")

    # The outbox, from the store: nothing pending or failed, one summary a call.
    deliveries = [d for d in _deliveries(server.database) if d["call_id"] in wanted]
    states = Counter(d["state"] for d in deliveries)
    result.check(set(states) <= {"delivered"}, f"deliveries not delivered: {dict(states)}")
    keys = {d["key"] for d in deliveries}
    unseen = keys - set(faults.received)
    result.check(not unseen, f"{len(unseen)} idempotency key(s) never answered 200 by the "
                             "receiver")
    down_calls = {c.call_id for c in calls if c.fault == "summary_down"}
    retried = [d for d in deliveries if d["call_id"] in down_calls and d["attempts"] > 1]
    result.check(bool(faults.refused) and bool(retried),
                 f"the summary endpoint refused {sum(faults.refused.values())} request(s) and "
                 f"{len(retried)} delivery was retried: the down-then-back fault did not bite")

    # Nothing left running.
    live, _ = await driver.live_ids()
    result.check(not live, f"GET /v1/calls?state=live lists {len(live)} call(s)")
    gauge = await driver.metric("callkernel_calls_live")
    result.check(gauge == 0, f"callkernel_calls_live is {gauge}")
    pending = await driver.metric("callkernel_outbox_pending")
    result.check(pending in (0, None), f"callkernel_outbox_pending is {pending}")
    result.check(faults.hangs_open == 0, f"{faults.hangs_open} hung webhook request(s) "
                                         "still held open by the server")

    # Memory, after the allocator's moment.
    await asyncio.sleep(options.settle_s)
    after, after_threads = rss_mb(server.pid), threads(server.pid)
    kept = min(KEEP_ENDED, len(calls) + len(warm)) - min(KEEP_ENDED, len(warm))
    margin = MEMORY_SLACK_MB + MEMORY_PER_KEPT_CALL_MB * kept
    result.check(after - baseline <= margin,
                 f"RSS {after:.1f} MB after the calls, {after - baseline:+.1f} MB from the "
                 f"baseline {baseline:.1f} MB: over the margin of {margin:.1f} MB")
    result.figures = {
        "calls": len(calls), "soak_s": soak_s, "delivered_after_s": delivered_s,
        "baseline_mb": baseline, "peak_mb": max(memory, default=baseline), "after_mb": after,
        "margin_mb": margin, "kept": kept, "baseline_threads": baseline_threads,
        "after_threads": after_threads, "refused": sum(faults.refused.values()),
        "retried": len(retried), "hangs": faults.hangs, "hangs_released": faults.hangs_released,
        "receipts": faults.receipts, "deliveries": len(deliveries),
        "turn_p50_ms": _pct(turns, 50) * 1000, "turn_p99_ms": _pct(turns, 99) * 1000,
        "turns": len(turns),
    }


def _pct(values: list[float], pct: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


# ------------------------------------------------------------ the report

def render(result: SoakResult) -> str:
    o, f = result.options, result.figures
    mix = ", ".join(f"{name} {count}" for name, count in sorted(result.faults.items()))
    ends = ", ".join(f"{name} {count}" for name, count in sorted(result.dispositions.items()))
    verdict = "all checks passed" if not result.failures else \
        f"{len(result.failures)} check(s) FAILED: " + "; ".join(result.failures[:5])
    return (
        "## Server soak (`bench/soak.py`)\n\n"
        f"{datetime.date.today()}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, aiohttp {aiohttp.__version__}. `callkernel serve` in its own "
        "process on 127.0.0.1; this process starts the calls over REST and runs the fault "
        "servers (webhook, summary receivers). "
        f"{o.calls} calls kept live for {o.seconds:g} s (a replacement started as each ends; "
        f"callers stay about {o.hold_s:g} s), {o.fault_share:.0%} of calls per fault class; "
        f"the summary endpoint of `soak-down` answered 503 for {o.down_s:g} s from the first "
        "summary sent to it, then came back.\n\n"
        "| figure | value |\n|---|---|\n"
        f"| calls run (after {o.warmup} warm-up calls) | {f['calls']:,} |\n"
        f"| faults | {mix} |\n"
        f"| end reasons | {ends} |\n"
        f"| summaries: receipts / deliveries | {f['receipts']:,} / {f['deliveries']:,} |\n"
        f"| summary endpoint down: requests refused, deliveries retried | "
        f"{f['refused']:,}, {f['retried']:,} |\n"
        f"| every summary delivered, after the soak | {f['delivered_after_s']:.1f} s |\n"
        f"| hung webhook requests (released by the server's client) | "
        f"{f['hangs']:,} ({f['hangs_released']:,}) |\n"
        f"| turn latency p50 / p99 (caller's \"bye\" → the agent's first sentence) | "
        f"{f['turn_p50_ms']:.0f} / {f['turn_p99_ms']:.0f} ms over {f['turns']:,} turns |\n"
        f"| server RSS: baseline / peak / after | {f['baseline_mb']:.0f} / {f['peak_mb']:.0f} / "
        f"{f['after_mb']:.0f} MB (margin {f['margin_mb']:.0f} MB: {MEMORY_SLACK_MB:g} MB "
        f"allocator slack + {MEMORY_PER_KEPT_CALL_MB * 1000:g} KB for each of the "
        f"{f['kept']:,} ended calls the server keeps in memory by design) |\n"
        f"| server threads: baseline / after | {f['baseline_threads']} / "
        f"{f['after_threads']} |\n\n"
        f"Result: {verdict}.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--fault-share", type=float, default=0.05)
    parser.add_argument("--hold", type=float, default=20.0,
                        help="mean seconds a caller stays on the line")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--down", type=float, default=20.0,
                        help="seconds the summary endpoint is down")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    options = SoakOptions(args.calls, args.seconds, args.fault_share, args.hold, args.warmup,
                          args.down)
    data_dir = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        with running_server(data_dir, extra=("--allow-loopback", "true")) as server:
            result = asyncio.run(run_soak(options, server))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    report = render(result)
    print(report)
    for failure in result.failures[:50]:
        print("FAILED:", failure, file=sys.stderr)
    if not args.no_write:
        write_section("soak", report)
    sys.exit(1 if result.failures else 0)


if __name__ == "__main__":
    main()
