"""The CLI's side of REST v1 (docs/rest-api.md), shared by the server
commands (commands/remote.py: flows; commands/remote_calls.py: calls and the
outbox; commands/routes.py: routing and bindings).

The server is named by `--server URL` or CALLKERNEL_SERVER_URL and the
bearer token comes from `--token` or CALLKERNEL_TOKEN; a command without
both stops before any request. Every request has a timeout and follows no
redirect (the token must not travel to another origin).

Exit codes:
    0  done
    1  the server answered and refused what was asked: a document with
       errors, no such flow or version, a rollback that is not to an older
       version, a body too large, no such call, a command (hangup, say,
       transfer, unhold, inject) to an ended call or one it cannot take
    2  it could not be asked: a usage error, no server URL or token (or a
       URL ending in /v1), `delete` without --yes, an
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
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from interpreter.commands.inputs import display_name
from interpreter.commands.sources import shown
from interpreter.diagnostics import Diagnostic, Severity, Span
from interpreter.document.lint import summary
from interpreter.server.problems import PROBLEM_JSON
from interpreter.server.requests import FLOW_NAME

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_FAULT = 0, 1, 2, 3
T = TypeVar("T")

URL_VARIABLE = "CALLKERNEL_SERVER_URL"
TOKEN_VARIABLE = "CALLKERNEL_TOKEN"
# What cli.py's --help says of each variable these commands read.
ENVIRONMENT = {
    URL_VARIABLE: "the server's base URL, e.g. http://127.0.0.1:8080, without /v1 "
    "(--server wins)",
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
    if parsed.path.rstrip("/").endswith("/v1"):
        # The commands add /v1/... themselves: asking would get a 404 for /v1/v1/...
        base = str(parsed.with_path(parsed.path.rstrip("/")[:-len("/v1")] or "/")
                   .with_query(None).with_fragment(None)).rstrip("/")
        raise CommandFailed(EXIT_USAGE, f"{shown(url)} ends in /v1: give the server's base "
                                        f"URL ({shown(base)}); the commands add /v1/...")
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
        body = json_object(reply, "application/json")
        if body is None:
            raise self.foreign(reply)
        return body

    def refusal(self, reply: Reply) -> CommandFailed:
        """The failure a problem reply means (see the module's exit codes)."""
        problem = json_object(reply, PROBLEM_JSON)
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

    async def listing(self, path: str, key: str,
                      rows: Callable[[list[Any]], list[tuple[str, ...]]],
                      header: tuple[str, ...], out: TextIO, *, as_json: bool) -> int | None:
        """GET `path` and print its `key` list as a table of `rows(list)`
        under `header`, or the body as it came with `as_json`: how many rows
        (None when the body was printed)."""
        reply = await self.send("GET", path)
        listed = self.expect(reply, 200).get(key, [])
        if as_json:
            print(reply.body.decode(), file=out)
            return None
        shown_rows = self.shaped(rows, reply, listed)
        table(header, shown_rows, out)
        return len(shown_rows)

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


def json_object(reply: Reply, content_type: str) -> dict[str, Any] | None:
    if reply.content_type != content_type:
        return None
    try:
        body = json.loads(reply.body)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def run(command: str, flags: ServerFlags, environ: Mapping[str, str], err: TextIO,
         action: Callable[[Client], Awaitable[int]],
         check: Callable[[], None] | None = None) -> int:
    """Resolve the server, run the local `check`, then `action` with a client;
    a CommandFailed becomes its one-line message and exit code."""
    try:
        server = resolve_server(flags, environ)
        if check is not None:
            check()
        return asyncio.run(with_client(server, action))
    except CommandFailed as failure:
        print(f"callkernel {command}: {failure}", file=err)
        return failure.code


async def with_client(server: Server, action: Callable[[Client], Awaitable[int]]) -> int:
    timeout = aiohttp.ClientTimeout(total=server.timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return await action(Client(server, session))


def check_name(name: str, given_by: str) -> None:
    """CommandFailed 2 unless `name` follows the server's flow name rule."""
    if not FLOW_NAME.fullmatch(name):
        raise CommandFailed(EXIT_USAGE, f"{name!r} ({given_by}) is not a flow name: 1 to 64 "
                                        "of a-z, 0-9, _ and -, starting with a letter or "
                                        "digit")



# ------------------------------------------------------------ output

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

def with_query(path: str, pairs: Iterable[tuple[str, str | None]]) -> str:
    """`path` with the pairs that have a value as its query, each encoded
    whole (a `+` in an ISO 8601 offset stays a plus)."""
    given = [(key, value) for key, value in pairs if value]
    return f"{path}?{urlencode(given, quote_via=quote)}" if given else path


def when(seconds: object) -> str:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(seconds))


def table(header: tuple[str, ...], rows: list[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip(), file=out)
