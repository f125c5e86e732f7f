"""`callkernel push|flows|versions|publish|rollback` against a real server:
the REST app on a real SQLite store, served on 127.0.0.1 from a thread with
its own event loop, so that the commands (which run their own loop) are
called directly, as the command line calls them."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiohttp import web

from interpreter.cli import main
from interpreter.commands import lint as lint_command
from interpreter.commands import remote, routes
from interpreter.commands.remote_client import ServerFlags
from interpreter.server.app import build_app
from interpreter.server.auth import create_token
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Scope

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "flows" / "support.yaml"
CLEAN = "sections:\n  main:\n    - answer: {}\n    - hangup: {}\n"
BROKEN = "sections:\n  main:\n    - anwser: {}\n    - hangup: {to: 3}\n"
WARNS = "sections:\n  main:\n    - answer: {}\n  spare:\n    - hangup: {}\n"
STARTUP_LIMIT_S = 10.0


@dataclass(frozen=True)
class Served:
    url: str
    secret: str  # read + flows
    reader: str  # read only

    def flags(self, token: str | None = None) -> ServerFlags:
        return ServerFlags(self.url, token or self.secret)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    """The REST app on a fresh SQLite store, on a free loopback port."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    made: dict[str, object] = {}
    running: list[tuple[web.AppRunner, SqliteStore]] = []

    async def start() -> tuple[web.AppRunner, SqliteStore]:
        store = await SqliteStore.open(tmp_path / "data" / "callkernel.db")
        runner = web.AppRunner(build_app(store))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        made["port"] = runner.addresses[0][1]
        _, made["secret"] = await create_token(store, "author", {Scope.READ, Scope.FLOWS})
        _, made["reader"] = await create_token(store, "reader", {Scope.READ})
        return runner, store

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            running.append(loop.run_until_complete(start()))
        finally:
            ready.set()  # a failed start is reported by the assert below, not a wait
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(STARTUP_LIMIT_S) and running, "the server did not start"
    try:
        yield Served(f"http://127.0.0.1:{made['port']}", str(made["secret"]),
                     str(made["reader"]))
    finally:
        runner, store = running[0]

        async def stop() -> None:
            await runner.cleanup()
            await store.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(STARTUP_LIMIT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STARTUP_LIMIT_S)
        loop.close()


Command = Callable[..., int]


def call(command: Command, *args: object, **kwargs: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    kwargs.setdefault("environ", {})
    code = command(*args, out=out, err=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def lint(path: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    lint_command.run([path], out=out, err=err)
    return out.getvalue(), err.getvalue()


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- push -------------------------------------------------------------------

def test_push_stores_a_version_and_names_it_by_the_file(server: Served) -> None:
    code, out, err = call(remote.push, str(SUPPORT), flags=server.flags())
    assert code == 0, err
    line = out.splitlines()[-1]
    assert line.startswith("pushed support version 1 (sha256:") and line.endswith(")")
    assert len(line.split("sha256:")[1]) == 64 + 1  # 64 hex digits and ")"
    code, out, _ = call(remote.push, str(SUPPORT), flags=server.flags())
    assert out.splitlines()[-1].startswith("pushed support version 2 ")


@pytest.mark.parametrize(("name", "text"), [("Bad.yaml", BROKEN), ("bad.json", None)])
def test_push_of_a_broken_document_prints_what_lint_prints(
        server: Served, tmp_path: Path, name: str, text: str | None) -> None:
    if text is None:  # the same mistake, as JSON
        text = json.dumps({"sections": {"main": [{"anwser": {}}, {"hangup": {"to": 3}}]}})
    path = write(tmp_path, name, text)
    code, out, err = call(remote.push, path, flags=server.flags())
    assert code == 1
    assert (out, err) == lint(path)
    assert out.count("\n") >= 2 and f"{path}:" in out and "CK201" in out
    # Nothing was stored under the name the file gives (lowercased).
    assert call(remote.versions, "bad", flags=server.flags())[0] == 1


def test_push_prints_warnings_as_lint_does_before_the_pushed_line(
        server: Served, tmp_path: Path) -> None:
    path = write(tmp_path, "warn.yaml", WARNS)
    code, out, err = call(remote.push, path, flags=server.flags())
    lint_out, lint_err = lint(path)
    assert code == 0 and lint_out
    assert out.startswith(lint_out) and err == lint_err
    assert out[len(lint_out):].startswith("pushed warn version 1 ")


def test_push_publish_makes_the_version_live(server: Served, tmp_path: Path) -> None:
    path = write(tmp_path, "hello.yml", CLEAN)
    code, out, _ = call(remote.push, path, name="greeter", publish=True, flags=server.flags())
    assert code == 0
    pushed, published = out.splitlines()[-2:]
    assert pushed.startswith("pushed greeter version 1 (sha256:")
    assert published == "greeter version 1 is live"
    code, out, _ = call(remote.flows, as_json=True, flags=server.flags())
    assert json.loads(out)["flows"][0] | {"updated_at": 0} == {
        "name": "greeter", "versions": 1, "latest": 1, "live": 1, "updated_at": 0}


@pytest.mark.parametrize(("file", "name", "said"), [
    ("notes.txt", None, "a flow is pushed from a .yaml, .yml or .json file"),
    ("my flow.yaml", None, "'my flow' (from "),
    ("ok.yaml", "Upper", "'Upper' (--name) is not a flow name"),
])
def test_push_refuses_what_the_server_would_before_sending(
        server: Served, tmp_path: Path, file: str, name: str | None, said: str) -> None:
    path = write(tmp_path, file, CLEAN)
    code, out, err = call(remote.push, path, name=name, flags=server.flags())
    assert (code, out) == (2, "")
    assert err.startswith("callkernel push: ") and said in err and err.count("\n") == 1


def test_push_of_a_missing_file_is_a_usage_error(server: Served, tmp_path: Path) -> None:
    code, _, err = call(remote.push, str(tmp_path / "gone.yaml"), flags=server.flags())
    assert code == 2 and "gone.yaml: No such file or directory" in err


def test_push_with_a_read_only_token_exits_two_naming_the_scope(server: Served) -> None:
    code, out, err = call(remote.push, str(SUPPORT), flags=server.flags(server.reader))
    assert (code, out) == (2, "")
    assert "needs a token with the 'flows' scope (403 forbidden)" in err


# -- flows, versions, publish, rollback ---------------------------------------

def test_flows_lists_name_versions_latest_and_live(server: Served, tmp_path: Path) -> None:
    clean = write(tmp_path, "alpha.yaml", CLEAN)
    for _ in range(2):
        call(remote.push, clean, flags=server.flags())
    call(remote.push, str(SUPPORT), publish=True, flags=server.flags())
    code, out, err = call(remote.flows, flags=server.flags(server.reader))
    assert code == 0 and err == "2 stored flow(s), 0 bound to a URL\n"
    header, alpha, support = (line.split() for line in out.splitlines())
    assert header == ["NAME", "VERSIONS", "LATEST", "LIVE", "UPDATED"]
    assert alpha[:4] == ["alpha", "2", "2", "-"]
    assert support[:4] == ["support", "1", "1", "1"]


def test_flows_lists_bound_flows_beside_stored_ones_and_counts_each(
        server: Served, tmp_path: Path) -> None:
    call(remote.push, write(tmp_path, "middle.yaml", CLEAN), flags=server.flags())
    for name in ("zulu", "alpha"):
        code, _, err = call(routes.bind, name, f"https://swml.example/{name}",
                            flags=server.flags())
        assert code == 0, err
    code, out, err = call(remote.flows, flags=server.flags(server.reader))
    assert code == 0 and err == "1 stored flow(s), 2 bound to a URL\n"
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [row[:4] for row in rows] == [["alpha", "-", "-", "bound"],
                                         ["middle", "1", "1", "-"],
                                         ["zulu", "-", "-", "bound"]]


def test_versions_lists_each_version_with_the_live_one_marked(
        server: Served, tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", CLEAN)
    call(remote.push, path, flags=server.flags())
    call(remote.push, write(tmp_path, "flow.json", json.dumps(
        {"sections": {"main": [{"answer": {}}]}})), flags=server.flags())
    assert call(remote.publish, "flow", 1, flags=server.flags())[0] == 0
    code, out, _ = call(remote.versions, "flow", flags=server.flags())
    rows = [line.split() for line in out.splitlines()]
    assert code == 0 and rows[0][:3] == ["VERSION", "LIVE", "CREATED"]
    assert [row[:2] for row in rows[1:]] == [["1", "live"], ["2", "-"]]
    assert rows[1][4] == str(len(CLEAN)) and rows[1][-1].startswith("sha256:")
    code, out, _ = call(remote.versions, "flow", as_json=True, flags=server.flags())
    listed = json.loads(out)["versions"]
    assert [(v["version"], v["live"], v["media_type"]) for v in listed] == [
        (1, True, "application/yaml"), (2, False, "application/json")]


def test_versions_of_an_unknown_flow_exits_one_with_the_servers_detail(
        server: Served) -> None:
    code, out, err = call(remote.versions, "nothing", flags=server.flags())
    assert (code, out) == (1, "")
    assert err == "callkernel versions: no flow 'nothing' (404 not-found)\n"


def test_publish_then_rollback_moves_the_live_version(server: Served, tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", CLEAN)
    for _ in range(3):
        call(remote.push, path, flags=server.flags())
    assert call(remote.publish, "flow", 3, flags=server.flags()) == (
        0, "flow version 3 is live\n", "")
    assert call(remote.rollback, "flow", 1, flags=server.flags()) == (
        0, "rolled back flow: version 1 is live\n", "")
    flows = json.loads(call(remote.flows, as_json=True, flags=server.flags())[1])["flows"]
    assert flows[0]["live"] == 1


def test_rollback_to_a_version_not_older_exits_one_with_the_conflict(
        server: Served, tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", CLEAN)
    call(remote.push, path, publish=True, flags=server.flags())
    call(remote.push, path, flags=server.flags())
    code, out, err = call(remote.rollback, "flow", 2, flags=server.flags())
    assert (code, out) == (1, "")
    assert err == ("callkernel rollback: version 2 is newer than the live version (1): "
                   "publish it instead (409 conflict)\n")


def test_rollback_to_the_live_version_says_it_is_already_live(
        server: Served, tmp_path: Path) -> None:
    call(remote.push, write(tmp_path, "weather.yaml", CLEAN), publish=True,
         flags=server.flags())
    assert call(remote.rollback, "weather", 1, flags=server.flags()) == (
        1, "", "callkernel rollback: version 1 is already live (409 conflict)\n")


def test_rollback_with_nothing_live_says_there_is_nothing_to_roll_back_from(
        server: Served, tmp_path: Path) -> None:
    call(remote.push, write(tmp_path, "weather.yaml", CLEAN), flags=server.flags())
    assert call(remote.rollback, "weather", 1, flags=server.flags()) == (
        1, "", "callkernel rollback: flow 'weather' has no live version to roll back from: "
               "publish version 1 instead (409 conflict)\n")


def test_publish_of_an_unknown_version_exits_one(server: Served, tmp_path: Path) -> None:
    call(remote.push, write(tmp_path, "flow.yaml", CLEAN), flags=server.flags())
    code, _, err = call(remote.publish, "flow", 7, flags=server.flags())
    assert code == 1 and "flow 'flow' has no version 7 (404 not-found)" in err


# -- delete ---------------------------------------------------------------------

def test_delete_without_yes_says_what_it_would_delete_and_keeps_it(
        server: Served, tmp_path: Path) -> None:
    path = write(tmp_path, "weather.yaml", CLEAN)
    call(remote.push, path, flags=server.flags())
    call(remote.push, path, publish=True, flags=server.flags())
    assert call(remote.delete, "weather", flags=server.flags()) == (
        2, "", "callkernel delete: would delete flow weather (2 versions, version 2 live); "
               "add --yes to delete it\n")
    assert call(remote.versions, "weather", flags=server.flags())[0] == 0


def test_delete_with_yes_deletes_the_flow_and_its_versions(
        server: Served, tmp_path: Path) -> None:
    call(remote.push, write(tmp_path, "weather.yaml", CLEAN), flags=server.flags())
    assert call(remote.delete, "weather", yes=True, flags=server.flags()) == (
        0, "deleted flow weather and its versions\n", "")
    code, _, err = call(remote.versions, "weather", flags=server.flags())
    assert code == 1 and "no flow 'weather'" in err


def test_delete_of_an_unknown_flow_exits_one_with_the_servers_reason(server: Served) -> None:
    for yes in (False, True):
        assert call(remote.delete, "nothing", yes=yes, flags=server.flags()) == (
            1, "", "callkernel delete: no flow 'nothing' (404 not-found)\n"), yes


def test_delete_the_server_refuses_exits_one_with_its_reason(
        server: Served, tmp_path: Path) -> None:
    call(remote.push, write(tmp_path, "weather.yaml", CLEAN), flags=server.flags())
    table = write(tmp_path, "routes.yaml", "routes: []\ndefault: weather\n")
    assert call(routes.push, table, flags=server.flags())[0] == 0
    code, out, err = call(remote.delete, "weather", yes=True, flags=server.flags())
    assert (code, out) == (1, "")
    assert err.startswith("callkernel delete: ") and err.endswith("(409 conflict)\n")
    assert "routing table" in err


def test_delete_needs_the_flows_scope(server: Served, tmp_path: Path) -> None:
    call(remote.push, write(tmp_path, "weather.yaml", CLEAN), flags=server.flags())
    code, out, err = call(remote.delete, "weather", yes=True,
                          flags=server.flags(server.reader))
    assert (code, out) == (2, "") and "'flows' scope (403 forbidden)" in err


def test_the_command_line_deletes_only_with_yes(
        server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    call(remote.push, write(tmp_path, "weather.yaml", CLEAN), flags=server.flags())
    monkeypatch.setenv("CALLKERNEL_SERVER_URL", server.url)
    monkeypatch.setenv("CALLKERNEL_TOKEN", server.secret)
    assert main(["delete", "weather"]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert main(["delete", "weather", "--yes"]) == 0
    assert capsys.readouterr().out == "deleted flow weather and its versions\n"


# -- reaching the server -------------------------------------------------------

def test_a_token_the_server_does_not_know_exits_two_without_showing_it(
        server: Served) -> None:
    code, out, err = call(remote.flows, flags=server.flags("ck_not-a-real-token"))
    assert (code, out) == (2, "")
    assert err.startswith("callkernel flows: the server does not accept the token: ")
    assert "CALLKERNEL_TOKEN" in err and "ck_not-a-real-token" not in err


def test_a_server_that_is_down_exits_two_naming_the_url() -> None:
    with socket.socket() as bound:  # bound, never listening: connecting is refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        code, out, err = call(remote.flows, flags=ServerFlags(url, "ck_x"))
    assert (code, out) == (2, "")
    assert err == f"callkernel flows: cannot reach the server at {url}: Connection refused\n"


def test_a_server_that_never_answers_times_out_with_exit_two() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        code, _, err = call(remote.versions, "flow",
                            flags=ServerFlags(url, "ck_x", timeout=0.2))
    assert code == 2
    assert err == (f"callkernel versions: the server at {url.rstrip('/')} did not answer "
                   "within 0.2 s\n")


class _WebPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>a web page</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_another_program_at_the_url_is_not_taken_for_the_server() -> None:
    web_server = ThreadingHTTPServer(("127.0.0.1", 0), _WebPage)
    thread = threading.Thread(target=web_server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{web_server.server_address[1]}"
        code, out, err = call(remote.flows, flags=ServerFlags(url, "ck_x"))
    finally:
        web_server.shutdown()
        web_server.server_close()
    assert (code, out) == (2, "")
    assert err == (f"callkernel flows: {url} answered 200 (text/html), which is not the "
                   "callkernel API's answer: is the URL the server's?\n")


@pytest.mark.parametrize(("flags", "environ", "said"), [
    (ServerFlags(None, "ck_x"), {}, "no server: give --server URL or set "
                                    "CALLKERNEL_SERVER_URL"),
    (ServerFlags("http://127.0.0.1:9", None), {}, "no token: give --token or set "
                                                  "CALLKERNEL_TOKEN"),
    (ServerFlags(None, None), {"CALLKERNEL_SERVER_URL": "127.0.0.1:8080",
                               "CALLKERNEL_TOKEN": "ck_x"}, "is not an http(s) URL"),
    (ServerFlags("http://127.0.0.1:9", "ck_x", timeout=0), {}, "--timeout 0"),
    # The commands add /v1/... themselves; a URL with it would ask for /v1/v1/...
    (ServerFlags("http://127.0.0.1:9/v1/", "ck_x"), {}, "http://127.0.0.1:9/v1/ ends in "
     "/v1: give the server's base URL (http://127.0.0.1:9); the commands add /v1/..."),
    (ServerFlags(None, None), {"CALLKERNEL_SERVER_URL": "http://127.0.0.1:9/api/v1",
                               "CALLKERNEL_TOKEN": "ck_x"}, "base URL (http://127.0.0.1:9/api)"),
])
def test_missing_or_bad_server_settings_exit_two_before_any_request(
        flags: ServerFlags, environ: dict[str, str], said: str) -> None:
    code, out, err = call(remote.flows, flags=flags, environ=environ)
    assert (code, out) == (2, "")
    assert said in err and err.count("\n") == 1


def test_the_environment_names_the_server_and_token(server: Served) -> None:
    environ = {"CALLKERNEL_SERVER_URL": server.url + "/", "CALLKERNEL_TOKEN": server.secret}
    assert call(remote.flows, flags=ServerFlags(), environ=environ)[0] == 0
    # A flag wins over the variable.
    code, _, err = call(remote.flows, flags=ServerFlags(token="ck_wrong"), environ=environ)
    assert code == 2 and "does not accept the token" in err


# -- the command line, end to end ----------------------------------------------

def test_callkernel_push_from_a_subprocess(server: Served, tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", BROKEN)
    env = {**os.environ, "CALLKERNEL_SERVER_URL": server.url,
           "CALLKERNEL_TOKEN": server.secret}
    env.pop("CALLKERNEL_SERVER_CONFIG", None)
    argv = [sys.executable, "-m", "interpreter", "push"]
    broken = subprocess.run([*argv, path], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=60)
    assert broken.returncode == 1
    assert (broken.stdout, broken.stderr) == lint(path)
    good = subprocess.run([*argv, str(SUPPORT), "--publish"], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60)
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines()[-1] == "support version 1 is live"
