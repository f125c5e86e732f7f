"""`callkernel run`, `trace` and `demo`: a whole call from the command line."""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from interpreter.commands import demo as demo_command
from interpreter.commands import run as run_command
from interpreter.commands import trace as trace_command
from interpreter.commands.conversation import RecordLines
from interpreter.destinations import DestinationPolicy
from interpreter.document.compile import compile_text

ROOT = Path(__file__).resolve().parents[2]
IVR = str(ROOT / "flows" / "ivr.yaml")
SUPPORT = str(ROOT / "flows" / "support.yaml")
IVR_CALLER = str(ROOT / "flows" / "ivr.caller.yaml")
AI_FLOW = """\
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: You help.}
    - hangup: {}
"""
HELLO_CALLER = "steps:\n  - say: hello\n  - hangup: {}\n    after: 3\n"


def _run(*args: str, **options: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_command.run(*args, out=out, err=err, **options)  # type: ignore[arg-type]
    return code, out.getvalue(), err.getvalue()


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_ivr_runs_end_to_end_with_the_caller_script(tmp_path: Path) -> None:
    trace = tmp_path / "ivr.trace.jsonl"
    code, out, _ = _run(IVR, IVR_CALLER, trace_path=str(trace))
    assert code == 0
    lines = out.splitlines()
    assert any("agent   Thank you for calling Acme Outdoor Gear." in line for line in lines)
    assert any("caller  presses 3" in line for line in lines)
    assert any("cut off; heard:" in line for line in lines)  # the barge-in on the menu
    assert lines[-1].endswith("ended: hangup:hangup")
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert records[0]["kind"] == "call_started" and records[-1]["kind"] == "call_ended"
    assert [r["n"] for r in records] == list(range(len(records)))


def test_a_failed_leg_says_why_and_ringback_is_a_sound_not_the_agent() -> None:
    _, out, _ = _run(IVR, IVR_CALLER)
    assert "call    leg-7 failed: busy" in out
    assert "call    connect failed: busy" in out
    assert "sound   [ringback until 32.25 s, stopped]" in out
    assert "agent   [background" not in out


def test_json_output_carries_variables_and_disposition() -> None:
    code, out, _ = _run(IVR, IVR_CALLER, as_json=True)
    report = json.loads(out)
    assert code == 0
    assert report["disposition"] == "hangup:hangup"
    assert report["variables"]["connect_failed_reason"] == "busy"
    assert report["variables"]["record_result"] == "success"


def test_trace_file_is_replaced_not_appended(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text("an old line that is not a trace\n")
    _run(IVR, IVR_CALLER, trace_path=str(trace))
    first = trace.read_text()
    _run(IVR, IVR_CALLER, trace_path=str(trace))
    assert len(trace.read_text().splitlines()) == len(first.splitlines())
    assert json.loads(first.splitlines()[0])["kind"] == "call_started"


def test_unwritable_trace_is_a_usage_error(tmp_path: Path) -> None:
    code, out, err = _run(IVR, IVR_CALLER, trace_path=str(tmp_path / "no" / "t.jsonl"))
    assert (code, out) == (2, "") and "cannot write the trace" in err


def test_a_fatal_error_exits_three_and_a_missing_model_says_what_to_give(
        tmp_path: Path) -> None:
    flow = _write(tmp_path, "agent.yaml", AI_FLOW)
    code, out, err = _run(flow, _write(tmp_path, "c.yaml", HELLO_CALLER))
    assert code == run_command.EXIT_CALL_FAILED == 3
    assert "has an ai verb but no model was given" in err and "--model-script" in err
    assert "FATAL llm_error: no model was given: use --model-script RULES" in out
    assert "I don't have an answer" not in out


def test_a_call_without_a_fatal_error_exits_zero_with_rules_given(tmp_path: Path) -> None:
    flow = _write(tmp_path, "agent.yaml", AI_FLOW)
    rules = _write(tmp_path, "rules.yaml", "rules:\n  - reply: Hello, how can I help?\n")
    code, out, err = _run(flow, _write(tmp_path, "c.yaml", HELLO_CALLER), model_script=rules)
    assert code == 0, out + err
    assert "ai session starts" in out and "in_ai" not in out
    assert err == ""


@pytest.mark.parametrize(("env", "wanted"), [
    ({}, "set CALLKERNEL_LLM_BASE_URL"),
    ({"OPENAI_BASE_URL": "https://api.openai.com/v1"}, "api.openai.com needs a key"),
    ({"CALLKERNEL_LLM_BASE_URL": "localhost:11434"}, "not an http(s) URL"),
    ({"CALLKERNEL_LLM_BASE_URL": "  "}, "set CALLKERNEL_LLM_BASE_URL"),
    ({"CALLKERNEL_LLM_BASE_URL": "http://127.0.0.1:11434/v1"}, None),  # local: no key
    ({"OPENAI_API_KEY": "sk-test"}, None),  # the default server, with a key
])
def test_openai_configuration_is_checked_up_front(env: dict[str, str],
                                                  wanted: str | None) -> None:
    problem = run_command.openai_problem(env)
    assert problem is None if wanted is None else wanted in (problem or "")


def test_llm_openai_unconfigured_fails_before_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CALLKERNEL_LLM_BASE_URL", "OPENAI_BASE_URL", "CALLKERNEL_LLM_API_KEY",
                 "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = _run(IVR, IVR_CALLER, llm="openai")
    assert (code, out) == (2, "")
    assert "CALLKERNEL_LLM_BASE_URL" in err and "CALLKERNEL_LLM_API_KEY" in err


def test_fetch_errors_never_print_url_credentials() -> None:
    # Nothing listens on port 9 (discard): the fetch fails and says where it went.
    code, _, err = _run("http://alice:hunter2@127.0.0.1:9/flow?api_key=s3cret", IVR_CALLER)
    assert code == 2 and "127.0.0.1:9" in err
    assert "hunter2" not in err and "s3cret" not in err


class _Timed(io.StringIO):
    """Output that notes the loop time each line was written at."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        if text.strip():
            self.written.append((asyncio.get_running_loop().time(), text.strip()))
        return super().write(text)


def test_live_output_prints_each_line_as_it_happens_in_time_order() -> None:
    # Live printing is what --real-time does; under the virtual clock the test
    # sees when each line was written without waiting for it.
    out, err = _Timed(), io.StringIO()
    assert run_command.run(IVR, IVR_CALLER, out=out, err=err, live=True) == 0
    stamps = [float(text.split()[0]) for _, text in out.written]
    assert stamps == sorted(stamps)
    for written_at, text in out.written:
        assert abs(written_at - float(text.split()[0])) < 0.01, text  # printed then
    texts = [" ".join(text.split()[1:]) for _, text in out.written]
    assert "agent Thank you for calling Acme Outdoor Gear." in texts
    assert texts.index("caller presses 3") < texts.index("call prompt: match_digits 3")
    assert 'agent (cut off; heard: "For sales,")' in texts
    assert "sound [ringback starts]" in texts and "sound [ringback stopped]" in texts
    assert texts[-1] == "call ended: hangup:hangup"


def test_real_time_prints_before_the_call_ends(tmp_path: Path) -> None:
    flow = _write(tmp_path, "f.yaml", "sections:\n  main:\n    - answer: {}\n"
                  "    - play: {url: 'say:Hello there'}\n    - sleep: 4000\n    - hangup: {}\n")
    caller = _write(tmp_path, "c.yaml", "steps:\n  - hangup: {}\n    after: 5\n")
    process = subprocess.Popen([sys.executable, "-m", "interpreter", "run", flow, "--caller",
                                caller, "--real-time"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        first = process.stdout.readline()  # before the call's five seconds are over
        assert "call is" in first
        assert process.poll() is None
    finally:
        rest = process.communicate(timeout=60)[0]
    assert "agent   Hello there" in rest and rest.rstrip().endswith("ended: hangup:hangup")


def test_record_lines_say_a_silent_interruption_and_an_ai_session() -> None:
    lines = RecordLines()
    assert lines.text({"kind": "barge_in", "heard": "", "generated": "Hi"}) == \
        "barge-in before the agent said a word"
    assert lines.text({"kind": "barge_in", "heard": "Hi"}) == \
        'barge-in; agent was heard saying: "Hi"'
    assert lines.text({"kind": "state", "old": "answered", "new": "in_ai"}) == \
        "ai session starts"
    assert lines.text({"kind": "state", "old": "in_ai", "new": "answered"}) == \
        "ai session over"
    assert lines.text({"kind": "state", "new": "in_ai", "odd": True, "old": None}) != ""
    assert lines.text({"kind": "connect_failed"}) == ""  # a record of another shape


def test_trace_command_prints_a_timeline(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    _run(IVR, IVR_CALLER, trace_path=str(trace))
    out = io.StringIO()
    assert trace_command.run(str(trace), kinds=["call_ended"], out=out) == 0
    (line,) = out.getvalue().splitlines()
    assert "call_ended" in line and '"hangup:hangup"' in line


def test_trace_command_says_when_a_kind_asked_for_is_not_there(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    _run(IVR, IVR_CALLER, trace_path=str(trace))
    out, err = io.StringIO(), io.StringIO()
    assert trace_command.run(str(trace), kinds=["recroded"], out=out, err=err) == 0
    assert out.getvalue() == ""
    assert err.getvalue() == f"callkernel trace: no 'recroded' record in {trace} " \
        "(did you mean 'recorded'?)\n"


def test_run_says_what_was_recorded_and_sent(tmp_path: Path) -> None:
    flow = _write(tmp_path, "vm.yaml", """\
sections:
  main:
    - answer: {}
    - send_digits: {digits: "1w2#"}
    - record: {beep: true, max_length: 10}
    - hangup: {}
""")
    script = _write(tmp_path, "vm.caller.yaml", "steps:\n  - say: call me back\n    at: 1\n")
    code, out, _ = _run(flow, script)
    lines = [" ".join(line.split()[1:]) for line in out.splitlines()]
    assert code == 0
    assert "call sent digits 1w2#" in lines
    assert any(line.startswith("call recorded (success): callkernel://recordings/")
               for line in lines)


@pytest.mark.parametrize(("content", "wanted"), [
    (b"not json\n", "bogus.jsonl:1:1: not a trace record (Expecting value)"),
    (b'{"n": 0, "t": 0, "kind": "x"}\n[1, 2]\n', "bogus.jsonl:2: not a trace record (a JSON "
     "object), but a list"),
    (b'"text"\n', "but a string"),
    (b'{"t": "soon", "kind": "x"}\n', 'it needs a "kind" string and a "t" number'),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8 text: is it a binary file?"),
    (b"[" * 100_000 + b"\n", "bogus.jsonl:1"),
])
def test_trace_command_rejects_a_line_that_is_not_a_trace_record(
        tmp_path: Path, content: bytes, wanted: str) -> None:
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_bytes(content)
    err = io.StringIO()
    assert trace_command.run(str(bogus), out=io.StringIO(), err=err) == 2
    assert wanted in err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_trace_command_refuses_a_line_longer_than_any_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace_command, "MAX_LINE_BYTES", 1024)
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"\x00" * 4096)
    err = io.StringIO()
    assert trace_command.run(str(big), out=io.StringIO(), err=err) == 2
    assert "big.jsonl:1: not a trace record (a line longer than" in err.getvalue()


def test_run_reports_flow_errors_and_unreadable_scripts(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("sections:\n  main:\n    - anwser: {}\n")
    code, _, err = _run(str(broken), IVR_CALLER)
    assert code == 1 and "CK201" in err
    code, _, err = _run(IVR, str(tmp_path / "missing.caller.yaml"))
    assert code == 2 and "no such file" in err.lower()


def test_demo_serves_on_any_port_and_prints_the_summary_once_unescaped() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert demo_command.run(port=0, out=out, err=err) == 0, err.getvalue()
    text = out.getvalue()
    assert "tool call(s) served on http://127.0.0.1:" in text
    assert ":8765/" not in text  # the flow's demo URLs went to the port served
    (summary,) = [line for line in text.splitlines() if line.startswith("summary delivered")]
    assert summary.endswith('{"order_id": "B456", "issue": "order status", "resolved": true, '
                            '"sentiment": "positive"}')


def test_demo_runs_from_any_directory(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "interpreter", "demo", "--port", "0"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ended: caller_hangup" in result.stdout


def test_demo_webhook_alone_serves_the_example_tools_until_interrupted() -> None:
    process = subprocess.Popen([sys.executable, "-m", "interpreter", "demo", "--webhook",
                                "--port", "0"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        first = process.stdout.readline()
        url = re.search(r"tools at (http://127\.0\.0\.1:\d+/swaig)", first)
        assert url is not None, first
        request = urllib.request.Request(url[1], method="POST", data=json.dumps({
            "function": "check_order", "argument": {"parsed": [{"order_id": "B456"}]}}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.loads(answer.read())["response"] == "Order B456: out for delivery today"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.communicate()


def test_the_demos_say_when_their_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for demo in (demo_command.serve_webhook, demo_command.run):
            err = io.StringIO()
            assert demo(out=io.StringIO(), err=err, port=port) == run_command.EXIT_USAGE
            assert f"cannot listen on 127.0.0.1:{port}" in err.getvalue()
            assert "(try --port)" in err.getvalue()


def test_demo_webhook_takes_only_a_port() -> None:
    result = subprocess.run([sys.executable, "-m", "interpreter", "demo", "--webhook",
                             "--audio"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--webhook only serves the webhook" in result.stderr


def test_demo_reads_the_bundled_example_files() -> None:
    name, raw = demo_command.bundled("support.caller.yaml")
    assert name == "flows/support.caller.yaml" and raw.startswith(b"#")


def test_json_output_redacts_secrets_in_variables(tmp_path: Path) -> None:
    flow = _write(tmp_path, "f.yaml", "sections:\n  main:\n    - answer: {}\n"
                  "    - set: {db_password: hunter2, api_url: 'https://u:pw@example.com/x'}\n"
                  "    - hangup: {}\n")
    code, out, _ = _run(flow, _write(tmp_path, "c.yaml", "steps: []\n"), as_json=True)
    variables = json.loads(out)["variables"]
    assert code == 0 and variables["db_password"] == "***"
    assert "pw@" not in variables["api_url"] and "hunter2" not in out


def test_webhooks_the_destination_policy_refuses_are_warned_of_before_the_call() -> None:
    flow = compile_text(Path(SUPPORT).read_text(), "support.yaml")
    warnings = run_command.refused_webhooks(flow, DestinationPolicy())
    assert warnings == [
        "warning: the webhook http://127.0.0.1:8765/post_prompt is a loopback address (set "
        "CALLKERNEL_ALLOW_LOOPBACK=1 for development): requests to it will fail",
        "warning: the webhook http://127.0.0.1:8765/swaig is a loopback address (set "
        "CALLKERNEL_ALLOW_LOOPBACK=1 for development): requests to it will fail"]
    assert run_command.refused_webhooks(flow, DestinationPolicy(allow_loopback=True)) == []


def test_demo_transcribe_needs_audio() -> None:
    err = io.StringIO()
    assert demo_command.run(out=io.StringIO(), err=err, port=0, transcribe=True) == \
        run_command.EXIT_USAGE
    assert "--transcribe needs --audio" in err.getvalue()
