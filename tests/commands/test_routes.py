"""`callkernel routes [push|check]`, `diff`, `bind`, `unbind` against a real
server (tests/commands/test_remote.py's: the REST app on SQLite, on
127.0.0.1 from a thread), and `routes check` offline."""

from __future__ import annotations

import io
from pathlib import Path

from interpreter.cli import main
from interpreter.commands import remote, routes
from tests.commands import test_remote
from tests.commands.test_remote import Served

CLEAN = "sections:\n  main:\n    - answer: {}\n    - hangup: {}\n"
LONGER = "sections:\n  main:\n    - answer: {}\n    - sleep: 10\n    - hangup: {}\n"
server = test_remote.server  # the fixture: a real server on 127.0.0.1

TABLE = ("routes:\n"
         "  - {to: '+15551230001', flow: sales}\n"
         "  - {params: {tenant: acme}, flow: acme}\n"
         "default: sales\n")


def _push_flow(served: Served, tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    assert remote.push(str(path), flags=served.flags(), environ={}, out=io.StringIO(),
                       err=io.StringIO()) == 0


def test_routes_push_prints_warnings_as_lint_and_routes_shows_the_table(
        server: Served, tmp_path: Path) -> None:
    _push_flow(server, tmp_path, "sales", CLEAN)
    table = tmp_path / "routes.yaml"
    table.write_text(TABLE)
    out, err = io.StringIO(), io.StringIO()
    assert routes.push(str(table), flags=server.flags(), environ={}, out=out, err=err) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == (f"{table}:3:36: warning CK903 route 2: flow \"acme\" does not exist "
                        "(calls routed to it get an apology)")
    assert lines[1] == "routing table replaced: 2 route(s), default sales"
    assert err.getvalue() == "0 error(s), 1 warning(s) in 1 file\n"
    out, err = io.StringIO(), io.StringIO()
    assert routes.show(flags=server.flags(server.reader), environ={}, out=out, err=err) == 0
    assert out.getvalue().splitlines() == [
        "#  MATCH               FLOW", "1  to +15551230001     sales",
        "2  params tenant=acme  acme", "default: sales"]
    assert "route 2: flow \"acme\" does not exist" in err.getvalue()


def test_routes_push_of_a_bad_table_prints_its_errors_and_exits_1(
        server: Served, tmp_path: Path) -> None:
    table = tmp_path / "routes.json"
    table.write_text('{"routes": [{"to": "+1", "flow": "x", "param": {}}]}')
    out, err = io.StringIO(), io.StringIO()
    assert routes.push(str(table), flags=server.flags(), environ={}, out=out, err=err) == 1
    assert out.getvalue().startswith(f"{table}:1:39: error CK901 unknown key \"param\"")
    reader_out, reader_err = io.StringIO(), io.StringIO()
    table.write_text(TABLE)
    assert routes.push(str(table), flags=server.flags(server.reader), environ={},
                       out=reader_out, err=reader_err) == 2  # 403: the token lacks the scope
    assert "forbidden" in reader_err.getvalue()


def test_routes_check_warns_offline_against_a_flows_folder(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "Sales.yaml").write_text(CLEAN)
    (flows / "acme.caller.yaml").write_text("linger: 1\n")  # not a flow
    table = tmp_path / "routes.yaml"
    table.write_text(TABLE)
    out, err = io.StringIO(), io.StringIO()
    assert routes.check_file(str(table), str(flows), out=out, err=err) == 0
    assert [line.split(" warning ")[1][:5] for line in out.getvalue().splitlines()] == [
        "CK903"]
    table.write_text("routes:\n  - {to: '+1 2', flow: sales}\n")
    out = io.StringIO()
    assert routes.check_file(str(table), None, out=out, err=io.StringIO()) == 1
    assert "error CK902" in out.getvalue()
    assert routes.check_file(str(tmp_path / "missing.yaml"), None, out=io.StringIO(),
                             err=io.StringIO()) == 2


def test_diff_prints_the_unified_diff_of_two_versions(server: Served,
                                                      tmp_path: Path) -> None:
    _push_flow(server, tmp_path, "f", CLEAN)
    _push_flow(server, tmp_path, "f", LONGER)
    out, err = io.StringIO(), io.StringIO()
    assert routes.diff("f", "1", "latest", flags=server.flags(), environ={}, out=out,
                       err=err) == 0
    assert out.getvalue().splitlines()[:3] == ["--- f@1", "+++ f@2", "@@ -1,4 +1,5 @@"]
    assert "+    - sleep: 10" in out.getvalue()
    err = io.StringIO()
    assert routes.diff("f", "1", "7", flags=server.flags(), environ={}, out=io.StringIO(),
                       err=err) == 1
    assert "not-found" in err.getvalue()
    assert routes.diff("f", "0", "1", flags=server.flags(), environ={}, out=io.StringIO(),
                       err=io.StringIO()) == 2


def test_bind_and_unbind_a_flow(server: Served) -> None:
    out = io.StringIO()
    assert routes.bind("agent", "https://bot:s3cret@swml.example/agent", flags=server.flags(),
                       environ={}, out=out, err=io.StringIO()) == 0
    assert out.getvalue() == "agent is bound to https://***@swml.example/agent\n"
    assert routes.unbind("agent", flags=server.flags(), environ={}, out=io.StringIO(),
                         err=io.StringIO()) == 0
    err = io.StringIO()
    assert routes.unbind("agent", flags=server.flags(), environ={}, out=io.StringIO(),
                         err=err) == 1
    assert "not bound" in err.getvalue()


def test_the_commands_are_wired_into_the_command_line(server: Served, tmp_path: Path,
                                                      capsys: object) -> None:
    table = tmp_path / "routes.yaml"
    table.write_text(TABLE)
    assert main(["routes", "check", str(table)]) == 0
    assert main(["routes", "--server", server.url, "--token", server.secret]) == 0
    assert main(["diff", "nope", "1", "2", "--server", server.url, "--token",
                 server.secret]) == 1
