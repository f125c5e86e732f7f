"""The REST v1 app: flows (upload, list, read, publish, roll back, delete),
calls (server/calls.py) and following them (server/events.py), health,
readiness, metrics (server/metrics.py) and the OpenAPI document.

`build_app(store)` returns the aiohttp application; `callkernel serve` runs
it, tests drive it through `aiohttp_client`. Two middlewares wrap every
handler: `problems_middleware` (outermost: any error becomes a problem
document) and `auth_middleware` (the bearer token and the route's scope).

An uploaded document goes through the same loader, linter and compiler as
`callkernel lint` and `compile`, on a worker thread so that a large flow does
not stall other requests; its diagnostics come back exactly as the CLI's JSON
output shows them. The body is stored byte for byte and served back so.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from interpreter.diagnostics import Diagnostic, Severity, sort_diagnostics
from interpreter.document.compile import compile_flow
from interpreter.document.lint import lint_source
from interpreter.document.loader import load_document
from interpreter.errors import DocumentError
from interpreter.host import CallHost
from interpreter.server.auth import STORE, auth_middleware, requires
from interpreter.server.metrics import METRICS, CallMetrics
from interpreter.server.metrics import routes as metrics_routes
from interpreter.server.openapi import OPENAPI
from interpreter.server.problems import Problem, diagnostic_json, problems_middleware
from interpreter.server.store import FlowSummary, FlowVersion, NotFound, Scope, Store

if TYPE_CHECKING:
    from interpreter.server.events import CallEvents

FLOW_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Request media types a flow may be uploaded as, and the one each is stored as.
DOCUMENT_TYPES = {
    "application/yaml": "application/yaml",
    "application/x-yaml": "application/yaml",
    "text/yaml": "application/yaml",
    "application/json": "application/json",
}
# The file name a stored media type is linted under: it picks YAML or JSON
# parsing, as the file's extension does for `callkernel lint`.
_EXTENSIONS = {"application/yaml": ".yaml", "application/json": ".json"}
# Command bodies (publish, rollback) are a few bytes; far less than a flow.
COMMAND_MAX_BYTES = 16 * 1024

HOST: web.AppKey[CallHost] = web.AppKey("host", CallHost)
MAX_BODY: web.AppKey[int] = web.AppKey("max_body_bytes", int)

routes = web.RouteTableDef()


def build_app(store: Store, *, max_body_bytes: int = 1_048_576,
              host: CallHost | None = None,
              metrics: CallMetrics | None = None,
              events: CallEvents | None = None) -> web.Application:
    """The REST v1 application over `store`. The caller owns the store: it
    opens it before and closes it after. Calls run on `host`, which the
    caller then owns too (started before the app, closed after); with none,
    the app makes one, started and closed with the app. Either way the calls
    the app started are hung up at its cleanup. `/metrics` sees the calls'
    trace records on the host the app makes; a host given here is seen only
    if it was built with `trace_sinks=metrics.trace_sinks()` and that
    `metrics` is passed too (its live calls are seen either way). Likewise
    its calls can be followed (`/events`, `/ws`) only if the host's trace
    sinks feed `events` (`events.trace_sinks()`, which composes:
    `metrics.trace_sinks(events.trace_sinks())`)."""
    # calls.py uses this module's request helpers, so it is imported here
    # rather than at the top, where the two would import each other.
    from interpreter.server.calls import CALLS, CallRegistry
    from interpreter.server.calls import routes as call_routes
    from interpreter.server.events import EVENTS, CallEvents
    from interpreter.server.events import routes as event_routes

    app = web.Application(client_max_size=max_body_bytes,
                          middlewares=[problems_middleware, auth_middleware])
    metrics = metrics or CallMetrics()
    events = events or CallEvents()
    # Each record passes the metrics, then the call's followers.
    registry = CallRegistry(
        host or CallHost(trace_sinks=metrics.trace_sinks(events.trace_sinks())),
        owns_host=host is None, on_ended=events.ended)
    metrics.watch(registry.host)
    app[STORE] = store
    app[HOST] = registry.host
    app[CALLS] = registry
    app[MAX_BODY] = max_body_bytes
    app[METRICS] = metrics
    app[EVENTS] = events
    app.cleanup_ctx.append(registry.running)
    app.add_routes(routes)
    app.add_routes(call_routes)
    app.add_routes(metrics_routes)
    app.add_routes(event_routes)
    return app


# ------------------------------------------------------------ health and docs

@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Alive: the process answers."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready: the store answers a query."""
    try:
        await request.app[STORE].flow("readyz-probe")
    except NotFound:
        pass  # an answer all the same
    except Exception as error:
        raise Problem("store-unavailable", f"the store did not answer: {error}") from None
    return web.json_response({"status": "ready"})


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


# ------------------------------------------------------------ flows

@routes.post("/v1/flows/{name}")
@requires(Scope.FLOWS)
async def upload_version(request: web.Request) -> web.Response:
    """Store a new version of a flow after it loads, lints and compiles."""
    name = flow_name(request)
    media_type = document_type(request)
    source = await read_body(request, request.app[MAX_BODY])
    file = name + _EXTENSIONS[media_type]
    content_hash, diagnostics = await asyncio.to_thread(check_document, source, file)
    if content_hash is None:
        errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
        raise Problem("invalid-document", f"{file} has {errors} error(s)", errors=diagnostics)
    warnings = [d for d in diagnostics if d.severity is Severity.WARNING]
    stored = await request.app[STORE].add_version(
        name, source, media_type, content_hash, tuple(str(d) for d in warnings))
    body = {"name": stored.name, "version": stored.version,
            "content_hash": stored.content_hash, "warnings": list(stored.warnings),
            "diagnostics": [diagnostic_json(d) for d in diagnostics], "live": False}
    location = f"/v1/flows/{name}/versions/{stored.version}"
    return web.json_response(body, status=201, headers={"Location": location})


@routes.get("/v1/flows")
@requires(Scope.READ)
async def list_flows(request: web.Request) -> web.Response:
    flows = await request.app[STORE].flows()
    return web.json_response({"flows": [summary_json(f) for f in flows]})


@routes.get("/v1/flows/{name}")
@requires(Scope.READ)
async def get_flow(request: web.Request) -> web.Response:
    return web.json_response(summary_json(await request.app[STORE].flow(flow_name(request))))


@routes.delete("/v1/flows/{name}")
@requires(Scope.FLOWS)
async def delete_flow(request: web.Request) -> web.Response:
    await request.app[STORE].delete_flow(flow_name(request))
    return web.Response(status=204)


@routes.get("/v1/flows/{name}/versions")
@requires(Scope.READ)
async def list_versions(request: web.Request) -> web.Response:
    name = flow_name(request)
    store = request.app[STORE]
    versions = await store.versions(name)
    live = (await store.flow(name)).live
    return web.json_response({"name": name,
                              "versions": [version_json(v, live) for v in versions]})


@routes.get("/v1/flows/{name}/versions/{version}")
@requires(Scope.READ)
async def get_version(request: web.Request) -> web.Response:
    """The document as uploaded; its metadata with `Accept: application/json`."""
    name = flow_name(request)
    number = version_number(request.match_info["version"])
    store = request.app[STORE]
    stored = await store.version(name, number)
    if wants_json(request):
        return web.json_response(version_json(stored, (await store.flow(name)).live))
    return source_response(stored)


@routes.get("/v1/flows/{name}/source")
@requires(Scope.READ)
async def get_source(request: web.Request) -> web.Response:
    """The document of `?version=N|live|latest` (default latest), as uploaded."""
    name = flow_name(request)
    which = request.query.get("version", "latest")
    store = request.app[STORE]
    if which == "latest":
        stored = await store.version(name)
    elif which == "live":
        stored = await store.version(name, live=True)
    else:
        stored = await store.version(name, version_number(which))
    return source_response(stored)


@routes.post("/v1/flows/{name}/publish")
@requires(Scope.FLOWS)
async def publish(request: web.Request) -> web.Response:
    """Make a version live; with `expected_live`, only if the live one is that."""
    name = flow_name(request)
    body = await read_command(request)
    version = positive_int(body, "version")
    expected = body.get("expected_live")
    expected_live = None if expected is None else positive_int(body, "expected_live")
    summary = await request.app[STORE].publish(name, version, expected_live)
    return web.json_response(summary_json(summary))


@routes.post("/v1/flows/{name}/rollback")
@requires(Scope.FLOWS)
async def rollback(request: web.Request) -> web.Response:
    """Make an earlier version live again (compare-and-set on the live one)."""
    name = flow_name(request)
    version = positive_int(await read_command(request), "version")
    store = request.app[STORE]
    await store.version(name, version)  # NotFound first: an unknown version is a 404
    live = (await store.flow(name)).live
    if live is None or version >= live:
        raise Problem("conflict", f"version {version} is not older than the live version "
                                  f"({'none' if live is None else live}); publish it instead")
    summary = await store.publish(name, version, expected_live=live)
    return web.json_response(summary_json(summary))


# ------------------------------------------------------------ checking a document

def check_document(source: bytes, file: str) -> tuple[str | None, list[Diagnostic]]:
    """Load, lint and compile: the content hash and every diagnostic, or None
    and every diagnostic when there are errors. The same list `callkernel
    lint` gives for the same bytes under the same file name. Blocking."""
    try:
        doc = load_document(source, file)
    except DocumentError as error:
        return None, sort_diagnostics(error.diagnostics)
    try:
        flow, diagnostics = compile_flow(doc)
    except DocumentError:
        # compile_flow keeps only the errors; the author wants the warnings too.
        return None, lint_source(doc)
    return flow.content_hash, diagnostics


# ------------------------------------------------------------ request parts

def flow_name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not FLOW_NAME.fullmatch(name):
        raise Problem("invalid-flow-name", f"{name!r} is not a flow name: 1 to 64 of a-z, "
                                           "0-9, _ and -, starting with a letter or digit")
    return name


def version_number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise Problem("invalid-request", f"{text!r} is not a version number "
                                         "(1, 2, ...; or live or latest where allowed)")
    return int(text)


def document_type(request: web.Request) -> str:
    """The stored media type for the request's Content-Type; 415 if not a flow's."""
    stored = DOCUMENT_TYPES.get(request.content_type)
    charset = request.charset
    if stored is None or (charset is not None and charset.lower() not in ("utf-8", "utf8")):
        accepted = ", ".join(DOCUMENT_TYPES)
        raise Problem("unsupported-media-type",
                      f"a flow is uploaded as one of {accepted} (UTF-8), "
                      f"not {request.headers.get('Content-Type', 'no Content-Type')}")
    return stored


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refused with 413 once it is over `limit` bytes: by its
    Content-Length before reading, and by counting while reading (a chunked
    body declares none)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(declared, limit)
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise _too_large(None, limit)
    return bytes(body)


def _too_large(size: int | None, limit: int) -> Problem:
    what = f"{size:,} bytes" if size is not None else "larger"
    return Problem("payload-too-large", f"the body is {what}; the limit is {limit:,} bytes")


async def read_command(request: web.Request,
                       limit: int = COMMAND_MAX_BYTES) -> dict[str, Any]:
    """A JSON object body (publish, rollback, starting a call)."""
    if request.content_type != "application/json":
        raise Problem("unsupported-media-type", "this takes an application/json body")
    raw = await read_body(request, limit)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise Problem("invalid-request", f"the body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise Problem("invalid-request", "the body must be a JSON object")
    return body


def positive_int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Problem("invalid-request", f"{key!r} must be a version number (1, 2, ...)")
    return value


def wants_json(request: web.Request) -> bool:
    """Whether the Accept header names application/json (not just */*)."""
    for part in request.headers.get("Accept", "").split(","):
        media, *params = (item.strip().lower() for item in part.split(";"))
        if media == "application/json" and not any(
                p.partition("=")[0].strip() == "q" and _is_zero(p.partition("=")[2])
                for p in params):
            return True
    return False


def _is_zero(quality: str) -> bool:
    try:
        return float(quality) == 0
    except ValueError:
        return False


# ------------------------------------------------------------ responses

def source_response(stored: FlowVersion) -> web.Response:
    return web.Response(body=stored.source, content_type=stored.media_type,
                        headers={"X-Flow-Version": str(stored.version)})


def summary_json(summary: FlowSummary) -> dict[str, Any]:
    return {"name": summary.name, "versions": summary.versions, "latest": summary.latest,
            "live": summary.live, "updated_at": summary.updated_at}


def version_json(stored: FlowVersion, live: int | None) -> dict[str, Any]:
    return {"name": stored.name, "version": stored.version,
            "content_hash": stored.content_hash, "media_type": stored.media_type,
            "size": len(stored.source), "created_at": stored.created_at,
            "warnings": list(stored.warnings), "live": stored.version == live}
