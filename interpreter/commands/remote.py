"""`callkernel push|flows|versions|publish|rollback`: a server's flows from
the command line, over REST v1 (docs/rest-api.md); `callkernel start|calls|
call`: the calls it runs.

The server is named by `--server URL` or CALLKERNEL_SERVER_URL and the
bearer token comes from `--token` or CALLKERNEL_TOKEN; a command without
both stops before any request. Every request has a timeout and follows no
redirect (the token must not travel to another origin).

`push` prints a document's diagnostics exactly as `callkernel lint FILE`
prints them: the server lints with the same code, and the diagnostics it
returns are turned back into `Diagnostic`s under the local file's name and
printed by the same `str()`.

Exit codes:
    0  done
    1  the server answered and refused what was asked: a document with
       errors, no such flow or version, a rollback that is not to an older
       version, a body too large, no such call, a command (hangup, say,
       transfer, unhold, inject) to an ended call or one it cannot take
    2  it could not be asked: a usage error, no server URL or token, an
       unreadable file, the server unreachable or silent past the timeout, a
       token it does not accept (401) or that lacks the scope (403), or a
       reply that is not the API's (a 5xx, another program at that URL)
    3  `start --wait` only: the call ended on a fatal error (an `error:...`
       disposition), as `callkernel run` exits 3
Credentials count as setup, not as an answer: 1 means "fix the flow or the
version asked for", 2 "fix how the command reaches the server".
"""

from __future__ import annotations

import asyncio
import difflib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar
from urllib.parse import quote

import aiohttp
from yarl import URL

from interpreter.commands.inputs import UnreadableInput, display_name, read
from interpreter.commands.sources import shown
from interpreter.diagnostics import Diagnostic, Severity, Span
from interpreter.document.lint import summary
from interpreter.runtime.trace import format_record
from interpreter.server.problems import PROBLEM_JSON
from interpreter.server.requests import FLOW_NAME

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_FAULT = 0, 1, 2, 3
T = TypeVar("T")

URL_VARIABLE = "CALLKERNEL_SERVER_URL"
TOKEN_VARIABLE = "CALLKERNEL_TOKEN"
# What cli.py's --help says of each variable these commands read.
ENVIRONMENT = {
    URL_VARIABLE: "the server's base URL, e.g. http://127.0.0.1:8080 (--server wins)",
    TOKEN_VARIABLE: "the API token sent as 'Authorization: Bearer' (--token wins)",
}
DEFAULT_TIMEOUT = 30.0  # seconds for each request, connecting included

# The Content-Type a flow file is uploaded as, by its extension.
MEDIA_TYPES = {".yaml": "application/yaml", ".yml": "application/yaml",
               ".json": "application/json"}


class CommandFailed(Exception):
    """Why a command stops, and its exit code; the message is one line."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class ServerFlags:
    """What the command line said about the server; None: not given."""

    url: str | None = None
    token: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True)
class Server:
    url: str  # the base URL, without a trailing slash
    token: str
    timeout: float

    @property
    def shown_url(self) -> str:
        return shown(self.url)


def resolve_server(flags: ServerFlags, environ: Mapping[str, str]) -> Server:
    """The server and token from the flags, else the environment (CommandFailed 2)."""
    url = (flags.url or environ.get(URL_VARIABLE, "")).strip()
    token = (flags.token or environ.get(TOKEN_VARIABLE, "")).strip()
    if not url:
        raise CommandFailed(EXIT_USAGE, f"no server: give --server URL or set {URL_VARIABLE}")
    parsed = URL(url) if url.isascii() else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise CommandFailed(EXIT_USAGE, f"{shown(url)} is not an http(s) URL of a server "
                                        "(e.g. http://127.0.0.1:8080)")
    if not token:
        raise CommandFailed(EXIT_USAGE, f"no token: give --token or set {TOKEN_VARIABLE} "
                                        "(callkernel token create makes one)")
    if not flags.timeout > 0:  # also refuses nan
        raise CommandFailed(EXIT_USAGE, f"--timeout {flags.timeout}: must be more than 0")
    return Server(url.rstrip("/"), token, flags.timeout)


# ------------------------------------------------------------ talking to the server

@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    content_type: str
    body: bytes


class Client:
    """Requests to one server on one connection pool, with its token."""

    def __init__(self, server: Server, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session

    async def send(self, method: str, path: str, *, body: bytes | None = None,
                   content_type: str | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {self.server.token}",
                   "Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        where = self.server.shown_url
        try:
            async with self.session.request(method, self.server.url + path, data=body,
                                            headers=headers,
                                            allow_redirects=False) as response:
                return Reply(response.status, response.content_type, await response.read())
        except TimeoutError:
            raise CommandFailed(EXIT_USAGE, f"the server at {where} did not answer within "
                                            f"{self.server.timeout:g} s") from None
        except aiohttp.ClientConnectorError as error:
            # asyncio's message repeats the address; the errno's says why, briefly.
            cause = error.os_error
            reason = os.strerror(cause.errno) if cause.errno else cause.strerror or str(cause)
            raise CommandFailed(EXIT_USAGE, f"cannot reach the server at {where}: "
                                            f"{reason}") from None
        except (aiohttp.ClientError, OSError) as error:
            raise CommandFailed(EXIT_USAGE, f"cannot talk to the server at {where}: "
                                            f"{shown(str(error) or type(error).__name__)}"
                                ) from None

    async def command(self, path: str, body: dict[str, Any]) -> Reply:
        return await self.send("POST", path, body=json.dumps(body).encode(),
                               content_type="application/json")

    def expect(self, reply: Reply, status: int) -> dict[str, Any]:
        """The JSON object of a reply with `status`; CommandFailed otherwise."""
        if reply.status != status:
            raise self.refusal(reply)
        body = _json_object(reply, "application/json")
        if body is None:
            raise self.foreign(reply)
        return body

    def refusal(self, reply: Reply) -> CommandFailed:
        """The failure a problem reply means (see the module's exit codes)."""
        problem = _json_object(reply, PROBLEM_JSON)
        if problem is None or not isinstance(problem.get("detail"), str):
            return self.foreign(reply)
        detail = shown(problem["detail"])
        said = f"{detail} ({reply.status} {problem.get('code', 'error')})"
        if reply.status == 401:
            return CommandFailed(EXIT_USAGE, f"the server does not accept the token: {said}; "
                                             f"check --token or {TOKEN_VARIABLE}")
        if reply.status == 403 or reply.status >= 500:
            return CommandFailed(EXIT_USAGE, said)
        return CommandFailed(EXIT_REFUSED, said)

    def shaped(self, read: Callable[..., T], reply: Reply, *args: Any) -> T:
        """`read(*args)`, a part of `reply`'s body; a body not shaped as the
        API's (KeyError, TypeError, ValueError) is a foreign reply."""
        try:
            return read(*args)
        except (KeyError, TypeError, ValueError):
            raise self.foreign(reply) from None

    def foreign(self, reply: Reply) -> CommandFailed:
        kind = reply.content_type or "no content type"
        return CommandFailed(EXIT_USAGE, f"{self.server.shown_url} answered {reply.status} "
                                         f"({kind}), which is not the callkernel API's "
                                         "answer: is the URL the server's?")


def _json_object(reply: Reply, content_type: str) -> dict[str, Any] | None:
    if reply.content_type != content_type:
        return None
    try:
        body = json.loads(reply.body)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _run(command: str, flags: ServerFlags, environ: Mapping[str, str], err: TextIO,
         action: Callable[[Client], Awaitable[int]],
         check: Callable[[], None] | None = None) -> int:
    """Resolve the server, run the local `check`, then `action` with a client;
    a CommandFailed becomes its one-line message and exit code."""
    try:
        server = resolve_server(flags, environ)
        if check is not None:
            check()
        return asyncio.run(_with_client(server, action))
    except CommandFailed as failure:
        print(f"callkernel {command}: {failure}", file=err)
        return failure.code


async def _with_client(server: Server, action: Callable[[Client], Awaitable[int]]) -> int:
    timeout = aiohttp.ClientTimeout(total=server.timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return await action(Client(server, session))


def check_name(name: str, given_by: str) -> None:
    """CommandFailed 2 unless `name` follows the server's flow name rule."""
    if not FLOW_NAME.fullmatch(name):
        raise CommandFailed(EXIT_USAGE, f"{name!r} ({given_by}) is not a flow name: 1 to 64 "
                                        "of a-z, 0-9, _ and -, starting with a letter or "
                                        "digit")


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
        problem = _json_object(reply, PROBLEM_JSON)
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

    return _run("push", flags, environ, err, action, check)


def diagnostics_from(items: object, file: str) -> list[Diagnostic]:
    """The server's diagnostics (lint's JSON shape) as `Diagnostic`s about
    the local `file`: the server lints the body under its own file name.
    ValueError if they are not in that shape."""
    if not isinstance(items, list):
        raise ValueError("diagnostics are not a list")
    found = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a diagnostic is not an object")
        path, hint = item.get("path"), item.get("hint")
        found.append(Diagnostic(
            code=str(item["code"]), severity=Severity(item["severity"]),
            message=str(item["message"]),
            span=Span(display_name(file), int(item["line"]), int(item["col"])),
            path=tuple(path.split("/")) if isinstance(path, str) and path else (),
            hint=hint if isinstance(hint, str) else None))
    return found


def print_as_lint(diagnostics: list[Diagnostic], out: TextIO, err: TextIO) -> None:
    """What `callkernel lint FILE` prints for one file with these diagnostics."""
    for diagnostic in diagnostics:
        print(shown(str(diagnostic)), file=out)
    errors, warnings = summary(diagnostics)
    print(f"{errors} error(s), {warnings} warning(s) in 1 file", file=err)


# ------------------------------------------------------------ reading and steering

def flows(*, as_json: bool = False, flags: ServerFlags, environ: Mapping[str, str],
          out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the server's flows: name, versions, latest, live, last change."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        reply = await client.send("GET", "/v1/flows")
        listed = client.expect(reply, 200).get("flows", [])
        if as_json:
            print(reply.body.decode(), file=out)
            return EXIT_OK
        rows = client.shaped(_flow_rows, reply, listed)
        _table(("NAME", "VERSIONS", "LATEST", "LIVE", "UPDATED"), rows, out)
        print(f"{len(rows)} flow(s)", file=err)
        return EXIT_OK

    return _run("flows", flags, environ, err, action)


def versions(name: str, *, as_json: bool = False, flags: ServerFlags,
             environ: Mapping[str, str], out: TextIO | None = None,
             err: TextIO | None = None) -> int:
    """Print a flow's versions, oldest first, the live one marked."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        reply = await client.send("GET", f"/v1/flows/{name}/versions")
        listed = client.expect(reply, 200).get("versions", [])
        if as_json:
            print(reply.body.decode(), file=out)
            return EXIT_OK
        rows = client.shaped(_version_rows, reply, listed)
        _table(("VERSION", "LIVE", "CREATED", "BYTES", "WARNINGS", "HASH"), rows, out)
        print(f"{len(rows)} version(s) of {name}", file=err)
        return EXIT_OK

    return _run("versions", flags, environ, err, action, lambda: check_name(name, "NAME"))


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
        client.expect(await client.command(f"/v1/flows/{name}/{command}",
                                           {"version": version}), 200)
        print(said, file=out)
        return EXIT_OK

    return _run(command, flags, environ, err, action, lambda: _check_target(name, version))


def _check_target(name: str, version: int) -> None:
    check_name(name, "NAME")
    if version < 1:
        raise CommandFailed(EXIT_USAGE, f"{version} is not a version number (1, 2, ...)")


def _flow_rows(listed: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(str(f["name"]), str(f["versions"]), str(f["latest"]),
             "-" if f["live"] is None else str(f["live"]), _when(f["updated_at"]))
            for f in listed]


def _version_rows(listed: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(str(v["version"]), "live" if v["live"] else "-", _when(v["created_at"]),
             str(v["size"]), str(len(v["warnings"])), str(v["content_hash"]))
            for v in listed]


def _when(seconds: object) -> str:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(seconds))


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip(), file=out)


# ------------------------------------------------------------ calls

# Seconds between a waiting `start`'s looks at its call: calls run in real
# time on the server, so a few looks a second see the end soon enough.
POLL_INTERVAL = 0.2
CALL_PHASES = ("live", "ended")  # what GET /v1/calls?state= takes


def start(flow: str, caller: str, *, model: str | None = None, version: int | None = None,
          wait: bool = False, as_json: bool = False, flags: ServerFlags,
          environ: Mapping[str, str], out: TextIO | None = None,
          err: TextIO | None = None) -> int:
    """Start a call of FLOW (its live version, or `version`) on the server,
    with the caller script file `caller` and scripted rules file `model`;
    print the call's id. With `wait`, poll until it ends and print its state."""
    out, err = out or sys.stdout, err or sys.stderr
    texts: dict[str, str] = {}

    def check() -> None:
        check_name(flow, "FLOW")
        if version is not None and version < 1:
            raise CommandFailed(EXIT_USAGE, f"--version {version}: a version number is "
                                            "1, 2, ...")
        texts["caller"] = _read_text(caller)
        if model is not None:
            texts["model"] = _read_text(model)

    async def action(client: Client) -> int:
        body: dict[str, Any] = {"flow": flow, "caller": texts["caller"],
                                "model": texts.get("model")}
        if version is not None:
            body["version"] = version
        reply = await client.command("/v1/calls", body)
        problem = _json_object(reply, PROBLEM_JSON)
        if reply.status == 422 and problem is not None and "errors" in problem:
            # The server says which document it could not load; a local one is
            # printed as `callkernel lint` prints it, under the local name.
            detail = str(problem.get("detail", ""))
            local = (caller if detail.startswith("the caller script")
                     else model if detail.startswith("the model's rules") else None)
            if local is not None:
                print_as_lint(client.shaped(diagnostics_from, reply, problem["errors"],
                                            local), out, err)
                return EXIT_REFUSED
        record = client.expect(reply, 201)
        call_id = client.shaped(lambda: str(record["call_id"]), reply)
        print(f"started call {call_id} of {flow} version {record.get('version')}", file=err)
        if not wait:
            print(json.dumps(record) if as_json else call_id, file=out)
            return EXIT_OK
        record = await _until_ended(client, call_id)
        _print_call(client, record, as_json, out)
        disposition = record.get("disposition")
        return EXIT_FAULT if str(disposition).startswith("error") else EXIT_OK

    return _run("start", flags, environ, err, action, check)


async def _until_ended(client: Client, call_id: str) -> dict[str, Any]:
    while True:
        record = client.expect(await client.send("GET", _call_path(call_id)), 200)
        if record.get("state") == "ended":
            return record
        await asyncio.sleep(POLL_INTERVAL)


def calls(*, flow: str | None = None, state: str | None = None, as_json: bool = False,
          flags: ServerFlags, environ: Mapping[str, str], out: TextIO | None = None,
          err: TextIO | None = None) -> int:
    """Print the calls the server started, newest first: live ones and
    recently ended ones, optionally of one flow or in one state."""
    out, err = out or sys.stdout, err or sys.stderr

    def check() -> None:
        if flow is not None:
            check_name(flow, "--flow")
        if state is not None and state not in CALL_PHASES:
            raise CommandFailed(EXIT_USAGE, f"--state {state}: live or ended")

    async def action(client: Client) -> int:
        query = {key: value for key, value in (("flow", flow), ("state", state)) if value}
        path = "/v1/calls" + ("?" + "&".join(f"{k}={quote(v, safe='')}"
                                             for k, v in query.items()) if query else "")
        reply = await client.send("GET", path)
        listed = client.expect(reply, 200).get("calls", [])
        if as_json:
            print(reply.body.decode(), file=out)
            return EXIT_OK
        rows = client.shaped(_call_rows, reply, listed)
        _table(("ID", "FLOW", "VERSION", "STATE", "DISPOSITION", "STARTED"), rows, out)
        print(f"{len(rows)} call(s)", file=err)
        return EXIT_OK

    return _run("calls", flags, environ, err, action, check)


def show_call(call_id: str, *, as_json: bool = False, flags: ServerFlags,
              environ: Mapping[str, str], out: TextIO | None = None,
              err: TextIO | None = None) -> int:
    """Print one call's state: flow and version, live or ended, disposition, times."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        reply = await client.send("GET", _call_path(call_id))
        _print_call(client, client.expect(reply, 200), as_json, out)
        return EXIT_OK

    return _run("call", flags, environ, err, action, lambda: _check_call_id(call_id))


def hang_up(call_id: str, *, flags: ServerFlags, environ: Mapping[str, str],
            out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Ask a live call to hang up (the server refuses an ended one: 409, exit 1)."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        client.expect(await client.send("POST", _call_path(call_id) + "/hangup"), 202)
        # Accepted, not done: the call ends once its actor takes the request.
        print(f"call {call_id} is hanging up", file=out)
        return EXIT_OK

    return _run("call", flags, environ, err, action, lambda: _check_call_id(call_id))


# What `call ID --say/--transfer/--unhold/--inject` print once the server
# accepted: accepted, not done (the call runs it at its next safe point).
_COMMAND_DONE = {"say": "will say it", "transfer": "will be transferred",
                 "unhold": "is coming off hold", "inject": "got the event"}


def call_command(call_id: str, *, say: str | None = None, transfer: str | None = None,
                 unhold: bool = False, inject: str | None = None, flags: ServerFlags,
                 environ: Mapping[str, str], out: TextIO | None = None,
                 err: TextIO | None = None) -> int:
    """Send a live call the one command asked for (say, transfer, unhold or an
    injected event); the server refuses one to an ended call or one the call
    cannot take (409, exit 1) and a bad one (400, exit 1)."""
    out, err = out or sys.stdout, err or sys.stderr
    asked: list[tuple[str, dict[str, Any]]] = []

    def check() -> None:
        _check_call_id(call_id)
        asked.append(_command_body(say, transfer, unhold, inject))

    async def action(client: Client) -> int:
        name, body = asked[0]
        client.expect(await client.command(f"{_call_path(call_id)}/{name}", body), 202)
        print(f"call {call_id} {_COMMAND_DONE[name]}", file=out)
        return EXIT_OK

    return _run("call", flags, environ, err, action, check)


def _command_body(say: str | None, transfer: str | None, unhold: bool,
                  inject: str | None) -> tuple[str, dict[str, Any]]:
    """The command (its path's last part) and JSON body; CommandFailed 2 for
    an --inject that is not a JSON object naming its event."""
    if say is not None:
        return "say", {"text": say}
    if transfer is not None:
        return "transfer", {"dest": transfer}
    if unhold or inject is None:
        return "unhold", {}
    try:
        event = json.loads(inject)
    except (ValueError, RecursionError) as error:
        raise CommandFailed(EXIT_USAGE, f"--inject: not JSON: {error}") from None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise CommandFailed(EXIT_USAGE, "--inject takes a JSON object naming the event, "
                                        'e.g. \'{"event": "leg_answered", "leg_id": '
                                        '"leg-2"}\'')
    return "inject", event


def call_trace(call_id: str, *, kinds: list[str] | None = None, as_json: bool = False,
               flags: ServerFlags, environ: Mapping[str, str], out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    """Print a call's trace so far as `callkernel trace FILE` prints a file;
    `as_json`: as JSON lines, the file `run --trace` writes."""
    out, err = out or sys.stdout, err or sys.stderr

    async def action(client: Client) -> int:
        reply = await client.send("GET", _call_path(call_id) + "/trace")
        if reply.status != 200:
            raise client.refusal(reply)
        records = client.shaped(_trace_records, reply, reply)
        seen = {str(record["kind"]) for record in records}
        for record in records:
            if kinds and record["kind"] not in kinds:
                continue
            print(json.dumps(record, ensure_ascii=False) if as_json
                  else format_record(record), file=out)
        for kind in kinds or ():
            if kind not in seen:
                close = difflib.get_close_matches(kind, sorted(seen), n=1)
                print(f"callkernel call: no {kind!r} record in call {call_id}'s trace"
                      + (f" (did you mean {close[0]!r}?)" if close else ""), file=err)
        return EXIT_OK

    return _run("call", flags, environ, err, action, lambda: _check_call_id(call_id))


def _trace_records(reply: Reply) -> list[dict[str, Any]]:
    """The records of a trace reply (a JSON array); ValueError if it is not one."""
    if reply.content_type != "application/json":
        raise ValueError("not JSON")
    records = json.loads(reply.body)
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and isinstance(r.get("kind"), str)
            and isinstance(r.get("t"), int | float) for r in records):
        raise ValueError("not a list of trace records")
    return records


def _read_text(path: str) -> str:
    try:
        return read(path).decode("utf-8")
    except UnreadableInput as error:
        raise CommandFailed(EXIT_USAGE, str(error)) from None
    except UnicodeDecodeError:
        raise CommandFailed(EXIT_USAGE, f"{shown(path)}: not UTF-8 text") from None


def _check_call_id(call_id: str) -> None:
    if not call_id or not call_id.isprintable():
        raise CommandFailed(EXIT_USAGE, f"{call_id!r} is not a call id (callkernel calls "
                                        "lists them)")


def _call_path(call_id: str) -> str:
    return f"/v1/calls/{quote(call_id, safe='')}"


def _print_call(client: Client, record: dict[str, Any], as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(record), file=out)
        return
    reply = Reply(200, "application/json", json.dumps(record).encode())
    for label, value in client.shaped(_call_lines, reply, record):
        print(f"{label:<12} {value}", file=out)


def _call_lines(record: dict[str, Any]) -> list[tuple[str, str]]:
    live = record["state"] == "live"
    ended_at, started_at = record["ended_at"], record["started_at"]
    took = (f" (after {ended_at - started_at:.1f} s)"
            if isinstance(ended_at, int | float) and isinstance(started_at, int | float)
            else "")
    return [("call", str(record["call_id"])),
            ("flow", f"{record['flow']} version {record['version']}"),
            ("state", f"live ({record['call_state']})" if live else str(record["state"])),
            ("disposition", str(record["disposition"] or "-")),
            ("started", _when(started_at)),
            ("ended", "-" if live else _when(ended_at) + took)]


def _call_rows(listed: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(str(c["call_id"]), str(c["flow"]), str(c["version"]), str(c["state"]),
             str(c["disposition"] or "-"), _when(c["started_at"])) for c in listed]
