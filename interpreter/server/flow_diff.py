"""REST v1 `GET /v1/flows/{name}/diff?from=A&to=B`: a unified diff of two
versions' documents as they were uploaded.

The bytes are decoded as UTF-8 with replacement (a stored document is kept
byte for byte and may hold anything), so the diff is always text. Versions
are named by number, `live` or `latest`; the headers of the diff name each
side as `NAME@VERSION`.
"""

from __future__ import annotations

import difflib

from aiohttp import web

from interpreter.server.auth import STORE, requires
from interpreter.server.problems import Problem
from interpreter.server.requests import flow_name, version_number
from interpreter.server.store import FlowVersion, Scope, Store

# Lines of context around each change, as `diff -u` gives by default.
CONTEXT_LINES = 3

routes = web.RouteTableDef()


@routes.get("/v1/flows/{name}/diff")
@requires(Scope.READ)
async def diff_versions(request: web.Request) -> web.Response:
    """A unified diff from version `from` to version `to` (text/plain; empty
    when they are the same document)."""
    name = flow_name(request)
    store = request.app[STORE]
    older = await _version(store, name, request.query.get("from"), "from")
    newer = await _version(store, name, request.query.get("to"), "to")
    text = unified_diff(older, newer, context=_context(request.query.get("context")))
    return web.Response(text=text, content_type="text/plain", charset="utf-8",
                        headers={"X-Flow-Versions": f"{older.version}..{newer.version}"})


def unified_diff(older: FlowVersion, newer: FlowVersion, *,
                 context: int = CONTEXT_LINES) -> str:
    """The unified diff of two versions' sources (UTF-8, bad bytes replaced)."""
    before = older.source.decode("utf-8", "replace").splitlines(keepends=True)
    after = newer.source.decode("utf-8", "replace").splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, f"{older.name}@{older.version}",
                                 f"{newer.name}@{newer.version}", n=context)
    # A last line without a newline still ends its line in the diff, as
    # `diff` marks it, so the next header never runs into it.
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)


async def _version(store: Store, name: str, which: str | None, key: str) -> FlowVersion:
    if which is None:
        raise Problem("invalid-request", f"`{key}` is required: a version number, live or "
                                         "latest")
    if which == "latest":
        return await store.version(name)
    if which == "live":
        return await store.version(name, live=True)
    return await store.version(name, version_number(which))


def _context(text: str | None) -> int:
    if text is None:
        return CONTEXT_LINES
    if not text.isascii() or not text.isdigit() or int(text) > 1000:
        raise Problem("invalid-request", f"context {text!r}: a number of lines, 0 to 1000")
    return int(text)
