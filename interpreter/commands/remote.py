"""`callkernel push|flows|versions|publish|rollback|delete`: a server's flows from
the command line, over REST v1 (docs/rest-api.md); the server, token and
exit codes are commands/remote_client.py's.

`push` prints a document's diagnostics exactly as `callkernel lint FILE`
prints them: the server lints with the same code, and the diagnostics it
returns are turned back into `Diagnostic`s under the local file's name and
printed by the same `str()`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from interpreter.commands.inputs import UnreadableInput, read
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
    when,
)
from interpreter.server.problems import PROBLEM_JSON

# ------------------------------------------------------------ push

def push(file: str, *, name: str | None = None, publish: bool = False,
         flags: ServerFlags, environ: Mapping[str, str], out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Upload FILE as a new version of NAME (default: the file's stem,
    lowercased); print its diagnostics as lint does; with `publish`, make it live."""
    out, err = out or sys.stdout, err or sys.stderr
    flow = name if name is not None else Path(file).stem.lower()
    media_type = MEDIA_TYPES.get(Path(file).suffix.lower())
    source = b""

    def check() -> None:
        nonlocal source
        if media_type is None:
            raise CommandFailed(EXIT_USAGE, f"{file}: a flow is pushed from a .yaml, .yml "
                                            "or .json file (the extension says which)")
        check_name(flow, "--name" if name is not None else f"from {file}; give --name")
        try:
            source = read(file)
        except UnreadableInput as error:
            raise CommandFailed(EXIT_USAGE, str(error)) from None

    async def action(client: Client) -> int:
        assert media_type is not None  # check() has run
        reply = await client.send("POST", f"/v1/flows/{flow}", body=source,
                                  content_type=media_type)
        problem = json_object(reply, PROBLEM_JSON)
        if reply.status == 422 and problem is not None and "errors" in problem:
            print_as_lint(client.shaped(diagnostics_from, reply, problem["errors"], file),
                          out, err)
            return EXIT_REFUSED
        stored = client.expect(reply, 201)
        print_as_lint(client.shaped(diagnostics_from, reply, stored.get("diagnostics", []),
                                    file), out, err)
        version = stored.get("version")
        print(f"pushed {flow} version {version} ({stored.get('content_hash')})", file=out)
        if publish:
            client.expect(await client.command(f"/v1/flows/{flow}/publish",
                                               {"version": version}), 200)
            print(f"{flow} version {version} is live", file=out)
        return EXIT_OK

    return run("push", flags, environ, err, action, check)


def flows(*, as_json: bool = False, flags: ServerFlags, environ: Mapping[str, str],
          out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the server's flows: name, versions, latest, live, last change;
    a flow bound to a URL has no versions and is `bound` in the LIVE column."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        reply = await client.send("GET", "/v1/flows")
        answer = client.expect(reply, 200)
        if as_json:
            print(reply.body.decode(), file=out)
            return EXIT_OK
        stored = client.shaped(_flow_rows, reply, answer.get("flows", []))
        bound = client.shaped(_bound_rows, reply, answer.get("bound", []))
        table(("NAME", "VERSIONS", "LATEST", "LIVE", "UPDATED"),
              sorted(stored + bound), out)
        print(f"{len(stored)} stored flow(s), {len(bound)} bound to a URL", file=err)
        return EXIT_OK

    return run("flows", flags, environ, err, action)


def versions(name: str, *, as_json: bool = False, flags: ServerFlags,
             environ: Mapping[str, str], out: TextIO | None = None,
             err: TextIO | None = None) -> int:
    """Print a flow's versions, oldest first, the live one marked."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        count = await client.listing(f"/v1/flows/{name}/versions", "versions", _version_rows, (
            "VERSION", "LIVE", "CREATED", "BYTES", "WARNINGS", "HASH"), out, as_json=as_json)
        if count is not None:
            print(f"{count} version(s) of {name}", file=err)
        return EXIT_OK

    return run("versions", flags, environ, err, action, lambda: check_name(name, "NAME"))


def publish(name: str, version: int, *, flags: ServerFlags, environ: Mapping[str, str],
            out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Make a version of a flow the live one."""
    return _move_live("publish", name, version, f"{name} version {version} is live",
                      flags, environ, out, err)


def rollback(name: str, version: int, *, flags: ServerFlags, environ: Mapping[str, str],
             out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Make an earlier version live again (the server refuses one not older: 409)."""
    return _move_live("rollback", name, version,
                      f"rolled back {name}: version {version} is live", flags, environ, out, err)


def _move_live(command: str, name: str, version: int, said: str, flags: ServerFlags,
               environ: Mapping[str, str], out: TextIO | None, err: TextIO | None) -> int:
    """POST /v1/flows/NAME/<command> with the version; say `said` when it is live."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        reply = await client.command(f"/v1/flows/{name}/{command}", {"version": version})
        client.expect(reply, 200)
        print(said, file=out)
        return EXIT_OK

    return run(command, flags, environ, err, action, lambda: _check_target(name, version))


# ------------------------------------------------------------ delete

def delete(name: str, *, yes: bool = False, flags: ServerFlags, environ: Mapping[str, str],
           out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Delete a flow and all its versions; without `yes`, say what would go and exit 2."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        if not yes:
            # Deleting cannot be undone: the flow is looked up (404: exit 1)
            # and described, and nothing changes.
            reply = await client.send("GET", f"/v1/flows/{name}")
            flow = client.expect(reply, 200)
            what = client.shaped(_flow_described, reply, flow)
            raise CommandFailed(EXIT_USAGE, f"would delete flow {name} ({what}); add --yes "
                                            "to delete it")
        reply = await client.send("DELETE", f"/v1/flows/{name}")
        if reply.status != 204:
            raise client.refusal(reply)
        print(f"deleted flow {name} and its versions", file=out)
        return EXIT_OK

    return run("delete", flags, environ, err, action, lambda: check_name(name, "FLOW"))


def _flow_described(flow: dict[str, Any]) -> str:
    count = int(flow["versions"])
    live = flow["live"]
    return (f"{count} version{'' if count == 1 else 's'}, "
            + ("none live" if live is None else f"version {int(live)} live"))


def _check_target(name: str, version: int) -> None:
    check_name(name, "NAME")
    if version < 1:
        raise CommandFailed(EXIT_USAGE, f"{version} is not a version number (1, 2, ...)")


def _flow_rows(listed: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(str(f["name"]), str(f["versions"]), str(f["latest"]),
             "-" if f["live"] is None else str(f["live"]), when(f["updated_at"]))
            for f in listed]


def _bound_rows(bound: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(str(b["name"]), "-", "-", "bound", when(b["updated_at"])) for b in bound]


def _version_rows(listed: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(str(v["version"]), "live" if v["live"] else "-", when(v["created_at"]),
             str(v["size"]), str(len(v["warnings"])), str(v["content_hash"]))
            for v in listed]
