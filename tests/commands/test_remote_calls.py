"""`callkernel start|calls|call` against a real server: the REST app on a real
SQLite store, served on 127.0.0.1 from a thread with its own event loop (as
test_remote.py does), with calls that run in real time for under a second or
are hung up."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from interpreter import cli
from interpreter.commands import lint as lint_command
from interpreter.commands import remote, remote_calls, routes
from interpreter.commands import trace as trace_command
from interpreter.commands.remote_client import ServerFlags
from interpreter.server.app import build_app
from interpreter.server.auth import create_token
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import CallEntry, Scope

STARTUP_LIMIT_S = 10.0
END_LIMIT_S = 10.0  # wall time a hung-up call is given to end
# Says a line and hangs up itself, well under a second.
BRIEF = """\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - play: {url: "say:Hello."}
    - hangup: {}
"""
# Would hold the call for a minute: these are hung up.
SLEEPER = """\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - sleep: 60000
    - hangup: {}
"""
AGENT = """\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: "You are a test agent."}
"""
SILENT_CALLER = "linger: 600\n"
BAD_CALLER = "steps:\n  - sya: hello\n"
BAD_RULES = "rules:\n  - whn: {start: true}\n    reply: Hi.\n"


@dataclass(frozen=True)
class Served:
    url: str
    secret: str  # read + flows + calls
    reader: str  # read only

    def flags(self, token: str | None = None) -> ServerFlags:
        return ServerFlags(self.url, token or self.secret)


Command = Callable[..., int]


def call(command: Command, *args: object, **kwargs: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    kwargs.setdefault("environ", {})
    code = command(*args, out=out, err=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    """The REST app on a fresh SQLite store, on a free loopback port, with
    the flows brief, sleeper and agent published."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    made: dict[str, object] = {}
    running: list[tuple[web.AppRunner, SqliteStore]] = []

    async def start() -> tuple[web.AppRunner, SqliteStore]:
        store = await SqliteStore.open(tmp_path / "data" / "callkernel.db")
        runner = web.AppRunner(build_app(store))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        made["port"] = runner.addresses[0][1]
        _, made["secret"] = await create_token(store, "operator",
                                               {Scope.READ, Scope.FLOWS, Scope.CALLS})
        _, made["reader"] = await create_token(store, "reader", {Scope.READ})
        return runner, store

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            running.append(loop.run_until_complete(start()))
        finally:
            ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(STARTUP_LIMIT_S) and running, "the server did not start"
    served = Served(f"http://127.0.0.1:{made['port']}", str(made["secret"]),
                    str(made["reader"]))
    flows = tmp_path / "flows"
    flows.mkdir()
    for name, text in (("brief", BRIEF), ("sleeper", SLEEPER), ("agent", AGENT)):
        code, _, err = call(remote.push, write(flows, f"{name}.yaml", text), publish=True,
                            flags=served.flags())
        assert code == 0, err
    try:
        yield served
    finally:
        runner, store = running[0]

        async def stop() -> None:
            await runner.cleanup()  # hangs up the calls still live
            await store.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(STARTUP_LIMIT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STARTUP_LIMIT_S)
        loop.close()


@pytest.fixture
def silent(tmp_path: Path) -> str:
    return write(tmp_path, "silent.caller.yaml", SILENT_CALLER)


def started(server: Served, flow: str, caller: str) -> str:
    code, out, err = call(remote_calls.start, flow, caller, flags=server.flags())
    assert code == 0, err
    return out.strip()


def state_of(server: Served, call_id: str) -> dict[str, object]:
    code, out, err = call(remote_calls.show_call, call_id, as_json=True, flags=server.flags())
    assert code == 0, err
    record: dict[str, object] = json.loads(out)
    return record


def until_ended(server: Served, call_id: str) -> dict[str, object]:
    deadline = time.monotonic() + END_LIMIT_S
    while (record := state_of(server, call_id))["state"] != "ended":
        assert time.monotonic() < deadline, f"still live: {record}"
        time.sleep(0.05)
    return record


def fields(out: str) -> dict[str, str]:
    """`call ID`'s lines as label -> value."""
    return {label: value for label, value in
            (line.split(maxsplit=1) for line in out.splitlines())}


# -- start ---------------------------------------------------------------------

def test_start_prints_only_the_call_id_and_says_what_started_on_stderr(
        server: Served, silent: str) -> None:
    code, out, err = call(remote_calls.start, "sleeper", silent, flags=server.flags())
    call_id = out.strip()
    assert code == 0 and out == call_id + "\n" and len(call_id) == 36
    assert err == f"started call {call_id} of sleeper version 1\n"
    assert state_of(server, call_id)["state"] == "live"


def test_start_wait_polls_until_the_call_ends_and_prints_its_state(
        server: Served, silent: str) -> None:
    code, out, err = call(remote_calls.start, "brief", silent, wait=True, flags=server.flags())
    assert code == 0, err
    shown = fields(out)
    assert list(shown) == ["call", "flow", "state", "disposition", "started", "ended"]
    assert shown["flow"] == "brief version 1" and shown["state"] == "ended"
    assert shown["disposition"] != "-" and not shown["disposition"].startswith("error")
    assert shown["ended"].endswith(" s)") and "(after " in shown["ended"]
    assert err == f"started call {shown['call']} of brief version 1\n"


def test_start_of_a_version_that_is_not_there_exits_one(server: Served, silent: str) -> None:
    code, out, err = call(remote_calls.start, "brief", silent, version=9, flags=server.flags())
    assert (code, out) == (1, "")
    assert err.startswith("callkernel start: ") and "no version 9 (404 not-found)" in err


def test_start_of_an_unknown_flow_exits_one(server: Served, silent: str) -> None:
    code, _, err = call(remote_calls.start, "nowhere", silent, flags=server.flags())
    assert code == 1 and "no flow 'nowhere' (404 not-found)" in err


@pytest.mark.parametrize(("name", "text", "as_model"), [
    ("bad.caller.yaml", BAD_CALLER, False), ("bad.model.yaml", BAD_RULES, True)])
def test_a_bad_caller_script_or_rules_prints_what_lint_prints_and_exits_one(
        server: Served, tmp_path: Path, silent: str, name: str, text: str,
        as_model: bool) -> None:
    path = write(tmp_path, name, text)
    caller, model = (silent, path) if as_model else (path, None)
    code, out, err = call(remote_calls.start, "agent", caller, model=model, flags=server.flags())
    lint_out, lint_err = io.StringIO(), io.StringIO()
    lint_command.run([path], out=lint_out, err=lint_err)
    assert code == 1 and out and f"{path}:" in out
    assert (out, err) == (lint_out.getvalue(), lint_err.getvalue())


def test_an_ai_flow_without_model_rules_exits_one_saying_to_give_them(
        server: Served, silent: str) -> None:
    code, _, err = call(remote_calls.start, "agent", silent, flags=server.flags())
    assert code == 1 and "give `model`" in err and "(400 invalid-request)" in err


def test_start_with_a_read_only_token_exits_two_naming_the_scope(
        server: Served, silent: str) -> None:
    code, out, err = call(remote_calls.start, "brief", silent, flags=server.flags(server.reader))
    assert (code, out) == (2, "") and "'calls' scope (403 forbidden)" in err


def test_start_with_a_missing_caller_script_stops_before_asking(
        server: Served, tmp_path: Path) -> None:
    code, out, err = call(remote_calls.start, "brief", str(tmp_path / "gone.yaml"),
                          flags=server.flags())
    assert (code, out) == (2, "") and "gone.yaml: No such file or directory" in err


# -- calls, call -----------------------------------------------------------------

def test_calls_lists_newest_first_and_filters_by_flow_and_state(
        server: Served, silent: str) -> None:
    code, out, _ = call(remote_calls.start, "brief", silent, wait=True, as_json=True,
                        flags=server.flags())
    ended_id = json.loads(out)["call_id"]
    live_id = started(server, "sleeper", silent)
    code, out, err = call(remote_calls.calls, flags=server.flags(server.reader))
    rows = [line.split() for line in out.splitlines()]
    assert code == 0 and err == "2 call(s)\n"
    assert rows[0] == ["ID", "FLOW", "VERSION", "STATE", "DISPOSITION", "STARTED"]
    assert [row[:5] for row in rows[1:]] == [
        [live_id, "sleeper", "1", "live", "-"],
        [ended_id, "brief", "1", "ended", str(state_of(server, ended_id)["disposition"])]]
    for query, expected in (({"state": "live"}, [live_id]), ({"state": "ended"}, [ended_id]),
                            ({"flow": "brief"}, [ended_id]), ({"flow": "agent"}, [])):
        code, out, _ = call(remote_calls.calls, as_json=True, flags=server.flags(), **query)
        assert [c["call_id"] for c in json.loads(out)["calls"]] == expected, query


def test_call_shows_a_live_call_with_the_runtimes_state(server: Served, silent: str) -> None:
    call_id = started(server, "sleeper", silent)
    code, out, _ = call(remote_calls.show_call, call_id, flags=server.flags(server.reader))
    shown = fields(out)
    assert code == 0 and shown["call"] == call_id
    assert shown["state"].startswith("live (") and shown["ended"] == "-"


def test_hangup_ends_a_live_call_and_an_ended_one_refuses_with_exit_one(
        server: Served, silent: str) -> None:
    call_id = started(server, "sleeper", silent)
    assert call(remote_calls.hang_up, call_id, flags=server.flags()) == (
        0, f"call {call_id} is hanging up\n", "")
    assert until_ended(server, call_id)["state"] == "ended"
    code, out, err = call(remote_calls.hang_up, call_id, flags=server.flags())
    assert (code, out) == (1, "")
    assert err.startswith(f"callkernel call: call {call_id} has ended (")
    assert err.endswith("(409 call-ended)\n")


def test_an_unknown_call_exits_one_for_every_call_command(server: Served) -> None:
    for command in (remote_calls.show_call, remote_calls.hang_up, remote_calls.call_trace):
        code, out, err = call(command, "no-such-call", flags=server.flags())
        assert (code, out) == (1, ""), command
        assert "no call 'no-such-call'" in err and "(404 not-found)" in err


def test_call_trace_prints_what_trace_prints_for_the_same_records(
        server: Served, silent: str, tmp_path: Path) -> None:
    code, out, _ = call(remote_calls.start, "brief", silent, wait=True, as_json=True,
                        flags=server.flags())
    call_id = json.loads(out)["call_id"]
    code, lines, _ = call(remote_calls.call_trace, call_id, as_json=True, flags=server.flags())
    assert code == 0 and '"kind": "call_ended"' in lines
    saved = write(tmp_path, "saved.jsonl", lines)
    local_out, local_err = io.StringIO(), io.StringIO()
    assert trace_command.run(saved, out=local_out, err=local_err) == 0
    code, out, err = call(remote_calls.call_trace, call_id, flags=server.flags(server.reader))
    assert (code, err) == (0, "") and out == local_out.getvalue()
    assert len(out.splitlines()) == len(lines.splitlines()) > 3


def test_call_trace_kind_filters_and_names_a_likely_typo(
        server: Served, silent: str) -> None:
    code, out, _ = call(remote_calls.start, "brief", silent, wait=True, as_json=True,
                        flags=server.flags())
    call_id = json.loads(out)["call_id"]
    code, out, err = call(remote_calls.call_trace, call_id, kinds=["call_ended", "call_endd"],
                          flags=server.flags())
    assert code == 0 and len(out.splitlines()) == 1 and "call_ended" in out
    assert err == (f"callkernel call: no 'call_endd' record in call {call_id}'s trace "
                   "(did you mean 'call_ended'?)\n")


def test_a_call_without_a_flow_or_a_version_shows_dashes_not_none(
        server: Served, silent: str) -> None:
    # No routing table: a call started without a flow is routed to none.
    code, out, err = call(remote_calls.start, None, silent, flags=server.flags())
    unrouted = out.strip()
    assert code == 0 and err == f"started call {unrouted} of no flow (no route)\n"
    # A flow bound to a URL has no version (its document is fetched for each call;
    # from a closed loopback port here, so the caller hears an apology).
    code, _, err = call(routes.bind, "remote", "http://127.0.0.1:9/remote",
                        flags=server.flags())
    assert code == 0, err
    code, out, err = call(remote_calls.start, "remote", silent, flags=server.flags())
    bound = out.strip()
    assert code == 0 and err == f"started call {bound} of remote (bound to a URL)\n"
    assert fields(call(remote_calls.show_call, unrouted, flags=server.flags())[1])[
        "flow"] == "no flow (no route)"
    assert fields(call(remote_calls.show_call, bound, flags=server.flags())[1])[
        "flow"] == "remote (bound to a URL)"
    code, out, _ = call(remote_calls.calls, flags=server.flags())
    rows = {row[0]: row[1:3] for row in (line.split() for line in out.splitlines()[1:])}
    assert rows[unrouted] == ["-", "-"] and rows[bound] == ["remote", "-"]
    assert "None" not in out


def test_calls_passes_since_until_and_limit_to_the_server(
        server: Served, silent: str) -> None:
    first = call(remote_calls.start, "brief", silent, wait=True, as_json=True,
                 flags=server.flags())[1]
    second = call(remote_calls.start, "brief", silent, wait=True, as_json=True,
                  flags=server.flags())[1]
    first_id, second_id = json.loads(first)["call_id"], json.loads(second)["call_id"]
    started_at = float(json.loads(second)["started_at"])

    def listed(**query: object) -> list[str]:
        code, out, err = call(remote_calls.calls, as_json=True, flags=server.flags(), **query)
        assert code == 0, err
        return [c["call_id"] for c in json.loads(out)["calls"]]

    assert listed(limit=1) == [second_id]
    assert listed(since=repr(started_at)) == [second_id]
    assert listed(until=repr(started_at)) == [first_id]
    assert listed(since="2000-01-01T00:00:00Z", until="2000-01-02") == []
    code, out, err = call(remote_calls.calls, since="last tuesday", flags=server.flags())
    assert (code, out) == (1, "") and "since is seconds since the epoch or an ISO 8601" in err
    code, _, err = call(remote_calls.calls, limit=0, flags=server.flags())
    assert code == 2 and err == "callkernel calls: --limit 0: 1 or more\n"


def test_the_trace_of_a_call_a_crash_cut_off_says_why_it_is_empty(
        server: Served, tmp_path: Path) -> None:
    # What a restart leaves of a call a crash cut off: its record, no trace.
    async def record() -> None:
        store = await SqliteStore.open(tmp_path / "data" / "callkernel.db")
        try:
            await store.add_call(CallEntry("crashed-1", "brief", 1, "sha256:x", "text",
                                           started_at=1.0, ended_at=2.0,
                                           disposition="server_crashed"))
        finally:
            await store.close()

    asyncio.run(record())
    code, out, err = call(remote_calls.call_trace, "crashed-1", flags=server.flags())
    assert (code, out) == (0, "")
    assert err == ("callkernel call: call crashed-1 has no trace records: a call a server "
                   "crash cut off keeps none (its record shows server_crashed)\n")


# -- the command line ------------------------------------------------------------

def test_the_command_line_starts_lists_and_hangs_up_through_the_environment(
        server: Served, silent: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALLKERNEL_SERVER_URL", server.url)
    monkeypatch.setenv("CALLKERNEL_TOKEN", server.secret)
    assert cli.main(["start", "sleeper", "--caller", silent]) == 0
    call_id = capsys.readouterr().out.strip()
    assert cli.main(["calls", "--state", "live", "--json"]) == 0
    assert [c["call_id"] for c in json.loads(capsys.readouterr().out)["calls"]] == [call_id]
    assert cli.main(["calls", "--since", "0", "--until", "2999-01-01", "--limit", "1",
                     "--json"]) == 0
    assert [c["call_id"] for c in json.loads(capsys.readouterr().out)["calls"]] == [call_id]
    assert cli.main(["call", call_id, "--hangup"]) == 0
    assert capsys.readouterr().out == f"call {call_id} is hanging up\n"
    until_ended(server, call_id)
    assert cli.main(["call", call_id, "--trace", "--kind", "call_ended"]) == 0
    assert "call_ended" in capsys.readouterr().out
    assert cli.main(["call", call_id, "--hangup"]) == 1
    assert "has ended" in capsys.readouterr().err


# -- commands to a live call (--say, --transfer, --unhold, --inject) -------------

def trace_of(server: Served, call_id: str) -> list[dict[str, object]]:
    code, out, err = call(remote_calls.call_trace, call_id, as_json=True, flags=server.flags())
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_each_command_reaches_a_live_call_and_its_trace(server: Served, silent: str) -> None:
    call_id = started(server, "sleeper", silent)
    sent = [({"say": "Please hold the line."}, "will say it"),
            ({"transfer": "+15550102000"}, "will be transferred"),
            ({"inject": '{"event": "digits", "digits": "12"}'}, "got the event")]
    for flags, said in sent:
        assert call(remote_calls.call_command, call_id, flags=server.flags(), **flags) == (
            0, f"call {call_id} {said}\n", "")
    received = [r for r in trace_of(server, call_id) if r["kind"] == "command_received"]
    assert [(r["command"], r.get("text") or r.get("dest") or r.get("name"))
            for r in received] == [("say", "Please hold the line."),
                                   ("transfer", "+15550102000"), ("inject", "digits")]
    # The sleeper is not on hold: the server says so, exit 1.
    code, out, err = call(remote_calls.call_command, call_id, unhold=True, flags=server.flags())
    assert (code, out) == (1, "") and err.endswith("(409 not-on-hold)\n")
    assert call(remote_calls.hang_up, call_id, flags=server.flags())[0] == 0
    until_ended(server, call_id)


def test_a_command_to_an_ended_call_exits_one_with_the_servers_reason(
        server: Served, silent: str) -> None:
    code, out, _ = call(remote_calls.start, "brief", silent, wait=True, as_json=True,
                        flags=server.flags())
    call_id = json.loads(out)["call_id"]
    for flags in ({"say": "Hello?"}, {"transfer": "+15550102000"}, {"unhold": True},
                  {"inject": '{"event": "digits", "digits": "1"}'}):
        code, out, err = call(remote_calls.call_command, call_id, flags=server.flags(), **flags)
        assert (code, out) == (1, ""), flags
        assert err.startswith(f"callkernel call: call {call_id} has ended (")
        assert err.endswith("(409 call-ended)\n")


def test_a_command_the_server_finds_malformed_exits_one_saying_why(
        server: Served, silent: str) -> None:
    call_id = started(server, "sleeper", silent)
    code, _, err = call(remote_calls.call_command, call_id, transfer="nowhere",
                        flags=server.flags())
    assert code == 1 and "neither a section" in err and "(400 invalid-request)" in err
    code, _, err = call(remote_calls.call_command, call_id, inject='{"event": "Boom"}',
                        flags=server.flags())
    assert code == 1 and "leg_answered" in err
    assert call(remote_calls.hang_up, call_id, flags=server.flags())[0] == 0


@pytest.mark.parametrize(("inject", "says"), [
    ("not json", "callkernel call: --inject is not JSON: Expecting value\n"),
    ("{not json", "--inject is not JSON: Expecting property name enclosed in double quotes"),
    ('["digits"]', "a JSON object naming the event"),
    ('{"digits": "1"}', "a JSON object naming the event"),
])
def test_an_inject_that_is_not_a_json_event_stops_before_asking(
        server: Served, inject: str, says: str) -> None:
    code, out, err = call(remote_calls.call_command, "any-call", inject=inject,
                          flags=server.flags())
    assert (code, out) == (2, "") and says in err
    assert "line 1 column" not in err  # json's position says nothing in a one-line flag


def test_a_read_only_token_cannot_send_commands(server: Served, silent: str) -> None:
    call_id = started(server, "sleeper", silent)
    code, _, err = call(remote_calls.call_command, call_id, say="Hi.",
                        flags=server.flags(server.reader))
    assert code == 2 and "(403 forbidden)" in err
    assert call(remote_calls.hang_up, call_id, flags=server.flags())[0] == 0


def test_the_command_line_sends_commands_and_allows_one_at_a_time(
        server: Served, silent: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALLKERNEL_SERVER_URL", server.url)
    monkeypatch.setenv("CALLKERNEL_TOKEN", server.secret)
    call_id = started(server, "sleeper", silent)
    assert cli.main(["call", call_id, "--say", "One moment."]) == 0
    assert capsys.readouterr().out == f"call {call_id} will say it\n"
    assert cli.main(["call", call_id, "--inject", '{"event": "speech", "text": "hi"}']) == 0
    assert capsys.readouterr().out == f"call {call_id} got the event\n"
    assert cli.main(["call", call_id, "--unhold"]) == 1
    assert "not on hold" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["call", call_id, "--say", "Hi.", "--unhold"])
    assert "not allowed with" in capsys.readouterr().err
    assert cli.main(["call", call_id, "--transfer", "sip:desk@example.com"]) == 0
    assert capsys.readouterr().out == f"call {call_id} will be transferred\n"
    assert cli.main(["call", call_id, "--hangup"]) == 0
    until_ended(server, call_id)


# -- the outbox, and a call's trace by id ---------------------------------------

SUMMARISED = """\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: "Greet the caller."}
        post_prompt: {text: "Summarise as JSON."}
        params: {attention_timeout: 0}
    - hangup: {}
"""
SUMMARY_RULES = """\
rules:
  - when: {summary: true}
    reply: '{"outcome": "greeted"}'
  - when: {start: true}
    reply: "Hello."
  - reply: "Bye."
"""


def test_outbox_lists_shows_and_refuses_to_retry_a_kept_summary(
        server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(remote.push, write(tmp_path, "summarised.yaml", SUMMARISED),
                        publish=True, flags=server.flags())
    assert code == 0, err
    caller = write(tmp_path, "hangs-up.caller.yaml", "steps:\n  - hangup: {}\n    after: 0.5\n")
    code, _, err = call(remote_calls.start, "summarised", caller, wait=True,
                        model=write(tmp_path, "rules.yaml", SUMMARY_RULES),
                        flags=server.flags())
    assert code == 0, err
    monkeypatch.setenv("CALLKERNEL_SERVER_URL", server.url)
    monkeypatch.setenv("CALLKERNEL_TOKEN", server.secret)
    assert cli.main(["calls", "--json"]) == 0
    call_id = json.loads(capsys.readouterr().out)["calls"][0]["call_id"]
    deadline = time.monotonic() + 15
    while True:
        assert cli.main(["outbox", "--call", call_id, "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)["deliveries"]
        if (listed and listed[0]["state"] == "kept") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    [kept] = listed
    assert (kept["kind"], kept["state"], kept["url"]) == ("post_prompt", "kept", None)
    assert cli.main(["outbox", "--state", "kept"]) == 0
    table_out = capsys.readouterr()
    assert kept["key"] in table_out.out and "1 delivery" in table_out.err
    assert cli.main(["outbox", kept["key"]]) == 0
    assert '{"outcome": "greeted"}' in capsys.readouterr().out
    assert cli.main(["outbox", kept["key"], "--retry"]) == 1
    assert "kept" in capsys.readouterr().err
    assert cli.main(["outbox", "--retry"]) == 2
    assert "needs a KEY" in capsys.readouterr().err


def test_trace_takes_a_call_id_when_a_server_is_named(
        server: Served, silent: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    brief = write(tmp_path, "brief.caller.yaml", "steps:\n  - hangup: {}\n    after: 2\n")
    call_id = started(server, "brief", brief)
    until_ended(server, call_id)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["trace", call_id, "--kind", "call_ended", "--server", server.url,
                     "--token", server.secret]) == 0
    assert "call_ended" in capsys.readouterr().out
    # Without --server the argument is a file, whatever the environment says.
    monkeypatch.setenv("CALLKERNEL_SERVER_URL", server.url)
    monkeypatch.setenv("CALLKERNEL_TOKEN", server.secret)
    assert cli.main(["trace", call_id]) == 2
    # Read as a file, which is not there; the variable earns a hint, not a request.
    assert capsys.readouterr().err == (
        f"callkernel trace: {call_id}: No such file or directory (CALLKERNEL_SERVER_URL "
        f"is set, but only --server reads from a server: to read call {call_id} from it, "
        "add --server URL)\n")
    monkeypatch.delenv("CALLKERNEL_SERVER_URL")
    assert cli.main(["trace", call_id]) == 2
    assert capsys.readouterr().err == f"callkernel trace: {call_id}: No such file or directory\n"


def test_start_virtual_runs_a_long_call_at_once(server: Served, silent: str) -> None:
    code, out, err = call(remote_calls.start, "sleeper", silent, virtual=True, wait=True,
                          as_json=True, flags=server.flags())
    assert code == 0, err
    record = json.loads(out)
    assert (record["state"], record["disposition"]) == ("ended", "hangup:hangup")
