"""REST flow throughput: uploads, publishes and source reads of a 200-line flow.

Target (docs/performance.md): flow publish ≥ 500 per second on loopback,
measured from a separate client process. This process is that client: it
starts `callkernel serve` as a subprocess on 127.0.0.1 (a fresh data
directory, a free port), makes a token with `callkernel token create`, and
drives the server with aiohttp over N keep-alive connections (default 8 and
32). For each N, each phase runs for `--seconds` after an untimed warm-up:

- upload: POST the flow (bench/data/flow_200.yaml, its `revision` rewritten
  so every body differs) to one flow: each request stores a new version;
- publish: each connection alternates between the two versions of its own
  flow, so every publish really moves the live pointer (a write, fsynced);
- source: GET the live version's document.

Reported per phase: requests per second, p50 and p99 latency, the server's
CPU per request (utime + stime from /proc/<pid>/stat, all its threads) and
the client's. The server logs every request (JSON to a file), as it would
in production. Then, in process, where an upload's time goes: load, schema,
lint rules and compile (as the server's check_document runs them), and the
store's write.

Usage: python bench/bench_rest.py [--concurrency 8 32] [--seconds 4] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from bench.server_process import Server, cpu_seconds, running_server
from interpreter.document.compile import _Compiler
from interpreter.document.lint import run_rules
from interpreter.document.loader import load_document
from interpreter.document.schema import validate_schema
from interpreter.server.flows import check_document
from interpreter.server.sqlite_store import SqliteStore

ROOT = Path(__file__).resolve().parents[1]
FLOW = ROOT / "bench" / "data" / "flow_200.yaml"
TARGET_PUBLISHES_PER_S = 500
WARMUP_REQUESTS = 3  # per connection, untimed: connections open, caches fill
BREAKDOWN_RUNS = 30
CHECK_STAGE = "check_document (all of the above, as the server calls it)"
_REVISION = re.compile(rb"^(\s*revision:) 0$", re.MULTILINE)
# One request: (connection index, its request count so far) -> awaitable.
Request = Callable[[int, int], Awaitable[None]]


class RequestFailed(Exception):
    """The server answered with a status the phase did not expect."""


@functools.cache
def _fixture() -> bytes:
    return FLOW.read_bytes()


def flow_body(revision: int) -> bytes:
    """The fixture with its `revision` set: a distinct body per upload."""
    body, count = _REVISION.subn(rb"\1 " + str(revision).encode(), _fixture())
    assert count == 1, "bench/data/flow_200.yaml lost its `revision: 0` line"
    return body


@dataclass(frozen=True, slots=True)
class Phase:
    operation: str
    connections: int
    requests: int
    seconds: float
    latencies_ms: tuple[float, ...]
    server_cpu_s: float
    client_cpu_s: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, pct: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[pct - 1]


async def _drive(connections: int, request: Request, *, count: int | None = None,
                 until: float | None = None) -> list[float]:
    """Run `request` on every connection, `count` times each or until the
    monotonic deadline `until`; every request's latency in ms."""
    latencies: list[float] = []

    async def worker(connection: int) -> None:
        done = 0
        while (count is None or done < count) and (until is None or time.monotonic() < until):
            started = time.perf_counter()
            await request(connection, done)
            latencies.append((time.perf_counter() - started) * 1000)
            done += 1

    await asyncio.gather(*(worker(c) for c in range(connections)))
    return latencies


async def measure(operation: str, connections: int, seconds: float, request: Request,
                  server_pid: int) -> Phase:
    await _drive(connections, request, count=WARMUP_REQUESTS)
    cpu_before, client_before = cpu_seconds(server_pid), time.process_time()
    started = time.monotonic()
    latencies = await _drive(connections, request, until=started + seconds)
    elapsed = time.monotonic() - started
    return Phase(operation, connections, len(latencies), elapsed, tuple(latencies),
                 cpu_seconds(server_pid) - cpu_before, time.process_time() - client_before)


# ------------------------------------------------------------ the three operations

class Client:
    """The REST calls the phases make, each checking its status."""

    def __init__(self, session: aiohttp.ClientSession, server: Server) -> None:
        self.session = session
        self.url = server.url
        self.auth = {"Authorization": f"Bearer {server.secret}"}
        self.revision = 0

    async def _expect(self, response: aiohttp.ClientResponse, status: int) -> bytes:
        body = await response.read()
        if response.status != status:
            raise RequestFailed(f"{response.method} {response.url.path}: {response.status} "
                                f"(expected {status}): {body[:300]!r}")
        return body

    async def upload(self, flow: str) -> int:
        self.revision += 1
        async with self.session.post(
                f"{self.url}/v1/flows/{flow}", data=flow_body(self.revision),
                headers={**self.auth, "Content-Type": "application/yaml"}) as response:
            stored = json.loads(await self._expect(response, 201))
        return int(stored["version"])

    async def publish(self, flow: str, version: int) -> None:
        async with self.session.post(f"{self.url}/v1/flows/{flow}/publish",
                                     json={"version": version}, headers=self.auth) as response:
            await self._expect(response, 200)

    async def source(self, flow: str) -> None:
        async with self.session.get(f"{self.url}/v1/flows/{flow}/source",
                                    params={"version": "live"}, headers=self.auth) as response:
            if not await self._expect(response, 200):
                raise RequestFailed(f"GET {flow} source: an empty body")


async def run_phases(server: Server, levels: list[int], seconds: float) -> list[Phase]:
    phases: list[Phase] = []
    for connections in levels:
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            phases += await run_level(Client(session, server), server.process.pid,
                                      connections, seconds)
    return phases


async def run_level(client: Client, pid: int, connections: int, seconds: float) -> list[Phase]:
    """The three phases over `connections` connections."""
    upload_flow = f"upload-{connections}"

    async def upload(_connection: int, _done: int) -> None:
        await client.upload(upload_flow)

    uploading = await measure("upload", connections, seconds, upload, pid)

    # Each connection its own flow with two versions, so that alternating
    # them makes every publish a real change of the live version.
    flows = [f"publish-{connections}-{c}" for c in range(connections)]
    for flow in flows:
        for _ in range(2):
            await client.upload(flow)

    live = [0] * connections  # each flow's live version, as this client set it

    async def publish(connection: int, _done: int) -> None:
        live[connection] = 2 if live[connection] == 1 else 1
        await client.publish(flows[connection], live[connection])

    publishing = await measure("publish", connections, seconds, publish, pid)

    async def source(connection: int, _done: int) -> None:
        await client.source(flows[connection])

    return [uploading, publishing, await measure("get source", connections, seconds, source, pid)]


# ------------------------------------------------------------ an upload, in process

def upload_breakdown(runs: int) -> list[tuple[str, float]]:
    """Median ms of each stage of an upload, in this process, warm (the
    server's caches are warm too after its first upload): the stages the
    server's check_document runs, then that function itself, then the store."""
    bodies = [flow_body(10_000 + i) for i in range(runs + 1)]
    check_document(bodies[-1], "flow.yaml")  # warm-up: schema and parser construction
    stages: dict[str, list[float]] = {"load (parse YAML, positions)": [],
                                      "schema validation": [], "lint rules": [],
                                      "compile to IR": []}
    whole: list[float] = []
    for body in bodies[:runs]:
        started = time.perf_counter()
        doc = load_document(body, "flow.yaml")
        loaded = time.perf_counter()
        schema = validate_schema(doc)
        validated = time.perf_counter()
        rules = list(run_rules(doc))
        linted = time.perf_counter()
        _Compiler(doc).compile()
        compiled = time.perf_counter()
        assert not schema and not rules, (schema + rules)[:3]
        for key, start, end in zip(stages, (started, loaded, validated, linted),
                                   (loaded, validated, linted, compiled), strict=True):
            stages[key].append((end - start) * 1000)
        started = time.perf_counter()
        content_hash, diagnostics = check_document(body, "flow.yaml")
        whole.append((time.perf_counter() - started) * 1000)
        assert content_hash is not None, diagnostics[:3]
    rows = [(key, statistics.median(values)) for key, values in stages.items()]
    rows.append((CHECK_STAGE,
                 statistics.median(whole)))
    rows += asyncio.run(_store_costs(bodies[:runs]))
    return rows


async def _store_costs(bodies: list[bytes]) -> list[tuple[str, float]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-rest-store-"))
    try:
        store = await SqliteStore.open(folder / "store.sqlite3")
        try:
            adds, publishes = [], []
            for body in bodies:
                started = time.perf_counter()
                await store.add_version("flow", body, "application/yaml", "hash", ())
                adds.append((time.perf_counter() - started) * 1000)
            for number in range(1, len(bodies) + 1):
                started = time.perf_counter()
                await store.publish("flow", number)
                publishes.append((time.perf_counter() - started) * 1000)
        finally:
            await store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return [("store: add_version (SQLite, WAL, synchronous=FULL)", statistics.median(adds)),
            ("store: publish (same store)", statistics.median(publishes))]


# ------------------------------------------------------------ the report

def _filesystem(path: Path) -> str:
    """The type of the filesystem holding `path` (fsync cost depends on it)."""
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        mount = parts[1]
        if path.is_relative_to(mount) and len(mount) > len(best):
            best, kind = mount, parts[2]
    return kind


def render(phases: list[Phase], breakdown: list[tuple[str, float]], lines: int,
           size: int, seconds: float, filesystem: str) -> str:
    table = "".join(
        f"| {p.operation} | {p.connections} | {p.requests:,} | {p.per_second:,.0f} | "
        f"{p.percentile(50):.1f} | {p.percentile(99):.1f} | "
        f"{p.server_cpu_s / p.requests * 1000:.2f} | {p.client_cpu_s / p.requests * 1000:.2f} |\n"
        for p in phases)
    publishes = [p for p in phases if p.operation == "publish"]
    verdicts = ", ".join(
        f"{p.per_second:,.0f}/s at {p.connections} connections "
        f"({'meets' if p.per_second >= TARGET_PUBLISHES_PER_S else 'MISSES'})"
        for p in publishes)
    uploads = {p.connections: p for p in phases if p.operation == "upload"}
    ratio = ", ".join(f"{publish.per_second / uploads[publish.connections].per_second:.0f}× "
                      f"at {publish.connections} connections" for publish in publishes)
    checking = dict(breakdown)[CHECK_STAGE]
    share = ", ".join(
        f"{checking / (p.server_cpu_s / p.requests * 1000):.0%} at {p.connections}"
        for p in uploads.values())
    stages = "".join(f"| {what} | {ms:.2f} |\n" for what, ms in breakdown)
    return (
        "## REST flows (`bench/bench_rest.py`)\n\n"
        f"{datetime.date.today()}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, aiohttp {aiohttp.__version__}. `callkernel serve` in its own "
        f"process on 127.0.0.1 (data directory on {filesystem}, JSON request log to a file); "
        "this benchmark's process is the client, on the same machine, with N keep-alive "
        f"connections. The flow: bench/data/flow_200.yaml, {lines} lines, {size:,} bytes. "
        f"Each phase {seconds:g} s after {WARMUP_REQUESTS} untimed requests per connection. "
        "Upload: a new version of one flow per request (bodies differ); publish: each "
        "connection alternates the two versions of its own flow (every publish moves the live "
        "version: a write, fsynced); get source: the live document. CPU per request: the "
        "server's utime + stime (all threads) and the client's, over the phase.\n\n"
        "| operation | connections | requests | per second | p50 ms | p99 ms "
        "| server CPU ms/req | client CPU ms/req |\n|---|---|---|---|---|---|---|---|\n"
        + table
        + f"\nTarget ≥ {TARGET_PUBLISHES_PER_S} publishes/s: {verdicts}. Publishes go "
        f"{ratio} as fast as uploads: checking the document (load, lint, compile, below) is "
        f"{share} of an upload's server CPU, and it holds the GIL on its worker thread, so "
        "uploads go one at a time whatever the connections.\n\n"
        f"Where an upload's time goes, in process (median of {BREAKDOWN_RUNS}, warm):\n\n"
        "| stage | median ms |\n|---|---|\n" + stages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    text = FLOW.read_bytes()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-rest-"))
    try:
        with running_server(data_dir) as server:
            phases = asyncio.run(run_phases(server, args.concurrency, args.seconds))
        breakdown = upload_breakdown(BREAKDOWN_RUNS)
        report = render(phases, breakdown, text.count(b"\n"), len(text), args.seconds,
                        _filesystem(data_dir))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(report)
    if not args.no_write:
        write_section("bench_rest", report)


if __name__ == "__main__":
    main()
