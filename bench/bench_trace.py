"""The trace's cost: Trace.record() per second in memory and to a JSONL file,
the longest single record() or close() (the one that writes a batch), and the
memory a retained record holds.

Records are replayed from SAMPLE, shaped like the records of the IVR calls of
bench_kernel.py and the ai calls of bench_ai.py, in "calls": one Trace per
call, and with a file, one file per call, as a host would. The files are
created before the timing (creating one is timed apart: on a busy disk it
costs more than the whole trace, before and after this change alike).
Calls of 100 records (the IVR call of bench_kernel makes 100, an ai call of
bench_ai about 90) and of 1,000 (a long call, where batches fill before the
end). The collector is off while a run is timed; each rate is the best of
REPEATS runs.

Usage: python bench/bench_trace.py [--records 100000] [--baseline OLD_TRACE_PY] [--no-write]
--baseline measures another trace.py too, in the same run (e.g. the one before a
change: `git show REV:interpreter/runtime/trace.py > /tmp/old_trace.py`).
Writes the `bench_trace` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.util
import inspect
import json
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from interpreter.runtime.trace import JsonlTraceSink, Trace

CALL_LENGTHS = (100, 1000)  # records per call
REPEATS = 5
MEMORY_RECORDS = 10_000

SAMPLE: list[tuple[str, dict[str, Any]]] = [
    ("event", {"event": "PlayoutFinished", "seq": 3, "playout_id": 2, "source": "caller"}),
    ("event", {"event": "DigitPressed", "seq": 4, "digit": "1", "source": "caller"}),
    ("prompt_result", {"result": "match_digits", "value": "1", "terminator": ""}),
    ("verb", {"verb": "switch", "line": 8, "source": "caller"}),
    ("verb", {"verb": "set", "line": 11, "source": "caller"}),
    ("verb", {"verb": "play", "line": 17, "source": "caller"}),
    ("play", {"playout": 4, "source": "caller", "items": ["say:You chose one"]}),
    ("state", {"old": "ringing", "new": "answered"}),
    ("event", {"event": "TranscriptReceived", "seq": 9, "text": "order A123", "final": True}),
    ("effect_started", {"effect": "tool", "id": 7, "epoch": 2, "function": "check_order",
                        "url": "https://user:pw@hooks.example/swaig?token=abc",
                        "arguments": {"order_id": "A123"}}),
    ("tool_returned", {"function": "check_order", "seconds": 0.0012,
                       "response": "Order A123 ships tomorrow.", "actions": []}),
    ("say", {"playout": 5, "text": "Order A123 ships tomorrow. Anything else?",
             "voice": "en-US"}),
    ("call_ended", {"disposition": "hangup:hangup",
                    "vars": {"count": 7, "prompt_value": "1", "choice": "one"}}),
]


class FlushEveryRecord:
    """The write path before batching: the file open for the call's lifetime,
    json.dumps + write + flush for every record."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")  # closed by close()

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, default=str, sort_keys=False) + "\n")
        self._file.flush()

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


MakeTrace = Callable[[str, Path], Any]  # (call id, file to use if any) -> a trace
DEFAULT_BATCH: int = inspect.signature(JsonlTraceSink).parameters["batch"].default


def configurations(baseline: Any | None) -> list[tuple[str, MakeTrace]]:
    clock = time.monotonic

    def batched(batch: int, retain: int | None = None) -> MakeTrace:
        return lambda cid, f: Trace(cid, clock, sink=JsonlTraceSink(f, batch=batch),
                                    retain=retain)

    rows: list[tuple[str, MakeTrace]] = [
        ("memory, all retained (default)", lambda cid, _: Trace(cid, clock)),
        ("memory, retain=0 (record built, dropped)", lambda cid, _: Trace(cid, clock, retain=0)),
        (f"file (path=: batch {DEFAULT_BATCH})", lambda cid, f: Trace(cid, clock, f)),
        (f"file, batch {DEFAULT_BATCH}, retain=0", batched(DEFAULT_BATCH, 0)),
        ("file, batch 16", batched(16)),
        ("file, batch 256", batched(256)),
        ("file, write + flush per record (before)",
         lambda cid, f: Trace(cid, clock, sink=FlushEveryRecord(f))),
    ]
    if baseline is not None:
        rows += [("baseline trace.py: memory", lambda cid, _: baseline.Trace(cid, clock)),
                 ("baseline trace.py: file (path=)",
                  lambda cid, f: baseline.Trace(cid, clock, f))]
    return rows


def replay(make: MakeTrace, calls: int, length: int, folder: Path,
           latencies: list[float] | None = None) -> float:
    """Seconds to make and close `calls` traces of `length` records each;
    `latencies` gets the time of each record() and close()."""
    record_fields = [SAMPLE[i % len(SAMPLE)] for i in range(length)]
    files = create_files(folder, calls)  # what the file system charges for, not the trace
    perf = time.perf_counter
    gc.collect()
    gc.disable()
    try:
        started = perf()
        for index in range(calls):
            trace = make(f"call-{index}", files[index])
            if latencies is None:
                for kind, fields in record_fields:
                    trace.record(kind, **fields)
                trace.close()
            else:
                for kind, fields in record_fields:
                    before = perf()
                    trace.record(kind, **fields)
                    latencies.append(perf() - before)
                before = perf()
                trace.close()
                latencies.append(perf() - before)
        return perf() - started
    finally:
        gc.enable()


def create_files(folder: Path, count: int) -> list[Path]:
    files = [folder / f"call-{index}.jsonl" for index in range(count)]
    for file in files:
        file.touch()
    return files


def file_creation_us(count: int = 1000) -> float:
    """Mean µs to create an empty file in the temporary directory."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        create_files(Path(folder), count)
        return (time.perf_counter() - started) / count * 1e6


def throughput(make: MakeTrace, calls: int, length: int) -> dict[str, float]:
    best = float("inf")
    latencies: list[float] = []
    for attempt in range(REPEATS + 1):
        with tempfile.TemporaryDirectory() as folder:
            if attempt == REPEATS:  # a separate pass: timing each call costs time too
                replay(make, calls, length, Path(folder), latencies)
            else:
                best = min(best, replay(make, calls, length, Path(folder)))
    latencies.sort()
    count = calls * length
    return {"records_per_s": count / best, "us_per_record": best / count * 1e6,
            "p50_us": latencies[len(latencies) // 2] * 1e6,
            "p99_us": latencies[int(len(latencies) * 0.99)] * 1e6,
            "max_us": latencies[-1] * 1e6}


def retained_bytes(make: Callable[[], Any], records: int) -> tuple[int, int]:
    """Bytes still allocated, and the peak, after `records` records into one trace."""
    gc.collect()
    tracemalloc.start()
    try:
        trace = make()
        for index in range(records):
            kind, fields = SAMPLE[index % len(SAMPLE)]
            trace.record(kind, **fields)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    trace.close()
    return current, peak


def memory(baseline: Any | None) -> list[tuple[str, int, int, int, int]]:
    """(what, records made, records retained, bytes held, peak bytes)."""
    clock = time.monotonic
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "memory.jsonl"
        cases: list[tuple[str, int, int, Callable[[], Any]]] = [
            ("all retained", 1000, 1000, lambda: Trace("m", clock)),
            ("all retained", MEMORY_RECORDS, MEMORY_RECORDS, lambda: Trace("m", clock)),
            ("retain=1000", MEMORY_RECORDS, 1000, lambda: Trace("m", clock, retain=1000)),
            ("retain=0", MEMORY_RECORDS, 0, lambda: Trace("m", clock, retain=0)),
            (f"retain=0, file (batch {DEFAULT_BATCH})", MEMORY_RECORDS, 0,
             lambda: Trace("m", clock, file, retain=0)),
        ]
        if baseline is not None:
            cases.append(("baseline trace.py", 1000, 1000, lambda: baseline.Trace("m", clock)))
        for what, records, kept, make in cases:
            current, peak = retained_bytes(make, records)
            rows.append((what, records, kept, current, peak))
    return rows


def load_baseline(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("baseline_trace", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000,
                        help="records per run and call length (default 100,000)")
    parser.add_argument("--baseline", help="another trace.py to measure in the same run")
    parser.add_argument("--baseline-label", help="what the baseline is, for the report "
                        "(default: its path)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    baseline = load_baseline(args.baseline) if args.baseline else None
    sample = Trace("sample", time.monotonic)
    records = [sample.record(kind, **fields) for kind, fields in SAMPLE]
    json_bytes = sum(len(json.dumps(record)) for record in records) / len(records)
    encode = json.JSONEncoder(default=str, check_circular=False).encode  # as the sink does
    started = time.perf_counter()
    for _ in range(1000):
        for record in records:
            encode(record)
    encode_us = (time.perf_counter() - started) / (1000 * len(records)) * 1e6

    speed = []
    for length in CALL_LENGTHS:
        for name, make in configurations(baseline):
            if length != CALL_LENGTHS[0] and name.startswith(("memory", "baseline")):
                continue  # without a file, a call's length changes nothing
            figures = throughput(make, max(1, args.records // length), length)
            speed.append((name, length, figures))
            print(f"{name:45} {length:5}/call {figures['records_per_s']:10,.0f} records/s "
                  f"({figures['us_per_record']:.2f} µs each); one record() or close() p50 "
                  f"{figures['p50_us']:.2f} µs, p99 {figures['p99_us']:.2f} µs, "
                  f"max {figures['max_us']:.0f} µs", flush=True)
    create_us = file_creation_us()
    print(f"creating a file: {create_us:.0f} µs")
    held = memory(baseline)
    for what, records, kept, current, peak in held:
        print(f"memory {what:30} {records:6} records made, {kept:6} retained: "
              f"{current / 1024:8.1f} KiB held ({per_thousand(current, kept)} KiB per 1,000 "
              f"retained), peak {peak / 1024:.1f} KiB")

    speed_table = "".join(
        f"| {name} | {length:,} | {f['records_per_s']:,.0f} | {f['us_per_record']:.2f} "
        f"| {f['p50_us']:.2f} | {f['p99_us']:.2f} | {f['max_us']:.0f} |\n"
        for name, length, f in speed)
    memory_table = "".join(
        f"| {what} | {records:,} | {kept:,} | {current / 1024:,.1f} | "
        f"{per_thousand(current, kept)} | {peak / 1024:,.1f} |\n"
        for what, records, kept, current, peak in held)
    report = (
        "## Trace (`bench/bench_trace.py`)\n\n"
        f"{datetime.date.today()}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs. `Trace.record()` replaying {len(SAMPLE)} record shapes like "
        f"those of the kernel and ai benchmarks' calls (about {json_bytes:.0f} bytes of JSON "
        f"each), {args.records:,} records per run, in calls of 100 or 1,000 records: one trace "
        "per call, made and closed, and one file per call where there is a file, created "
        f"beforehand (creating a file took {create_us:.0f} µs here, paid once per call by any "
        "trace file, or not at all by a sink that ships records elsewhere). Rates: best "
        f"of {REPEATS} runs, collector off. One call = each record() and close() timed in a "
        "separate pass: with a file, p50 is what the actor pays for most records, p99 and max "
        "the record or close() that writes a batch (serialized and appended); max also catches "
        "the machine's own hiccups.\n\n"
        + (f"Baseline rows: trace.py {args.baseline_label or args.baseline}, same run.\n\n"
           if baseline is not None else "") +
        "| trace | records per call | records/s | µs per record | one call p50 µs "
        "| one call p99 µs | one call max µs |\n|---|---|---|---|---|---|---|\n" + speed_table +
        "\nMemory (tracemalloc) held by one trace after recording, and its peak; strings the "
        "records share with the code that made them are not counted.\n\n"
        "| trace | records made | retained | KiB held | KiB per 1,000 retained | peak KiB |\n"
        "|---|---|---|---|---|---|\n" + memory_table +
        "\nReading: with a file, record() costs the actor about what it costs in memory; "
        f"serializing (about {encode_us:.1f} µs a record with the standard library's encoder) "
        "moved into the batch writes, so the total is still a few times memory-only. A writer "
        "thread would not take that work off the event loop's core (JSON encoding holds the "
        "GIL), so there is none. "
        "`retain` bounds what a long call holds in memory; the numbering stays global.\n")
    print(report)
    if not args.no_write:
        write_section("bench_trace", report)


def per_thousand(held: int, kept: int) -> str:
    return f"{held / kept * 1000 / 1024:,.1f}" if kept else "—"


if __name__ == "__main__":
    main()
