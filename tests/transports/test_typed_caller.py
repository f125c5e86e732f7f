"""The typed caller's parts: typed lines → steps, and the call's activity
that decides when a piped line goes. Whole console calls are in
tests/commands/test_console.py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from interpreter.clock import run_virtual
from interpreter.transports.caller_script import Hangup, Press, Say, Wait
from interpreter.transports.typed_caller import HELP, Activity, step_for

ROOT = Path(__file__).resolve().parents[2]


def test_step_for_maps_a_line_to_a_step() -> None:
    assert step_for("  Hello there ") == Say("Hello there")
    assert step_for("/digits 1 2 3#") == Press("123#")
    assert step_for("/DIGITS a") == Press("A")
    assert step_for("/wait 2.5") == Wait(2.5)
    assert step_for("/hangup") == Hangup()
    assert step_for("   ") is None
    assert step_for("/help") == HELP
    assert isinstance(step_for("/wait -1"), str)
    assert isinstance(step_for("/digits"), str)


def test_activity_is_busy_while_an_effect_or_a_dial_is_in_flight() -> None:
    async def feed() -> tuple[list[bool], float]:
        start = asyncio.get_running_loop().time()
        activity = Activity()
        changes: list[bool] = []
        activity.changed = lambda: changes.append(activity.busy)
        activity.record({"kind": "effect_started", "id": 4, "effect": "llm"})
        activity.record({"kind": "leg_dial", "leg": "leg-1"})
        activity.record({"kind": "event", "event": "LlmFinished", "effect_id": 4})
        assert activity.busy  # the leg still rings
        activity.record({"kind": "leg_state", "leg": "leg-1", "new": "ringing"})
        await asyncio.sleep(2.0)
        activity.record({"kind": "leg_state", "leg": "leg-1", "new": "failed"})
        assert not activity.busy
        activity.record({"kind": "effect_started", "id": 5, "effect": "tool"})
        activity.record({"kind": "effect_cancelled", "id": 5})
        return changes, activity.idle_since - start

    changes, idle_since = run_virtual(feed)
    assert changes == [True, False, True, False]
    assert idle_since == 2.0


def test_importing_the_typed_caller_imports_no_command() -> None:
    # Transports sit below commands: a fresh interpreter, so modules other
    # tests imported do not hide the dependency.
    probe = ("import sys, interpreter.transports.typed_caller; "
             "print(sorted(m for m in sys.modules if m.startswith('interpreter.commands')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"
