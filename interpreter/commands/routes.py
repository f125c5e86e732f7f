"""`callkernel routes [push FILE | check FILE]`, `diff`, `bind`, `unbind`:
a server's routing table, version diffs and URL-bound flows from the command
line, over REST v1 like the other client commands (commands/remote.py: the
same --server/--token flags and variables, timeouts and exit codes).

`routes` prints the server's table; `routes push FILE` replaces it, printing
the table's diagnostics as `callkernel lint` prints a flow's (warnings for
routes to flows that do not exist and routes that never match); `routes check
FILE --flows DIR` does the same offline, against the flow files in DIR (a
flow's name is its file name without the extension, lowercased, as `push`
names it). `diff FLOW A B` prints the unified diff of two versions. `bind
FLOW URL` binds a flow name to a URL (remote SWML); `unbind FLOW` undoes it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from interpreter.commands.inputs import UnreadableInput, display_name, read
from interpreter.commands.remote_client import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    MEDIA_TYPES,
    Client,
    CommandFailed,
    ServerFlags,
    check_name,
    diagnostics_from,
    json_object,
    print_as_lint,
    run,
    table,
)
from interpreter.commands.sources import shown
from interpreter.diagnostics import Severity, sort_diagnostics
from interpreter.errors import DocumentError
from interpreter.server.problems import PROBLEM_JSON
from interpreter.server.routing import check, load_table

FLOW_SUFFIXES = (".yaml", ".yml", ".json")
# Files in a flows folder that are not flows (linted as what they are).
NOT_FLOWS = (".caller.yaml", ".model.yaml", ".test.yaml")

ClientFlags = Callable[..., None]


# ------------------------------------------------------------ the command line

def add_parsers(command: Callable[[str, str, str, str], argparse.ArgumentParser],
                client_flags: ClientFlags, epilog: str) -> None:
    """routes, diff, bind and unbind, as cli.py's other client commands."""
    routes = command(
        "routes", "show, replace or check the server's routing table",
        "Without ACTION, print the server's routing table: each route (what it matches and "
        "the flow that answers) and the default flow; warnings about routes to flows that "
        "do not exist go to standard error. `routes push FILE` replaces the table with "
        "FILE (.yaml, .yml or .json) and prints its diagnostics as `callkernel lint` "
        "prints a flow's; `routes check FILE --flows DIR` checks it offline against the "
        "flow files in DIR. docs/operations.md, \"Routing\", has the format.", epilog)
    routes.add_argument("action", nargs="?", choices=("show", "push", "check"),
                        default="show", metavar="ACTION", help="show (default), push or check")
    routes.add_argument("file", nargs="?", metavar="FILE", help="the routing table file")
    routes.add_argument("--flows", metavar="DIR",
                        help="check: the folder of flow files routes may name")
    client_flags(routes, "print the server's JSON answer")

    diff = command(
        "diff", "print the unified diff between two versions of a flow on the server",
        "Print the unified diff (diff -u) from version A to version B of flow FLOW, as "
        "uploaded; A and B are numbers, live or latest.", epilog)
    diff.add_argument("flow", metavar="FLOW", help="the flow's name")
    diff.add_argument("older", metavar="A", help="the version to diff from")
    diff.add_argument("newer", metavar="B", help="the version to diff to")
    client_flags(diff)

    bind = command(
        "bind", "bind a flow name to a URL (remote SWML) on the server",
        "Bind flow FLOW to URL: each call of it POSTs the call's details to URL for its "
        "document (user:pass@ in URL is sent as Basic auth), cached by ETag; a failed "
        "fetch gives the caller an apology. A stored flow (one with versions) cannot be "
        "bound.", epilog)
    bind.add_argument("flow", metavar="FLOW", help="the flow's name")
    bind.add_argument("url", metavar="URL", help="the http(s) URL serving its document")
    client_flags(bind)
    unbind = command("unbind", "unbind a flow from its URL on the server",
                     "Remove flow FLOW's binding: the name is free again.", epilog)
    unbind.add_argument("flow", metavar="FLOW", help="the flow's name")
    client_flags(unbind)


def dispatch(args: argparse.Namespace) -> int:
    flags = ServerFlags(args.server, args.token, args.timeout)
    environ = os.environ
    match args.command:
        case "routes" if args.action == "check":
            return check_file(args.file, args.flows)
        case "routes" if args.action == "push":
            return push(args.file, flags=flags, environ=environ)
        case "routes":
            return show(as_json=args.as_json, flags=flags, environ=environ)
        case "diff":
            return diff(args.flow, args.older, args.newer, flags=flags, environ=environ)
        case "bind":
            return bind(args.flow, args.url, flags=flags, environ=environ)
        case "unbind":
            return unbind(args.flow, flags=flags, environ=environ)
    return EXIT_USAGE


# ------------------------------------------------------------ routes

def show(*, as_json: bool = False, flags: ServerFlags, environ: Mapping[str, str],
         out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the server's routing table; its warnings to `err`."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        reply = await client.send("GET", "/v1/routes")
        routing = client.expect(reply, 200)
        if as_json:
            print(reply.body.decode(), file=out)
            return EXIT_OK
        rows = client.shaped(_route_rows, reply, routing["routes"])
        table(("#", "MATCH", "FLOW"), rows, out)
        print(f"default: {routing.get('default') or '-'}", file=out)
        for warning in routing.get("warnings", []):
            print(f"warning: {shown(str(warning))}", file=err)
        return EXIT_OK

    return run("routes", flags, environ, err, action)


def push(file: str | None, *, flags: ServerFlags, environ: Mapping[str, str],
         out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Replace the server's table with FILE; print its diagnostics as lint does."""
    out, err = out or sys.stdout, err or sys.stderr
    source = b""
    media_type = MEDIA_TYPES.get(Path(file or "").suffix.lower())

    def check_input() -> None:
        nonlocal source
        source = _read_table(file)
        if media_type is None:
            raise CommandFailed(EXIT_USAGE, f"{file}: a routing table is a .yaml, .yml or "
                                            ".json file (the extension says which)")

    async def action(client: Client) -> int:
        assert file is not None and media_type is not None  # check_input() has run
        reply = await client.send("PUT", "/v1/routes", body=source, content_type=media_type)
        problem = json_object(reply, PROBLEM_JSON)
        if reply.status == 422 and problem is not None and "errors" in problem:
            print_as_lint(client.shaped(diagnostics_from, reply, problem["errors"], file),
                          out, err)
            return EXIT_REFUSED
        stored = client.expect(reply, 200)
        print_as_lint(client.shaped(diagnostics_from, reply, stored.get("diagnostics", []),
                                    file), out, err)
        print(f"routing table replaced: {len(stored.get('routes', []))} route(s), default "
              f"{stored.get('default') or '-'}", file=out)
        return EXIT_OK

    return run("routes push", flags, environ, err, action, check_input)


def check_file(file: str | None, flows_dir: str | None, *, out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    """Check a table offline: errors, shadowed routes, and (with a flows
    folder) routes to flows that are not in it. 1 on errors."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        source = _read_table(file)
        names = flow_files(flows_dir) if flows_dir is not None else None
    except CommandFailed as failure:
        print(f"callkernel routes check: {failure}", file=err)
        return failure.code
    assert file is not None
    try:
        table, doc, diagnostics = load_table(source, display_name(file))
    except DocumentError as error:
        print_as_lint(list(error.diagnostics), out, err)
        return EXIT_REFUSED
    if names is not None:
        diagnostics = [*diagnostics, *check(table, names, doc)]
    print_as_lint(sort_diagnostics(diagnostics), out, err)
    return EXIT_REFUSED if any(d.severity is Severity.ERROR for d in diagnostics) else EXIT_OK


def flow_files(folder: str) -> list[str]:
    """The flow names of the flow files in `folder` (as `push` names them)."""
    path = Path(folder)
    if not path.is_dir():
        raise CommandFailed(EXIT_USAGE, f"--flows {folder}: not a folder")
    return sorted(item.stem.lower() for item in path.iterdir()
                  if item.is_file() and item.suffix.lower() in FLOW_SUFFIXES
                  and not item.name.lower().endswith(NOT_FLOWS))


def _read_table(file: str | None) -> bytes:
    if file is None:
        raise CommandFailed(EXIT_USAGE, "give the routing table FILE")
    try:
        return read(file)
    except UnreadableInput as error:
        raise CommandFailed(EXIT_USAGE, str(error)) from None


def _route_rows(routes: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for number, route in enumerate(routes, 1):
        if "to" in route:
            match = f"to {route['to']}"
        else:
            match = "params " + ", ".join(f"{k}={v}" for k, v in route["params"].items())
        rows.append((str(number), match, str(route["flow"])))
    return rows


# ------------------------------------------------------------ diff, bind, unbind

def diff(flow: str, older: str, newer: str, *, flags: ServerFlags,
         environ: Mapping[str, str], out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Print the unified diff from version `older` to `newer` of `flow`."""
    out, err = out or sys.stdout, err or sys.stderr

    def check_input() -> None:
        check_name(flow, "FLOW")
        for given in (older, newer):
            if given not in ("live", "latest") and not (given.isdigit() and int(given) > 0):
                raise CommandFailed(EXIT_USAGE, f"{given!r} is not a version: a number, "
                                                "live or latest")

    async def action(client: Client) -> int:
        reply = await client.send(
            "GET", f"/v1/flows/{flow}/diff?from={quote(older)}&to={quote(newer)}")
        if reply.status != 200:
            raise client.refusal(reply)
        if reply.content_type != "text/plain":
            raise client.foreign(reply)
        out.write(reply.body.decode("utf-8", "replace"))
        return EXIT_OK

    return run("diff", flags, environ, err, action, check_input)


def bind(flow: str, url: str, *, flags: ServerFlags, environ: Mapping[str, str],
         out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        reply = await client.send("PUT", f"/v1/flows/{flow}/binding",
                                  body=json.dumps({"url": url}).encode(),
                                  content_type="application/json")
        bound = client.expect(reply, 200)
        print(f"{flow} is bound to {shown(str(bound.get('url')))}", file=out)
        return EXIT_OK

    return run("bind", flags, environ, err, action, lambda: check_name(flow, "FLOW"))


def unbind(flow: str, *, flags: ServerFlags, environ: Mapping[str, str],
           out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        reply = await client.send("DELETE", f"/v1/flows/{flow}/binding")
        if reply.status != 204:
            raise client.refusal(reply)
        print(f"{flow} is no longer bound", file=out)
        return EXIT_OK

    return run("unbind", flags, environ, err, action, lambda: check_name(flow, "FLOW"))
