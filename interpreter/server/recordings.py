"""REST v1 recordings: the audio a call's `record` and `record_call` verbs
wrote, listed and served by the call.

A recording is a file in the recordings folder (media/recording.py,
`CALLKERNEL_RECORDINGS`); its `file://` URL is in the call's trace (the
`recording_started` record, and `record_url` / `record_call_url` among the
variables its end holds). A call serves only the files its own trace names,
by their name alone, so no path from a request reaches the disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from aiohttp import web

from interpreter.server.auth import requires
from interpreter.server.calls import CALLS
from interpreter.server.problems import Problem
from interpreter.server.store import Scope

CONTENT_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg"}
URL_VARIABLES = ("record_url", "record_call_url")

routes = web.RouteTableDef()


@routes.get("/v1/calls/{call_id}/recordings")
@requires(Scope.READ)
async def list_recordings(request: web.Request) -> web.Response:
    """The recordings the call made: name, size and where to fetch each."""
    call_id = request.match_info["call_id"]
    files = await _recordings(request, call_id)
    return web.json_response({"recordings": [
        {"name": name, "bytes": path.stat().st_size,
         "url": f"/v1/calls/{call_id}/recordings/{name}"}
        for name, path in files.items() if path.is_file()]})


@routes.get("/v1/calls/{call_id}/recordings/{name}")
@requires(Scope.READ)
async def get_recording(request: web.Request) -> web.FileResponse:
    call_id, name = request.match_info["call_id"], request.match_info["name"]
    path = (await _recordings(request, call_id)).get(name)
    if path is None or not path.is_file():
        raise Problem("not-found", f"call {call_id} has no recording {name[:80]!r}")
    return web.FileResponse(path, headers={
        "Content-Type": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
        "Cache-Control": "no-store"})


async def _recordings(request: web.Request, call_id: str) -> dict[str, Path]:
    """The files the call's trace names, by file name (NotFound: 404)."""
    registry = request.app[CALLS]
    await registry.get(call_id)  # NotFound: 404
    lines, _ = await registry.trace_lines(call_id)
    found: dict[str, Path] = {}
    for record in map(json.loads, lines):
        for url in _urls(record):
            parts = urlsplit(url)
            if parts.scheme == "file" and parts.path:
                path = Path(unquote(parts.path))
                found[path.name] = path
    return found


def _urls(record: dict[str, Any]) -> list[str]:
    if record.get("kind") == "recording_started":
        return [str(record.get("url", ""))]
    if record.get("kind") == "call_ended" and isinstance(record.get("vars"), dict):
        return [str(record["vars"][name]) for name in URL_VARIABLES
                if record["vars"].get(name)]
    return []
