"""`callkernel run` and `callkernel trace`: a whole call from the command line."""

from __future__ import annotations

import io
import json
from pathlib import Path

from interpreter.commands import run as run_command
from interpreter.commands import trace as trace_command

ROOT = Path(__file__).resolve().parents[2]
IVR = str(ROOT / "flows" / "ivr.yaml")
IVR_CALLER = str(ROOT / "flows" / "ivr.caller.yaml")


def _run(*args: str, **options: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_command.run(*args, out=out, err=err, **options)  # type: ignore[arg-type]
    return code, out.getvalue(), err.getvalue()


def test_ivr_runs_end_to_end_with_the_caller_script(tmp_path: Path) -> None:
    trace = tmp_path / "ivr.trace.jsonl"
    code, out, _ = _run(IVR, IVR_CALLER, trace_path=str(trace))
    assert code == 0
    lines = out.splitlines()
    assert any("agent   Thank you for calling Acme Outdoor Gear." in line for line in lines)
    assert any("caller  presses 3" in line for line in lines)
    assert any("cut off; heard:" in line for line in lines)  # the barge-in on the menu
    assert any("leg-" in line and "failed" in line for line in lines)  # busy operator
    assert lines[-1].endswith("ended: hangup:hangup")
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert records[0]["kind"] == "call_started" and records[-1]["kind"] == "call_ended"
    assert [r["n"] for r in records] == list(range(len(records)))


def test_json_output_carries_variables_and_disposition() -> None:
    code, out, _ = _run(IVR, IVR_CALLER, as_json=True)
    report = json.loads(out)
    assert code == 0
    assert report["disposition"] == "hangup:hangup"
    assert report["variables"]["connect_failed_reason"] == "busy"
    assert report["variables"]["record_result"] == "success"


def test_trace_command_prints_a_timeline(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    _run(IVR, IVR_CALLER, trace_path=str(trace))
    out = io.StringIO()
    assert trace_command.run(str(trace), kinds=["call_ended"], out=out) == 0
    (line,) = out.getvalue().splitlines()
    assert "call_ended" in line and '"hangup:hangup"' in line


def test_trace_command_rejects_a_file_that_is_not_a_trace(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_text("not json\n")
    err = io.StringIO()
    assert trace_command.run(str(bogus), out=io.StringIO(), err=err) == 2
    assert "not a trace record" in err.getvalue()


def test_run_reports_flow_errors_and_unreadable_scripts(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("sections:\n  main:\n    - anwser: {}\n")
    code, _, err = _run(str(broken), IVR_CALLER)
    assert code == 1 and "CK201" in err
    code, _, err = _run(IVR, str(tmp_path / "missing.caller.yaml"))
    assert code == 2 and "no such file" in err.lower()
