"""`callkernel serve` and `callkernel token`: the server process, its logs,
its shutdown, and tokens made on its data directory."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import cli
from interpreter.cli import build_parser
from interpreter.commands import serve as serve_command
from interpreter.commands import token as token_command
from interpreter.destinations import DestinationPolicy
from interpreter.server.config import ServerSettings, resolve
from interpreter.server.events import CallEvents
from interpreter.server.metrics import CallMetrics
from interpreter.server.store import Scope
from interpreter.signing import RequestSigner, verify

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "flows" / "support.yaml"
STARTUP_LIMIT_S = 10.0
EXIT_LIMIT_S = 5.0
# Loopback requests must not wander off to a proxy from the environment.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        try:
            code = cli.main(argv)
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    finally:
        sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def _create_token(data_dir: Path, name: str, *scopes: str) -> dict[str, object]:
    argv = ["token", "create", name, "--json", "--data-dir", str(data_dir)]
    for scope in scopes:
        argv += ["--scope", scope]
    code, out, err = _main(argv)
    assert code == 0, err
    created: dict[str, object] = json.loads(out)
    return created


# -- tokens -----------------------------------------------------------------

def test_token_create_list_revoke_round_trip(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    created = _create_token(data_dir, "ci", "flows", "read")
    secret, token_id = str(created["secret"]), str(created["token_id"])
    assert secret.startswith("ck_") and token_id.startswith("tok_")
    assert created["scopes"] == ["flows", "read"] and created["revoked"] is False

    code, out, _ = _main(["token", "list", "--json", "--data-dir", str(data_dir)])
    assert code == 0
    assert [(t["token_id"], t["name"], t["revoked"]) for t in json.loads(out)] == \
        [(token_id, "ci", False)]
    assert secret not in out  # the secret is shown once, at creation

    code, out, _ = _main(["token", "revoke", token_id, "--data-dir", str(data_dir)])
    assert (code, out) == (0, f"revoked {token_id} (ci)\n")
    code, out, _ = _main(["token", "list", "--data-dir", str(data_dir)])
    header, row = (line.split() for line in out.splitlines())
    assert code == 0 and header == ["ID", "STATE", "CREATED", "SCOPES", "NAME"]
    assert row[:2] == [token_id, "revoked"] and row[-2:] == ["flows,read", "ci"]
    # The columns line up under the header, as flows' and calls' do.
    assert out.splitlines()[0].index("STATE") == out.splitlines()[1].index("revoked")


def test_token_create_text_output_shows_the_id_and_secret_once(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = token_command.create("deploy", ["admin"], data_dir=str(tmp_path), environ={},
                                out=out, err=err)
    assert code == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("token_id: tok_") and lines[1].startswith("secret:   ck_")
    assert "shown only now" in err.getvalue()
    assert lines[1].split()[1] not in err.getvalue()


def test_token_data_dir_comes_from_the_environment_too(tmp_path: Path) -> None:
    # Only the data directory matters to tokens: a server setting that is
    # wrong does not stop them.
    environ = {"CALLKERNEL_SERVER_DATA_DIR": str(tmp_path / "from-env"),
               "CALLKERNEL_SERVER_PORT": "not-a-port"}
    assert token_command.create("x", [Scope.READ.value], environ=environ,
                                out=io.StringIO(), err=io.StringIO()) == 0
    assert (tmp_path / "from-env" / "callkernel.sqlite3").is_file()


def test_token_revoke_unknown_id_exits_one(tmp_path: Path) -> None:
    _create_token(tmp_path, "ci", "read")
    code, _, err = _main(["token", "revoke", "tok_nope", "--data-dir", str(tmp_path)])
    assert code == 1 and "no token 'tok_nope'" in err


def test_token_list_does_not_create_a_store_where_none_is(tmp_path: Path) -> None:
    code, _, err = _main(["token", "list", "--data-dir", str(tmp_path / "typo")])
    assert code == 2 and "no store in" in err
    assert not (tmp_path / "typo").exists()


def test_token_create_needs_a_known_scope(tmp_path: Path) -> None:
    assert _main(["token", "create", "ci", "--data-dir", str(tmp_path)])[0] == 2
    code, _, err = _main(["token", "create", "ci", "--scope", "root", "--data-dir",
                          str(tmp_path)])
    assert code == 2 and "invalid choice: 'root'" in err


# -- serve, in process ------------------------------------------------------

def test_serve_refuses_a_bad_setting_before_starting(tmp_path: Path) -> None:
    err = io.StringIO()
    code = serve_command.run({"data_dir": str(tmp_path)},
                             {"CALLKERNEL_SERVER_PORT": "eighty"}, err=err)
    assert code == 2
    assert err.getvalue() == "callkernel serve: CALLKERNEL_SERVER_PORT=eighty: not a number\n"


def test_serve_exits_two_with_a_json_line_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = io.StringIO()
        code = serve_command.run({"data_dir": str(tmp_path), "port": str(port)}, {}, err=err)
    assert code == 2
    entry = json.loads(err.getvalue().splitlines()[-1])
    assert entry["level"] == "error"
    assert entry["message"].startswith(f"cannot listen on 127.0.0.1:{port}")


def test_json_log_lines_carry_the_request_fields() -> None:
    record = logging.LogRecord("callkernel.server.access", logging.INFO, __file__, 1,
                               "request", None, None)
    record.fields = {"method": "GET", "path": "/healthz", "status": 200, "ms": 1.25}
    entry = json.loads(serve_command.JsonLogFormatter().format(record))
    assert list(entry) == ["time", "level", "message", *serve_command.REQUEST_FIELDS]
    assert (entry["level"], entry["status"], entry["ms"]) == ("info", 200, 1.25)
    assert entry["time"].endswith("Z") and entry["time"][10] == "T"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until_listening(port: int) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            assert time.monotonic() < deadline, "not listening"
            await asyncio.sleep(0.01)
            continue
        writer.close()
        await writer.wait_closed()
        return


async def _until_refused(port: int) -> None:
    deadline = time.monotonic() + EXIT_LIMIT_S
    while True:
        assert time.monotonic() < deadline, "still accepting connections"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            return
        except ConnectionResetError:  # it was in the backlog as the listener closed
            continue
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.01)


def _held_app(entered: asyncio.Event, release: asyncio.Event,
              cancelled: list[bool]) -> web.Application:
    """An app whose one handler runs until `release` is set."""
    async def held(request: web.Request) -> web.Response:
        entered.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return web.Response(text="finished")

    app = web.Application()
    app.router.add_get("/held", held)
    return app


async def test_shutdown_stops_accepting_and_lets_a_running_handler_finish() -> None:
    entered, release, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
    cancelled: list[bool] = []
    port = _free_port()
    settings = ServerSettings(port=port, shutdown_timeout=EXIT_LIMIT_S)
    serving = asyncio.create_task(
        serve_command.run_app(_held_app(entered, release, cancelled), settings, stop))
    await _until_listening(port)
    async with aiohttp.ClientSession() as session:
        response = asyncio.create_task(session.get(f"http://127.0.0.1:{port}/held"))
        await asyncio.wait_for(entered.wait(), EXIT_LIMIT_S)
        stop.set()
        await _until_refused(port)  # no new connections while the handler still runs
        assert not serving.done()
        release.set()
        async with await response as answer:
            assert (answer.status, await answer.text()) == (200, "finished")
    await asyncio.wait_for(serving, EXIT_LIMIT_S)
    assert cancelled == []


async def test_shutdown_cancels_a_handler_still_running_at_the_deadline() -> None:
    entered, never, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
    cancelled: list[bool] = []
    port = _free_port()
    settings = ServerSettings(port=port, shutdown_timeout=0.2)
    serving = asyncio.create_task(
        serve_command.run_app(_held_app(entered, never, cancelled), settings, stop))
    await _until_listening(port)
    async with aiohttp.ClientSession() as session:
        response = asyncio.create_task(session.get(f"http://127.0.0.1:{port}/held"))
        await asyncio.wait_for(entered.wait(), EXIT_LIMIT_S)
        stop.set()
        await asyncio.wait_for(serving, EXIT_LIMIT_S)  # bounded by the deadline, not the handler
        with pytest.raises(aiohttp.ClientError):
            await response
    assert cancelled == [True]


def test_text_log_lines_put_fields_after_the_message() -> None:
    record = logging.LogRecord("callkernel.server", logging.WARNING, __file__, 1,
                               "listening", None, None)
    record.fields = {"host": "127.0.0.1", "port": 8080}
    line = serve_command.TextLogFormatter().format(record)
    assert line.endswith("Z warning listening host=127.0.0.1 port=8080")


# -- serve, as a process ----------------------------------------------------

class Server:
    """A `callkernel serve` subprocess on loopback, its log in a file."""

    def __init__(self, data_dir: Path, log: Path, *flags: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        environ = {key: value for key, value in os.environ.items()
                   if not key.startswith("CALLKERNEL_SERVER_")}
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "interpreter", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--data-dir", str(data_dir), *flags],
                cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=stderr)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                with HTTP.open(f"{self.base}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:  # not listening yet
                time.sleep(0.05)
        raise AssertionError(f"no /healthz within {STARTUP_LIMIT_S} s:\n{self.log.read_text()}")

    def request(self, method: str, path: str, secret: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {secret}"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(f"{self.base}{path}", data=body, method=method,
                                         headers=headers)
        try:
            with HTTP.open(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def terminate(self, signal_number: int = signal.SIGTERM) -> int:
        self.process.send_signal(signal_number)
        return self.process.wait(timeout=EXIT_LIMIT_S)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def json(self, method: str, path: str, secret: str,
             body: dict[str, object] | None = None) -> tuple[int, dict[str, Any]]:
        status, answer = self.request(method, path, secret,
                                      None if body is None else json.dumps(body).encode(),
                                      None if body is None else "application/json")
        return status, json.loads(answer)

    def until(self, path: str, secret: str, done: Callable[[dict[str, Any]], bool]
              ) -> dict[str, Any]:
        deadline = time.monotonic() + CALL_DEADLINE_S
        while True:
            status, answer = self.json("GET", path, secret)
            if status == 200 and done(answer):
                return answer
            assert time.monotonic() < deadline, f"{path}: {status} {answer}"
            time.sleep(0.05)

    def log_entries(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            server.kill()


def test_served_flow_survives_sigterm_and_a_restart(tmp_path: Path,
                                                    servers: list[Server]) -> None:
    data_dir = tmp_path / "data"
    first = Server(data_dir, tmp_path / "first.log")
    servers.append(first)
    first.wait_healthy()
    # Made while the server runs, on the same store: usable at once.
    secret = str(_create_token(data_dir, "ci", "flows", "read")["secret"])
    source = SUPPORT.read_bytes()

    status, body = first.request("POST", "/v1/flows/support", secret, source,
                                 "application/yaml")
    assert status == 201, body
    assert json.loads(body)["version"] == 1
    assert first.request("GET", "/v1/flows/support/source?version=1", secret) == (200, source)
    assert first.request("GET", "/v1/flows", "ck_wrong")[0] == 401

    started = time.monotonic()
    assert first.terminate() == 0
    assert time.monotonic() - started < EXIT_LIMIT_S

    entries = first.log_entries()
    assert (entries[0]["message"], entries[0]["port"]) == ("listening", first.port)
    assert entries[0]["softphone"] == f"http://127.0.0.1:{first.port}/phone"
    assert entries[0]["llm"] == "none"
    post = next(e for e in entries if e.get("method") == "POST")
    assert (post["path"], post["status"]) == ("/v1/flows/support", 201)
    assert isinstance(post["ms"], float) and post["ms"] > 0
    assert [e["message"] for e in entries][-2:] == ["stopping", "stopped"]
    assert entries[-2]["reason"] == "SIGTERM"
    assert secret not in first.log.read_text()

    second = Server(data_dir, tmp_path / "second.log")
    servers.append(second)
    second.wait_healthy()
    assert second.request("GET", "/v1/flows/support/source?version=latest", secret) == \
        (200, source)
    assert second.terminate(signal.SIGINT) == 0  # Ctrl-C stops it the same way
    assert second.log_entries()[-2]["reason"] == "SIGINT"


# -- serve: the calls' outbound requests -------------------------------------

SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CALL_DEADLINE_S = 15.0


def _requesting_flow(url: str) -> bytes:
    return f"""\
version: "1.0.0"
sections:
  main:
    - answer: {{}}
    - request: {{url: "{url}", method: POST, body: {{order_id: "A123"}}}}
    - hangup: {{}}
""".encode()


def test_a_switch_alone_on_the_command_line_means_true() -> None:
    parser = build_parser()
    alone = parser.parse_args(["serve", "--allow-loopback", "--port", "0"])
    said = parser.parse_args(["serve", "--allow-loopback", "false"])
    assert (alone.allow_loopback, alone.port, said.allow_loopback) == ("true", "0", "false")
    assert resolve({"allow_loopback": alone.allow_loopback}, {}).allow_loopback is True


def test_a_scripted_model_from_the_settings_answers_the_servers_ai_calls(
        tmp_path: Path) -> None:
    rules = tmp_path / "desk.model.yaml"
    rules.write_text("rules:\n  - reply: Hello.\n")
    host = serve_command.call_host(ServerSettings(model_rules=rules), CallMetrics(),
                                   CallEvents())
    assert host.default_llm == "rules" and host.providers.get("rules") is not None


def test_the_call_host_carries_the_servers_policy_and_signer() -> None:
    signer = RequestSigner.from_secrets([SIGNING_SECRET])
    settings = ServerSettings(allow_private_networks=True, signer=signer)
    host = serve_command.call_host(settings, CallMetrics(), CallEvents())
    assert host.destinations == DestinationPolicy(allow_loopback=False, allow_private=True,
                                                  set_by_server=True)
    assert host.signer is signer


@pytest.fixture
def calls_token(tmp_path: Path) -> tuple[Path, str]:
    """A data directory with a token that may push flows and start calls
    (made before the loop runs: the token command runs its own)."""
    data_dir = tmp_path / "data"
    return data_dir, str(_create_token(data_dir, "ci", "flows", "calls", "read")["secret"])


@pytest.mark.parametrize("allow_loopback", [True, False])
async def test_a_served_calls_request_is_signed_and_obeys_the_servers_policy(
        calls_token: tuple[Path, str], allow_loopback: bool) -> None:
    seen: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append((dict(request.headers), await request.read()))
        return web.json_response({"ok": True})

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    data_dir, secret = calls_token
    auth = {"Authorization": f"Bearer {secret}"}
    port, stop = _free_port(), asyncio.Event()
    settings = ServerSettings(port=port, data_dir=data_dir, allow_loopback=allow_loopback,
                              signer=RequestSigner.from_secrets([SIGNING_SECRET]))
    async with TestServer(receiver, host="127.0.0.1") as app_server:
        serving = asyncio.create_task(serve_command.serve(settings, stop))
        try:
            await _until_listening(port)
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession(headers=auth) as session:
                flow = _requesting_flow(str(app_server.make_url("/hook")))
                async with session.post(f"{base}/v1/flows/ordering", data=flow,
                                        headers={"Content-Type": "application/yaml"}) as up:
                    assert up.status == 201, await up.text()
                async with session.post(f"{base}/v1/flows/ordering/publish",
                                        json={"version": 1}) as published:
                    assert published.status == 200, await published.text()
                async with session.post(f"{base}/v1/calls", json={
                        "flow": "ordering", "caller": "linger: 600\n"}) as started:
                    assert started.status == 201, await started.text()
                    call_id = (await started.json())["call_id"]
                await _until_ended(session, f"{base}/v1/calls/{call_id}")
        finally:
            stop.set()
            await asyncio.wait_for(serving, EXIT_LIMIT_S)
    if not allow_loopback:
        assert seen == []  # refused before any connection
        return
    ((headers, body),) = seen
    assert json.loads(body) == {"order_id": "A123"}
    assert verify(SIGNING_SECRET, headers, body) == headers["webhook-id"]


async def _until_ended(session: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + CALL_DEADLINE_S
    while time.monotonic() < deadline:
        async with session.get(url) as response:
            if (await response.json())["state"] == "ended":
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the call did not end within {CALL_DEADLINE_S} s")


# -- serve: crashes, the data directory's lock, the drain -----------------------

SLEEPER = b"version: 1.0.0\nsections:\n  main:\n    - answer: {}\n    - sleep: 60000\n"
SUMMARISED = """\
version: 1.0.0
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: Greet the caller.}
        post_prompt: {text: Summarise as JSON.}
        post_prompt_url: URL
        params: {attention_timeout: 0}
    - hangup: {}
"""
SUMMARY_RULES = """\
rules:
  - when: {summary: true}
    reply: '{"outcome": "greeted"}'
  - when: {start: true}
    reply: Hello.
"""


def _publish(server: Server, secret: str, name: str, source: bytes) -> None:
    status, body = server.request("POST", f"/v1/flows/{name}", secret, source,
                                  "application/yaml")
    assert status == 201, body
    assert server.json("POST", f"/v1/flows/{name}/publish", secret, {"version": 1})[0] == 200


class Receiver:
    """A summary endpoint on a port fixed up front, up only when started."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/summary"
        self.keys: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None

    def start(self) -> None:
        async def take(request: web.Request) -> web.Response:
            self.keys.append(request.headers["Idempotency-Key"])
            return web.json_response({})

        async def up() -> web.AppRunner:
            app = web.Application()
            app.router.add_post("/summary", take)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            return runner

        self._runner = self._loop.run_until_complete(up())

    def serve_for(self, seconds: float, until: Callable[[], bool]) -> None:
        deadline = time.monotonic() + seconds
        while not until() and time.monotonic() < deadline:
            self._loop.run_until_complete(asyncio.sleep(0.05))

    def close(self) -> None:
        if self._runner is not None:
            self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()


def test_a_kill_9_leaves_no_call_untracked_and_no_summary_undelivered(
        tmp_path: Path, servers: list[Server]) -> None:
    data_dir = tmp_path / "data"
    secret = str(_create_token(data_dir, "ci", "flows", "calls", "read")["secret"])
    receiver = Receiver()  # down for now
    try:
        first = Server(data_dir, tmp_path / "first.log")
        servers.append(first)
        first.wait_healthy()
        _publish(first, secret, "sleeper", SLEEPER)
        _publish(first, secret, "summarised",
                 SUMMARISED.replace("URL", receiver.url).encode())
        status, live = first.json("POST", "/v1/calls", secret,
                                  {"flow": "sleeper", "caller": "linger: 600\n"})
        assert status == 201, live
        status, brief = first.json("POST", "/v1/calls", secret, {
            "flow": "summarised", "caller": "steps:\n  - hangup: {}\n    after: 0.2\n",
            "model": SUMMARY_RULES})
        assert status == 201, brief
        # The summary's first attempt failed (nothing listens): pending in the store.
        pending = first.until(f"/v1/outbox?call_id={brief['call_id']}", secret,
                              lambda a: bool(a["deliveries"])
                              and a["deliveries"][0]["attempts"] >= 1)["deliveries"][0]
        assert pending["state"] == "pending"
        first.kill()  # SIGKILL: no shutdown at all

        receiver.start()
        second = Server(data_dir, tmp_path / "second.log")
        servers.append(second)
        second.wait_healthy()
        crashed = second.json("GET", f"/v1/calls/{live['call_id']}", secret)[1]
        assert (crashed["state"], crashed["disposition"]) == ("ended", "server_crashed")
        listed = second.json("GET", "/v1/calls?state=live", secret)[1]
        assert listed["calls"] == []
        receiver.serve_for(CALL_DEADLINE_S, lambda: bool(receiver.keys))
        assert receiver.keys == [pending["key"]]
        delivered = second.until(f"/v1/outbox/{pending['key']}", secret,
                                 lambda a: a["state"] == "delivered")
        assert delivered["summary"] == '{"outcome": "greeted"}'
        assert second.terminate() == 0
        warned = [e for e in second.log_entries() if e.get("disposition") == "server_crashed"]
        assert warned and warned[0]["calls"] == 1
    finally:
        receiver.close()


def test_one_server_per_data_directory(tmp_path: Path, servers: list[Server]) -> None:
    data_dir = tmp_path / "data"
    first = Server(data_dir, tmp_path / "first.log")
    servers.append(first)
    first.wait_healthy()
    second = Server(data_dir, tmp_path / "second.log")
    servers.append(second)
    assert second.process.wait(timeout=STARTUP_LIMIT_S) == 2
    [refusal] = second.log_entries()
    assert "another server is using the data directory" in str(refusal["message"])
    assert first.process.poll() is None


def test_sigterm_drains_live_calls_then_ends_them_with_a_goodbye(
        tmp_path: Path, servers: list[Server]) -> None:
    data_dir = tmp_path / "data"
    secret = str(_create_token(data_dir, "ci", "flows", "calls", "read")["secret"])
    server = Server(data_dir, tmp_path / "server.log", "--drain-timeout", "0.5")
    servers.append(server)
    server.wait_healthy()
    _publish(server, secret, "sleeper", SLEEPER)
    status, live = server.json("POST", "/v1/calls", secret,
                               {"flow": "sleeper", "caller": "linger: 600\n"})
    assert status == 201, live
    server.process.send_signal(signal.SIGTERM)
    # The drain (0.5 s), the goodbye spoken (about 3 s of speech), then the exit.
    assert server.process.wait(timeout=EXIT_LIMIT_S + CALL_DEADLINE_S) == 0
    restarted = Server(data_dir, tmp_path / "again.log")
    servers.append(restarted)
    restarted.wait_healthy()
    ended = restarted.json("GET", f"/v1/calls/{live['call_id']}", secret)[1]
    assert ended["disposition"] == "hangup_requested"
    status, trace = restarted.request("GET", f"/v1/calls/{live['call_id']}/trace", secret)
    records = [json.loads(line) for line in trace.decode().splitlines()]
    [farewell] = [r for r in records if r["kind"] == "farewell"]
    assert status == 200 and "restarting" in str(farewell["text"])


# -- serve: the server's own model, the cap on live calls -------------------------

def _completion(text: str) -> bytes:
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "local", "choices": [{"index": 0, "delta": {"content": text},
                                           "finish_reason": None}]}
    done = {**body, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    return b"".join(b"data: " + json.dumps(part).encode() + b"\n\n"
                    for part in (body, done)) + b"data: [DONE]\n\n"


async def test_serve_llm_openai_answers_ai_calls_started_without_rules(
        calls_token: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[dict[str, Any]] = []

    async def completions(request: web.Request) -> web.StreamResponse:
        asked.append(await request.json())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_completion("Hello from the server's model."))
        await response.write_eof()
        return response

    model = web.Application()
    model.router.add_post("/v1/chat/completions", completions)
    data_dir, secret = calls_token
    auth = {"Authorization": f"Bearer {secret}"}
    async with TestServer(model, host="127.0.0.1") as model_server:
        monkeypatch.setenv("CALLKERNEL_LLM_BASE_URL", str(model_server.make_url("/v1")))
        port, stop = _free_port(), asyncio.Event()
        settings = serve_command.resolve({"port": port, "data_dir": str(data_dir),
                                          "llm": "openai", "allow_loopback": "true"},
                                         dict(os.environ))
        serving = asyncio.create_task(serve_command.serve(settings, stop))
        try:
            await _until_listening(port)
            base = f"http://127.0.0.1:{port}"
            agent = (b"version: 1.0.0\nsections:\n  main:\n    - answer: {}\n    - ai:\n"
                     b"        prompt: {text: Greet the caller.}\n")
            async with aiohttp.ClientSession(headers=auth) as session:
                async with session.post(f"{base}/v1/flows/agent", data=agent,
                                        headers={"Content-Type": "application/yaml"}) as up:
                    assert up.status == 201, await up.text()
                async with session.post(f"{base}/v1/flows/agent/publish",
                                        json={"version": 1}) as published:
                    assert published.status == 200
                caller = "steps:\n  - hangup: {}\n    after: 3\n"
                async with session.post(f"{base}/v1/calls", json={
                        "flow": "agent", "caller": caller}) as started:
                    assert started.status == 201, await started.text()
                    call_id = (await started.json())["call_id"]
                await _until_ended(session, f"{base}/v1/calls/{call_id}")
                async with session.get(f"{base}/v1/calls/{call_id}/trace") as trace:
                    assert "Hello from the server's model." in await trace.text()
        finally:
            stop.set()
            await asyncio.wait_for(serving, EXIT_LIMIT_S)
    assert asked and asked[0]["messages"][0]["role"] == "system"


def test_serve_llm_openai_without_a_model_server_is_a_bad_setting(tmp_path: Path) -> None:
    code, _, err = _main(["serve", "--data-dir", str(tmp_path), "--llm", "openai"])
    assert code == 2 and "serve --llm openai needs a server" in err


def test_a_malformed_request_is_logged_in_one_line_without_its_bytes(
        tmp_path: Path, servers: list[Server]) -> None:
    server = Server(tmp_path / "data", tmp_path / "server.log")
    servers.append(server)
    server.wait_healthy()
    token = "ck_" + "s3cret" * 2000  # over aiohttp's 8,190-byte field limit
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(f"GET /v1/flows HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}"
                    "\r\n\r\n".encode())
        assert b" 400 Bad Request" in raw.recv(4096)
    assert server.terminate() == 0
    log = server.log.read_text()
    assert "s3cret" not in log and "Traceback" not in log
    [refused] = [e for e in server.log_entries() if e["message"] == "malformed request refused"]
    assert (refused["level"], refused["status"]) == ("info", 400)
