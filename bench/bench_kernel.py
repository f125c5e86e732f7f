"""N concurrent text-mode IVR calls: events per second and the actor's per-event cost.

Each call runs an IVR loop (prompt, switch, set, play, goto) against a
simulated caller that answers every menu. Measured per event: the actor's
time from taking the event out of its inbox to waiting again (handling it
plus running the verbs it unblocked). Runs on the virtual clock (pure CPU
cost, time jumps) and in real time (calls paced by the wall clock).

Usage: python bench/bench_kernel.py [--calls 100 1000] [--rounds 6] [--no-write]
       python bench/bench_kernel.py --ai [bench_ai options]   (ai calls: bench_ai.py)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import os
import platform
import runpy
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import write_section
from interpreter.clock import run_virtual
from interpreter.document.compile import compile_text
from interpreter.host import CallHost
from interpreter.runtime import events as ev
from interpreter.runtime.call import Call
from interpreter.transports.caller_script import load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

FLOW = """\
sections:
  main:
    - answer: {}
    - set: {count: 0}
    - label: loop
    - prompt: {play: "say:Press one or two", max_digits: 1, initial_timeout: 3}
    - switch:
        variable: prompt_value
        case:
          "1":
            - set: {choice: one}
          "2":
            - set: {choice: two}
        default:
          - set: {choice: none}
    - set: {count: "%{vars.count + 1}"}
    - play: {url: "say:You chose %{vars.choice}"}
    - goto: {label: loop, max: ROUNDS}
    - hangup: {}
"""


def caller_script(rounds: int) -> str:
    steps = "\n".join(f'  - press: "{1 + i % 2}"' for i in range(rounds + 1))
    return f"pause: 0.3\nlinger: 5\nsteps:\n{steps}\n"


class TimedCall(Call):
    """A Call that records how long the actor spends on each event."""

    samples: list[float]
    _resumed: float | None = None

    async def wait_for(self, accept: Callable[[ev.Event], bool],
                       timeout: float | None = None) -> ev.Event | None:
        if self._resumed is not None:
            self.samples.append(time.perf_counter() - self._resumed)
            self._resumed = None
        return await super().wait_for(accept, timeout)

    def _handle(self, event: ev.Event, accept: Callable[[ev.Event], bool]) -> bool:
        started = time.perf_counter()
        accepted = super()._handle(event, accept)
        if accepted:
            self._resumed = started  # the verbs it unblocks run until the next wait
        else:
            self.samples.append(time.perf_counter() - started)
        return accepted


async def run_calls(count: int, rounds: int, samples: list[float]) -> tuple[int, int]:
    flow = compile_text(FLOW.replace("ROUNDS", str(rounds)), "bench.yaml")
    script = load_caller_script(caller_script(rounds), "bench.caller.yaml")

    async with CallHost(call_type=TimedCall) as host:

        async def one() -> tuple[int, str]:
            caller = SimulatedCaller(script)
            network = SimulatedNetwork.for_script(script)
            call = host.start_call(flow, caller, network)
            assert isinstance(call, TimedCall)
            call.samples = samples
            await host.wait(call)
            await caller.close()
            await network.close()
            events = len(call.trace.of_kind("event"))
            return events, call.trace.of_kind("call_ended")[0]["disposition"]

        results = await asyncio.gather(*(one() for _ in range(count)))
    completed = sum(1 for _, disposition in results if disposition == "hangup:hangup")
    return sum(events for events, _ in results), completed


async def live_call_bytes(count: int, rounds: int, retain: int | None) -> float:
    """Memory per live call: `count` calls mid-way through their IVR loop,
    traced allocations divided by the calls (flow compiled before)."""
    flow = compile_text(FLOW.replace("ROUNDS", str(rounds)), "bench.yaml")
    script = load_caller_script(caller_script(rounds), "bench.caller.yaml")
    async with CallHost(trace_retain=retain) as host:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        parties = []
        for _ in range(count):
            caller, network = SimulatedCaller(script), SimulatedNetwork.for_script(script)
            parties.append((caller, network))
            host.start_call(flow, caller, network)
        await asyncio.sleep(6.0)  # virtual: every call is a few menus in
        live = len(host.live())
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        for call in host.live():
            call.post(ev.HangupRequested())
        await asyncio.sleep(1.0)
        for caller, network in parties:
            await caller.close()
            await network.close()
    assert live == count, f"only {live} of {count} calls were live"
    return used / count


def measure(count: int, rounds: int, virtual: bool) -> dict[str, float]:
    samples: list[float] = []
    gc.collect()
    started = time.perf_counter()
    cpu = time.process_time()
    if virtual:
        events, completed = run_virtual(lambda: run_calls(count, rounds, samples))
    else:
        events, completed = asyncio.run(run_calls(count, rounds, samples))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    ordered = sorted(samples)
    return {
        "calls": count, "completed": completed, "events": events, "wall_s": wall,
        "cpu_s": cpu, "events_per_s": events / wall,
        "p50_us": ordered[len(ordered) // 2] * 1e6,
        "p99_us": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6,
        "mean_us": statistics.fmean(ordered) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = []
    for count in args.calls:
        for virtual in (True, False):
            figures = measure(count, args.rounds, virtual)
            rows.append((count, "virtual" if virtual else "real time", figures))
            print(f"N={count:5} {'virtual' if virtual else 'real   '}: "
                  f"{figures['events_per_s']:10.0f} events/s, per-event p50 "
                  f"{figures['p50_us']:.0f} µs, p99 {figures['p99_us']:.0f} µs, "
                  f"{figures['completed']:.0f}/{count} completed, wall {figures['wall_s']:.1f} s")
    memory = {retain: run_virtual(lambda r=retain: live_call_bytes(1000, 20, r))  # type: ignore[misc]
              for retain in (None, 64)}
    for retain, used in memory.items():
        print(f"memory per live call (1,000 calls, trace retain={retain}): "
              f"{used / 1024:.1f} KiB")
    table = "".join(
        f"| {count} | {mode} | {f['completed']:.0f}/{count} | {f['events']:.0f} | "
        f"{f['wall_s']:.2f} | {f['cpu_s']:.2f} | {f['events_per_s']:,.0f} | "
        f"{f['p50_us']:.0f} | {f['p99_us']:.0f} |\n" for count, mode, f in rows)
    report = (
        "## Call kernel (`bench/bench_kernel.py`)\n\n"
        f"{datetime.date.today()}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, one process. Each call: an IVR loop of prompt, switch, set, "
        f"play and goto, {args.rounds} rounds, a simulated caller pressing a digit after each "
        "menu. Per-event cost = the actor's time from taking an event out of its inbox to "
        "waiting again (handling it and running the verbs it unblocked).\n\n"
        "| calls | clock | completed | events | wall s | CPU s | events/s | per-event p50 µs "
        "| per-event p99 µs |\n|---|---|---|---|---|---|---|---|---|\n" + table +
        "\nMemory per live call, 1,000 IVR calls a few menus in (tracemalloc, the compiled "
        "flow excluded): " + ", ".join(
            f"{used / 1024:.0f} KiB with " + ("every trace record kept" if retain is None
                                              else f"the last {retain} trace records kept")
            for retain, used in memory.items()) + " (target ≤ 1 MB).\n")
    print(report)
    if not args.no_write:
        write_section("bench_kernel", report)


if __name__ == "__main__":
    if "--ai" in sys.argv:
        # The ai-call benchmark lives beside this one; same figures, same docs.
        sys.argv.remove("--ai")
        runpy.run_path(str(Path(__file__).with_name("bench_ai.py")), run_name="__main__")
    else:
        main()
