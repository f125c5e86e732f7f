"""`callkernel console`: a call with typed lines, piped in as the tests drive it.

Most tests run on the virtual clock with the input read ahead
(`real_time=False`), so a conversation of a minute finishes at once; one
runs the command in a subprocess on the wall clock with a pipe, as a user
piping a file would.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import soundfile

from interpreter.cli import build_parser
from interpreter.commands import console
from interpreter.transports.typed_caller import HELP

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = str(ROOT / "flows" / "support.yaml")
IVR = str(ROOT / "flows" / "ivr.yaml")
IVR_CALLER = str(ROOT / "flows" / "ivr.caller.yaml")
KEY_FLOW = """\
sections:
  main:
    - answer: {}
    - prompt:
        play: "say:Press a key."
        max_digits: 1
        initial_timeout: 10
    - play: {url: "say:You pressed %{prompt_value}."}
    - hangup: {}
"""


def _console(flow: str, typed: str, **options: Any) -> tuple[int, list[str], str]:
    """Exit code, the conversation's lines (time, who, text joined by one
    space), and standard error."""
    out, err = io.StringIO(), io.StringIO()
    code = console.run(flow, stdin=io.StringIO(typed), out=out, err=err, real_time=False,
                       **options)
    lines = [" ".join(line.split()) for line in out.getvalue().splitlines()]
    return code, lines, err.getvalue()


def _texts(lines: list[str]) -> list[str]:
    return [line.split(" ", 1)[1] for line in lines if line[:1].isdigit()]


def _at(lines: list[str], text: str) -> float:
    return next(float(line.split()[0]) for line in lines if line.endswith(text))


def test_piped_lines_go_when_the_agent_has_finished_its_turn() -> None:
    code, lines, _ = _console(SUPPORT, "Hi, I'm calling about my order.\n\n"
                              "No, that's all, thanks.\n")
    texts = _texts(lines)
    assert code == 0
    assert texts.index("agent How can I help you today?") < \
        texts.index("caller Hi, I'm calling about my order.") < \
        texts.index("agent Sure, I can check that.") < \
        texts.index("caller No, that's all, thanks.") < \
        texts.index("agent Thanks for calling Acme Outdoor Gear.")
    assert not any("cut off" in text or "barge-in" in text for text in texts)
    # The end of input hangs up after the agent's answer to the last line.
    assert texts[-3:] == ["caller hangs up", "call call is ended", "call ended: caller_hangup"]
    assert _at(lines, "caller hangs up") > _at(lines, "agent Goodbye!")


def test_digits_drive_the_ivr_menu_down_to_voicemail() -> None:
    typed = "/digits 3\n/digits 0\nHi, this is Sam. Please call me back.\n/digits #\n"
    code, lines, _ = _console(IVR, typed, caller_path=IVR_CALLER)
    texts = _texts(lines)
    assert code == 0
    assert texts.index("caller presses 3") < texts.index("call prompt: match_digits 3") < \
        texts.index("agent We are open Monday to Friday from 8 AM to 8 PM, and Saturday "
                    "from 9 AM to 5 PM.")
    assert "call connect failed: busy" in texts  # the caller script's destination
    # While recording, the agent says nothing: the # goes once the call is quiet.
    assert texts.index("caller Hi, this is Sam. Please call me back.") < \
        texts.index("caller presses #") < \
        texts.index("agent Thank you. We will call you back at +15551230000.")
    assert texts[-1] == "call ended: hangup:hangup"


def test_typed_lines_go_at_once_and_can_barge_in() -> None:
    typed = "/wait 1\nHi, I'm calling about my order.\n/wait 1\n"
    code, lines, err = _console(SUPPORT, typed, interactive=True)
    texts = _texts(lines)
    assert code == 0
    assert any(text.startswith("call barge-in; agent was heard saying:") for text in texts)
    # Ctrl-D (a second later) hangs up at once: the agent's answer is cut off.
    assert texts.index("caller hangs up") < texts.index("call ended: caller_hangup")
    assert any(text.startswith('agent (cut off; heard: "Sure,') for text in texts)
    assert _at(lines, "caller hangs up") - _at(lines, "caller Hi, I'm calling about my order.") \
        < 1.1
    assert "You are the caller" in err and HELP in err


def test_help_and_bad_lines_are_answered_on_stderr_and_not_said() -> None:
    code, lines, err = _console(SUPPORT, "/help\n/digits 12x\n/sing\n/wait soon\n")
    assert code == 0
    assert HELP in err
    assert "/digits takes DTMF keys" in err and "unknown command /sing" in err
    assert "/wait takes seconds" in err
    assert not any(" caller " in f" {line} " and "/" in line for line in lines)


def test_audio_line_is_heard_by_the_recognizer_and_the_call_recorded(tmp_path: Path) -> None:
    wav = tmp_path / "call.wav"
    code, lines, err = _console(SUPPORT, "Hi, I'm calling about my order.\n", audio=True,
                                record=str(wav))
    texts = _texts(lines)
    assert code == 0
    assert 'call recognized: "hi i\'m calling about my order"' in texts
    assert texts.index("caller Hi, I'm calling about my order.") < \
        texts.index('call recognized: "hi i\'m calling about my order"') < \
        texts.index("agent Sure, I can check that.")
    assert f"recorded in {wav}" in err
    audio, rate = soundfile.read(str(wav), dtype="int16")
    assert rate == 16_000 and audio.shape[1] == 2
    assert len(audio) / rate > 5.0
    assert abs(audio[:, 0]).max() > 1000 and abs(audio[:, 1]).max() > 1000  # both sides spoke


def test_audio_records_to_the_default_file_unless_told_not_to(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    flow = tmp_path / "f.yaml"
    flow.write_text("sections:\n  main:\n    - answer: {}\n    - play: {url: 'say:Hi.'}\n"
                    "    - hangup: {}\n")
    assert _console(str(flow), "", audio=True, no_record=True)[0] == 0
    assert not (tmp_path / console.DEFAULT_RECORDING).exists()
    assert _console(str(flow), "", audio=True)[0] == 0
    assert (tmp_path / console.DEFAULT_RECORDING).stat().st_size > 44


def test_usage_and_document_errors_exit_as_run_does(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(KEY_FLOW)
    code, _, err = _console(str(flow), "", record="x.wav")
    assert code == 2 and "--record needs --audio" in err
    assert _console(str(tmp_path / "missing.yaml"), "")[0] == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("sections:\n  main:\n    - answr: {}\n")
    assert _console(str(bad), "")[0] == 1


def test_trace_is_written(tmp_path: Path) -> None:
    flow, trace = tmp_path / "f.yaml", tmp_path / "t.jsonl"
    flow.write_text(KEY_FLOW)
    trace.write_text("old\n")
    _console(str(flow), "/digits 5\n", trace_path=str(trace))
    text = trace.read_text()
    assert not text.startswith("old") and '"kind": "call_ended"' in text.replace('":"', '": "')


def test_console_is_a_command_with_run_s_options() -> None:
    args = build_parser().parse_args(["console", "f.yaml", "--audio", "--record", "c.wav",
                                      "--model-script", "m.yaml", "--trace", "t.jsonl"])
    assert (args.command, args.audio, args.record, args.no_record) == \
        ("console", True, "c.wav", False)


def test_a_piped_file_drives_the_command_on_the_wall_clock(tmp_path: Path) -> None:
    flow = tmp_path / "key.yaml"
    flow.write_text(KEY_FLOW)
    done = subprocess.run([sys.executable, "-m", "interpreter", "console", str(flow)],
                          input="/digits 7\n", capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    texts = _texts([" ".join(line.split()) for line in done.stdout.splitlines()])
    assert done.returncode == 0, done.stderr
    assert texts.index("agent Press a key.") < texts.index("caller presses 7") < \
        texts.index("agent You pressed 7.")
    assert texts[-1] == "call ended: hangup:hangup"
    assert "You are the caller" not in done.stderr  # no banner for piped input


def test_help_lists_exit_codes_environment_and_docs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["console", "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert "exit codes:\n  0  " in out and "CALLKERNEL_LLM_BASE_URL" in out
    assert "docs: docs/cli.md" in out and "/digits" in out


def test_the_call_is_drawn_when_asked(tmp_path: Path) -> None:
    picture = tmp_path / "console.png"
    code, _, err = _console(SUPPORT, "Hi, I'm calling about my order.\n",
                            timeline=str(picture))
    assert code == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"timeline: {picture}" in err
    code, _, err = _console(SUPPORT, "hello\n", timeline=str(tmp_path / "x.jpg"))
    assert code == 2 and "name it x.png" in err
