"""The command line: exit codes, output formats, stdin, and `python cli.py` parity."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import cli

ROOT = Path(__file__).resolve().parents[1]
CLEAN = "sections:\n  main:\n    - answer: {}\n    - hangup: {}\n"
BROKEN = "sections:\n  main:\n    - anwser: {}\n"
WARNS = "sections:\n  main:\n    - answer: {}\n  spare:\n    - hangup: {}\n"


def _run(argv: list[str], stdin: str = "",
         monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr, sys.stdin
    sys.stdout, sys.stderr = out, err
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()))
    try:
        try:
            code = cli.main(argv)
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    finally:
        sys.stdout, sys.stderr, sys.stdin = old
    return code, out.getvalue(), err.getvalue()


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_lint_clean_file_exits_zero(tmp_path: Path) -> None:
    code, out, err = _run(["lint", _write(tmp_path, "ok.yaml", CLEAN)])
    assert (code, out) == (0, "")
    assert "0 error(s), 0 warning(s)" in err


def test_lint_errors_exit_one_with_located_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", BROKEN)
    code, out, _ = _run(["lint", path])
    assert code == 1
    assert out == f'{path}:3:7: error CK201 unknown method "anwser" (did you mean "answer"?)\n'


def test_lint_warnings_fail_only_with_strict(tmp_path: Path) -> None:
    path = _write(tmp_path, "warn.yaml", WARNS)
    assert _run(["lint", path])[0] == 0
    assert _run(["lint", "--strict", path])[0] == 1


def test_lint_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = _run(["lint", str(tmp_path / "nope.yaml")])
    assert code == 2 and "no such file" in err


def test_lint_unknown_option_is_a_usage_error() -> None:
    assert _run(["lint", "--bogus", "x.yaml"])[0] == 2


def test_lint_json_format(tmp_path: Path) -> None:
    code, out, _ = _run(["lint", "--format", "json", _write(tmp_path, "bad.yaml", BROKEN)])
    report = json.loads(out)
    assert code == 1 and report["errors"] == 1
    (diagnostic,) = report["diagnostics"]
    assert (diagnostic["code"], diagnostic["line"], diagnostic["col"]) == ("CK201", 3, 7)
    assert diagnostic["hint"] == 'did you mean "answer"?'


def test_lint_reads_stdin_and_walks_directories(tmp_path: Path) -> None:
    assert _run(["lint", "-"], stdin=BROKEN)[0] == 1
    _write(tmp_path, "a.yaml", CLEAN)
    _write(tmp_path, "b.json", json.dumps({"sections": {"main": [{"answer": {}}]}}))
    code, _, err = _run(["lint", str(tmp_path)])
    assert code == 0 and "in 2 files" in err


def test_lint_context_shows_the_source_line_and_caret(tmp_path: Path) -> None:
    _, out, _ = _run(["lint", "--context", _write(tmp_path, "bad.yaml", BROKEN)])
    assert out.splitlines()[1:] == ["        - anwser: {}", "          ^"]


def test_compile_prints_sorted_json_and_hash(tmp_path: Path) -> None:
    path = _write(tmp_path, "ok.yaml", CLEAN)
    code, out, _ = _run(["compile", path])
    body = json.loads(out)
    assert code == 0
    assert body["content_hash"].startswith("sha256:")
    assert [v["$type"] for v in body["flow"]["sections"][0]["body"]] == ["Answer", "Hangup"]
    assert list(body) == sorted(body)
    assert _run(["compile", "--hash", path])[1].strip() == body["content_hash"]


def test_compile_errors_exit_one(tmp_path: Path) -> None:
    code, out, err = _run(["compile", _write(tmp_path, "bad.yaml", BROKEN)])
    assert (code, out) == (1, "") and "CK201" in err


def test_schema_prints_the_published_schema() -> None:
    code, out, _ = _run(["schema"])
    assert code == 0
    assert json.loads(out)["$id"] == "https://callkernel.dev/schemas/flow.schema.json"


def test_describe_summarises_contexts_steps_and_tools() -> None:
    code, out, _ = _run(["describe", str(ROOT / "flows" / "appointment_booking.yaml")])
    assert code == 0
    assert "step find_slot → confirm, greeting" in out
    assert "tool check_availability: webhook" in out


def test_python_cli_py_behaves_like_the_console_script(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", BROKEN)
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "lint", path],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 1
    assert "CK201" in result.stdout
    helped = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--help"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert helped.returncode == 0 and "lint" in helped.stdout and "exit codes" in helped.stdout
