"""The soak's short version (bench/soak.py runs the full one): `callkernel
serve` as a subprocess with 30 calls kept live for 5 s through REST, every
fault class at least once (webhook hang, 5xx and garbage; the model's stream
cut and a 429; a voice and a recognition failure; a dropped transport; the
summary endpoint down, then back). The soak's own checks are the assertions:
every call ends with its end reason and a trace ending in call_ended, every
fault leaves its evidence, every summary is delivered, nothing is left
running and memory is back near its baseline. Nothing here is timed: each
wait is bounded by a generous deadline and only fails a check if it runs out."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.server_process import running_server
from bench.soak import FAULTS, SoakOptions, caller_script, plan_faults, run_soak
from interpreter.transports.caller_script import load_caller_script

SHORT = SoakOptions(calls=30, seconds=5.0, fault_share=0.05, hold_s=0.0, warmup=1,
                    down_s=2.0, settle_s=1.0, every_class=True)


def test_a_short_soak_with_every_fault_class_passes_every_check(tmp_path: Path) -> None:
    with running_server(tmp_path, extra=("--allow-loopback", "true")) as server:
        result = asyncio.run(run_soak(SHORT, server))
    assert result.failures == []
    assert all(result.faults[fault] >= 1 for fault in FAULTS), result.faults
    assert result.dispositions["transport_lost"] == result.faults["transport_drop"]
    assert result.figures["refused"] >= 1 and result.figures["hangs"] >= 1


def test_every_class_is_planned_at_least_once_even_below_its_share() -> None:
    import random

    plan = plan_faults(20, 0.01, random.Random(1), every_class=True)
    assert len(plan) == 20
    assert {fault for fault in plan if fault is not None} == set(FAULTS)


def test_every_fault_class_makes_a_valid_caller_script() -> None:
    for fault in (*FAULTS, None):
        script = load_caller_script(caller_script(fault, 1.5), f"{fault}.yaml")
        assert script.steps, fault
    dropped = load_caller_script(caller_script("transport_drop", 0), "drop.yaml")
    assert dropped.steps[-1].drop  # type: ignore[union-attr]
