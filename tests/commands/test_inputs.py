"""Reading inputs: files and stdin are read with a limit, never whole."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from interpreter.commands.inputs import UnreadableInput, read


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
