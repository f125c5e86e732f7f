"""Reading inputs: files and stdin are read with a limit, never whole."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from interpreter.commands import run as run_command
from interpreter.commands.inputs import UnreadableInput, output_problem, read

FLOWS = Path(__file__).resolve().parents[2] / "flows"


def test_a_file_within_the_limit_is_read(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_bytes(b"a: 1\n")
    assert read(str(flow), limit=5) == b"a: 1\n"


def test_a_longer_file_is_refused_after_limit_plus_one_bytes(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_bytes(b"a: 1\n")
    with pytest.raises(UnreadableInput, match="larger than 4 bytes"):
        read(str(flow), limit=4)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_file_is_not_read_whole() -> None:
    # `lint /dev/zero` ran out of memory.
    started = time.perf_counter()
    with pytest.raises(UnreadableInput, match="/dev/zero: larger than"):
        read("/dev/zero")
    assert time.perf_counter() - started < 5.0


class _Endless(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        buffer[:] = b"#" * len(buffer)
        return len(buffer)


def test_stdin_is_read_with_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BufferedReader(_Endless()))
    monkeypatch.setattr(sys, "stdin", stdin)
    with pytest.raises(UnreadableInput, match="<stdin>: larger than 1,000 bytes"):
        read("-", limit=1000)


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInput, match="No such file"):
        read(str(tmp_path / "missing.yaml"))


def test_an_output_the_call_would_fail_to_write_is_refused_before_it(tmp_path: Path) -> None:
    assert output_problem(str(tmp_path / "call.wav"), "recording", ".wav") is None
    assert not (tmp_path / "call.wav").exists()  # checking leaves nothing behind
    (tmp_path / "kept.wav").write_bytes(b"old")
    assert output_problem(str(tmp_path / "kept.wav"), "recording", ".wav") is None
    assert (tmp_path / "kept.wav").read_bytes() == b"old"
    assert output_problem(str(tmp_path / "call.mp3"), "recording", ".wav") == \
        "the recording is written as WAV: name it call.wav"
    assert output_problem(str(tmp_path / "no" / "x.png"), "timeline", ".png") == \
        f"cannot write the timeline to {tmp_path / 'no' / 'x.png'}: no folder {tmp_path / 'no'}"
    (tmp_path / "dir.png").mkdir()
    assert "it is a directory" in str(output_problem(str(tmp_path / "dir.png"), "timeline",
                                                     ".png"))


@pytest.mark.parametrize("option", ["record", "timeline"])
def test_run_refuses_an_output_it_cannot_write_before_the_call(tmp_path: Path,
                                                               option: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    target = str(tmp_path / "missing" / ("x.wav" if option == "record" else "x.png"))
    code = run_command.run(str(FLOWS / "ivr.yaml"), str(FLOWS / "ivr.caller.yaml"), out=out,
                           err=err, audio=True, **{option: target})  # type: ignore[arg-type]
    assert code == run_command.EXIT_USAGE
    assert out.getvalue() == ""  # no call ran
    assert "cannot write the" in err.getvalue()
