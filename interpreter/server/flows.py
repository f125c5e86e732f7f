"""REST v1 flows: upload a version (loaded, linted and compiled as `callkernel
lint` and `compile` do, on a worker thread so a large flow does not stall
other requests; its diagnostics come back exactly as the CLI's JSON output
shows them), list and read flows and versions (the document byte for byte),
publish, roll back, delete."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from interpreter.diagnostics import Diagnostic, Severity, sort_diagnostics
from interpreter.document.compile import compile_flow
from interpreter.document.lint import lint_source
from interpreter.document.loader import load_document
from interpreter.errors import DocumentError
from interpreter.server.auth import STORE, requires
from interpreter.server.problems import Problem, diagnostic_json
from interpreter.server.remote_flows import binding_json
from interpreter.server.requests import (
    MAX_BODY,
    flow_name,
    only_fields,
    positive_int,
    read_body,
    read_command,
    version_number,
    wants_json,
)
from interpreter.server.store import FlowSummary, FlowVersion, Scope, VersionInfo

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

PUBLISH_FIELDS = frozenset({"version", "expected_live"})
ROLLBACK_FIELDS = frozenset({"version"})

routes = web.RouteTableDef()


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
    bound = await request.app[STORE].bindings()  # flows bound to a URL: server/remote_flows.py
    return web.json_response({"flows": [summary_json(f) for f in flows],
                              "bound": [binding_json(b) for b in bound]})


@routes.get("/v1/flows/{name}")
@requires(Scope.READ)
async def get_flow(request: web.Request) -> web.Response:
    return web.json_response(summary_json(await request.app[STORE].flow(flow_name(request))))


@routes.delete("/v1/flows/{name}")
@requires(Scope.FLOWS)
async def delete_flow(request: web.Request) -> web.Response:
    """Delete a flow no live call runs and no route names (409 otherwise: the
    call or the route would be left pointing at nothing)."""
    name = flow_name(request)
    store = request.app[STORE]
    await store.flow(name)  # NotFound: 404
    live = await store.calls(flow=name, live=True, limit=1)
    if live:
        raise Problem("conflict", f"flow {name!r} has live calls (e.g. {live[0].call_id}); "
                                  "delete it once they have ended")
    table = await store.routing()
    if table.default == name or any(route.flow == name for route in table.routes):
        raise Problem("conflict", f"the routing table names flow {name!r}; change the "
                                  "routes first (PUT /v1/routes)")
    await store.delete_flow(name)
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
        return web.json_response(version_json(stored.info, (await store.flow(name)).live))
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
    body = only_fields(await read_command(request), PUBLISH_FIELDS)
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
    version = positive_int(only_fields(await read_command(request), ROLLBACK_FIELDS),
                           "version")
    store = request.app[STORE]
    await store.version(name, version)  # NotFound first: an unknown version is a 404
    live = (await store.flow(name)).live
    if live is None:
        raise Problem("conflict", f"flow {name!r} has no live version to roll back from: "
                                  f"publish version {version} instead")
    if version == live:
        raise Problem("conflict", f"version {version} is already live")
    if version > live:
        raise Problem("conflict", f"version {version} is newer than the live version "
                                  f"({live}): publish it instead")
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



# ------------------------------------------------------------ responses

def source_response(stored: FlowVersion) -> web.Response:
    return web.Response(body=stored.source, content_type=stored.media_type,
                        headers={"X-Flow-Version": str(stored.version)})


def summary_json(summary: FlowSummary) -> dict[str, Any]:
    return {"name": summary.name, "versions": summary.versions, "latest": summary.latest,
            "live": summary.live, "updated_at": summary.updated_at}


def version_json(info: VersionInfo, live: int | None) -> dict[str, Any]:
    return {"name": info.name, "version": info.version, "content_hash": info.content_hash,
            "media_type": info.media_type, "size": info.size, "created_at": info.created_at,
            "warnings": list(info.warnings), "live": info.version == live}
