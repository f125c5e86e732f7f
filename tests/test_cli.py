"""The command line: exit codes, output formats, stdin, and `python cli.py` parity."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import cli
from interpreter.cli import ENVIRONMENT

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


def test_describe_names_methods_as_swml_spells_them(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.yaml", "sections:\n  main:\n    - answer: {}\n"
                  "    - send_digits: {digits: '1'}\n    - record_call: {}\n"
                  "    - stop_record_call: {}\n    - hangup: {}\n")
    code, out, _ = _run(["describe", path])
    assert code == 0
    assert "section main: answer, send_digits, record_call, stop_record_call, hangup" in out


def test_python_cli_py_behaves_like_the_console_script(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", BROKEN)
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "lint", path],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 1
    assert "CK201" in result.stdout
    helped = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--help"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert helped.returncode == 0 and "lint" in helped.stdout and "exit codes" in helped.stdout


def test_version_names_the_package_version() -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(["--version"])
    assert exit_.value.code == 0
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = subprocess.run([sys.executable, "-m", "interpreter", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, f"callkernel {version}\n")


COMMANDS = ["lint", "compile", "describe", "run", "console", "test", "demo", "trace",
            "schema", "serve", "token", "push", "flows", "versions", "publish", "rollback",
            "start", "calls", "call"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_lists_exit_codes_and_environment(command: str) -> None:
    code, out, _ = _run([command, "--help"])
    assert code == 0
    assert "exit codes:\n  0  " in out
    assert "environment" in out and "docs: docs/cli.md" in out
    if command == "run":
        for name in ENVIRONMENT:
            assert name in out


def test_console_script_lives_in_the_package_and_cli_py_is_only_a_shim() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"callkernel": "interpreter.cli:main"}
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert "cli.py" not in wheel.get("force-include", {})  # no top-level module `cli`
    assert wheel["force-include"]["flows"] == "interpreter/flows"  # what the demo runs
    assert cli.main is __import__("interpreter.cli", fromlist=["main"]).main


# Distributions used without an import of their own name.
_IMPORTED_AS = {"ruamel.yaml": "ruamel.yaml", "espeakng-loader": "espeakng_loader",
                "webrtcvad-wheels": "webrtcvad", "text2num": "text_to_num",
                "prometheus-client": "prometheus_client"}
_USED_INDIRECTLY = {"ruamel.yaml.clib",  # ruamel's C parser
                    "tzdata"}  # zoneinfo's fallback database


def test_dependencies_are_all_imported_somewhere() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = {re.split(r"[<>=\[ ]", dep, maxsplit=1)[0]
             for dep in project["project"]["dependencies"]}
    source = "\n".join(path.read_text() for path in (ROOT / "interpreter").rglob("*.py"))
    unused = [name for name in sorted(names - _USED_INDIRECTLY)
              if not re.search(rf"^\s*(import|from) {re.escape(_IMPORTED_AS.get(name, name))}\b",
                               source, re.MULTILINE)]
    assert unused == []


@pytest.mark.parametrize("argv", [["compile", str(ROOT / "flows" / "support.yaml")],
                                  ["schema"], ["describe", str(ROOT / "flows")]])
def test_a_closed_pipe_ends_quietly(argv: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write: `| head -0`
    try:
        result = subprocess.run([sys.executable, str(ROOT / "cli.py"), *argv],
                                stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert result.returncode == 0
    assert result.stderr == b""


def test_a_closed_pipe_ends_the_trace_command_quietly(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text("".join(json.dumps({"n": n, "t": n / 10, "kind": "event"}) + "\n"
                             for n in range(20_000)))
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as reader:
        process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "trace", str(trace)],
                                   stdout=write_end, stderr=subprocess.PIPE)
        os.close(write_end)
        reader.read(100)  # `| head -c 100`
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert err == b""


FLOW_SERVED = b"sections:\n  main:\n    - answer: {}\n    - hangup: {}\n"


@pytest.fixture
def flow_server() -> Iterator[str]:
    """An application serving a flow to POSTs with Basic auth alice:hunter2."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            wanted = "Basic " + base64.b64encode(b"alice:hunter2").decode()
            status, body = (200, FLOW_SERVED) if self.headers.get("Authorization") == wanted \
                else (401, b"")
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_describe_and_compile_fetch_a_url_without_printing_its_credentials(
        flow_server: str) -> None:
    code, out, err = _run(["describe", f"http://alice:hunter2@{flow_server}/flow"])
    assert code == 0, err
    assert f"http://***@{flow_server}/flow" in out and "hunter2" not in out
    assert "section main: answer, hangup" in out
    code, out, _ = _run(["compile", "--hash", f"http://alice:hunter2@{flow_server}/flow"])
    assert code == 0 and out.startswith("sha256:")
    code, out, err = _run(["describe", f"http://alice:wrong@{flow_server}/flow"])
    assert (code, out) == (2, "")
    assert "HTTP 401" in err and "wrong" not in err
