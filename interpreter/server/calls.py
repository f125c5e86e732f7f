"""REST v1 calls: start a call of a stored flow against a caller script (on
text or audio media), list calls, read one's state and trace, hang it up.

A call started here runs on the app's `CallHost` like any other: a simulated
caller follows the caller script (`SimulatedCaller` on text media, the
eSpeak-voiced `AudioCaller` on audio) and a `SimulatedNetwork` answers the
legs it dials, as `callkernel run` does. The calls themselves, their records
in the store and the shutdown's drain are server/call_registry.py's.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from interpreter.errors import DocumentError
from interpreter.flow_parts import has_ai
from interpreter.providers.llm.scripted import ScriptedProvider, load_rules
from interpreter.server.auth import STORE, requires
from interpreter.server.call_registry import (
    KEEP_ENDED,
    CallNotLive,
    CallRecord,
    CallRegistry,
    Phase,
    ShuttingDown,
    TooManyCalls,
)
from interpreter.server.problems import Problem
from interpreter.server.remote_flows import REMOTE_FLOWS, flow_for_call
from interpreter.server.requests import (
    FLOW_NAME,
    MAX_BODY,
    MAX_VERSION,
    list_limit,
    only_fields,
    read_command,
    wants_json,
)
from interpreter.server.store import Scope
from interpreter.transports.caller_script import CallerScript, call_details, load_caller_script

__all__ = ["CALLS", "KEEP_ENDED", "CallRecord", "CallRegistry", "Phase", "record_json",
           "routes"]

NDJSON = "application/x-ndjson"
# The fields a start request may have; any other is refused, not ignored.
START_FIELDS = frozenset({"flow", "version", "caller", "model", "clock", "media", "params"})
MEDIA = ("text", "audio")
CLOCKS = ("real", "virtual")


@dataclass(frozen=True, slots=True)
class StartRequest:
    """A checked `POST /v1/calls` body."""

    flow: str | None  # None: the routing table picks
    version: int | None
    caller: str
    model: str | None
    media: str = "text"
    params: dict[str, str] = field(default_factory=dict)  # custom parameters, for routing
    virtual: bool = False  # on a virtual clock of its own (server/virtual_calls.py)


CALLS: web.AppKey[CallRegistry] = web.AppKey("calls", CallRegistry)

routes = web.RouteTableDef()


# ------------------------------------------------------------ handlers

@routes.post("/v1/calls")
@requires(Scope.CALLS)
async def start_call(request: web.Request) -> web.Response:
    """Start a call of a stored flow (the live version unless one is named)."""
    start = start_request(await read_command(request, request.app[MAX_BODY]))
    registry = request.app[CALLS]
    if not registry.accepting:
        raise Problem("shutting-down", "the server is shutting down and starts no new call")
    script, model = await asyncio.to_thread(prepare, start)
    call_id = registry.new_call_id()
    try:
        # Named: that flow (NotFound 404, Conflict 409 with nothing live);
        # else the routing table picks from the script's `to` and `params`.
        chosen = await flow_for_call(request.app[STORE], registry.host.http,
                                     request.app[REMOTE_FLOWS], start.flow,
                                     {"call_id": call_id, **call_details(script)},
                                     params=start.params, version=start.version)
    except DocumentError as error:
        # Stored versions compiled when they were uploaded; this fails only if
        # the compiler has since become stricter.
        raise _invalid(f"flow {start.flow!r}", error) from None
    if model is None and start.virtual and has_ai(chosen.flow):
        raise Problem("invalid-request", f"flow {chosen.name!r} has an ai verb: a call on a "
                                         "virtual clock needs `model` (scripted rules); the "
                                         "server's own models run in real time only")
    if model is None and registry.lacks_model(chosen.flow):
        raise Problem("invalid-request", f"flow {chosen.name!r} has an ai verb and this "
                                         "server has no default model: give `model` "
                                         "(scripted rules)")
    try:
        record = await registry.start(chosen, script, model, audio=start.media == "audio",
                                      virtual=start.virtual, call_id=call_id)
    except ShuttingDown as error:
        raise Problem("shutting-down", str(error)) from None
    except TooManyCalls as error:
        raise Problem("too-many-calls", str(error), headers={"Retry-After": "1"}) from None
    return web.json_response(record_json(record), status=201,
                             headers={"Location": f"/v1/calls/{record.call_id}"})


@routes.get("/v1/calls")
@requires(Scope.READ)
async def list_calls(request: web.Request) -> web.Response:
    """Calls newest first, live and ended, filtered by flow, state and start time."""
    query = request.query
    state = query.get("state")
    if state is not None and state not in {phase.value for phase in Phase}:
        raise Problem("invalid-request", f"state is live or ended, not {state!r}")
    limit = list_limit(query.get("limit"))
    records = await request.app[CALLS].calls(
        flow=query.get("flow"), phase=Phase(state) if state else None,
        since=_instant(query, "since"), until=_instant(query, "until"), limit=limit)
    return web.json_response({"calls": [record_json(r) for r in records]})


@routes.get("/v1/calls/{call_id}")
@requires(Scope.READ)
async def get_call(request: web.Request) -> web.Response:
    record = await request.app[CALLS].get(request.match_info["call_id"])  # NotFound: 404
    return web.json_response(record_json(record))


@routes.get("/v1/calls/{call_id}/trace")
@requires(Scope.READ)
async def get_trace(request: web.Request) -> web.Response:
    """The call's trace records so far: JSONL, or a JSON array with `Accept:
    application/json`. Secrets were redacted when each record was made."""
    lines, dropped = await request.app[CALLS].trace_lines(request.match_info["call_id"])
    headers = {"X-Trace-Dropped": str(dropped)}
    if wants_json(request):
        return web.Response(text="[" + ",".join(lines) + "]", content_type="application/json",
                            headers=headers)
    return web.Response(text="".join(line + "\n" for line in lines), content_type=NDJSON,
                        headers=headers)


@routes.get("/v1/calls/{call_id}/timeline.png")
@requires(Scope.READ)
async def get_timeline(request: web.Request) -> web.Response:
    """The call's picture (interpreter/timeline.py: both sides' speech,
    barge-ins, tools, steps, per-turn latency), drawn from its trace so far."""
    registry, call_id = request.app[CALLS], request.match_info["call_id"]
    record = await registry.get(call_id)  # NotFound: 404
    lines, _ = await registry.trace_lines(call_id)
    if not lines:
        raise Problem("conflict", f"call {call_id} has no trace to draw (a call a crash cut "
                                  "off keeps none)")
    records = [json.loads(line) for line in lines]
    # Drawing takes a good part of a second of CPU: off the loop the calls share.
    png = await asyncio.to_thread(draw_png, records, record.entry.flow or "")
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "no-store"})


def draw_png(records: list[dict[str, Any]], flow: str) -> bytes:
    # matplotlib loads only when a picture is asked for.
    from interpreter.timeline import build_timeline, draw_timeline

    with tempfile.TemporaryDirectory() as folder:
        path = draw_timeline(build_timeline(records, flow=flow), Path(folder) / "call.png")
        return path.read_bytes()


@routes.post("/v1/calls/{call_id}/hangup")
@requires(Scope.CALLS)
async def hang_up(request: web.Request) -> web.Response:
    """Ask a live call to hang up; it ends shortly after (`hangup_requested`)."""
    try:
        record = await request.app[CALLS].hang_up(request.match_info["call_id"])
    except CallNotLive as error:
        raise Problem("call-ended", str(error)) from None
    return web.json_response(record_json(record), status=202)


# ------------------------------------------------------------ request parts

def start_request(body: dict[str, Any]) -> StartRequest:
    """The checked start request; Problem 400 naming what is wrong."""
    only_fields(body, START_FIELDS)
    flow, caller, params = body.get("flow"), body.get("caller"), body.get("params", {})
    if flow is not None and (not isinstance(flow, str) or not flow):
        raise Problem("invalid-request", "`flow` is the flow's name, or null (or left out) "
                                         "for the routing table to pick one")
    if isinstance(flow, str) and not FLOW_NAME.fullmatch(flow):
        raise Problem("invalid-flow-name", f"{flow!r} is not a flow name: 1 to 64 of a-z, "
                                           "0-9, _ and -, starting with a letter or digit")
    if not isinstance(params, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in params.items()):
        raise Problem("invalid-request", "`params` (the transport's custom parameters, for "
                                         "routing) is an object of strings")
    if not isinstance(caller, str):
        raise Problem("invalid-request", "`caller` (the caller script, as YAML or JSON "
                                         "text) is required")
    version, model = body.get("version"), body.get("model")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or not 1 <= version <= MAX_VERSION):
        raise Problem("invalid-request", "`version` is a version number (1, 2, ...) or "
                                         "null for the live one")
    if version is not None and flow is None:
        raise Problem("invalid-request", "`version` needs `flow`: a routed call takes the "
                                         "live version of the flow its route names")
    if model is not None and not isinstance(model, str):
        raise Problem("invalid-request", "`model` is scripted rules as YAML or JSON text, "
                                         "or null")
    media = body.get("media", "text")
    if media not in MEDIA:
        raise Problem("invalid-request", f"media is {' or '.join(MEDIA)}, not {media!r}")
    clock = body.get("clock", "real")
    if clock not in CLOCKS:
        raise Problem("invalid-request", f"clock is {' or '.join(CLOCKS)}, not {clock!r}")
    return StartRequest(flow, version, caller, model, media, params, clock == "virtual")


def _instant(query: Any, key: str) -> float | None:
    """A time from the query: seconds since the epoch, or ISO 8601 (UTC
    unless it names a zone)."""
    text = query.get(key)
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise Problem("invalid-request", f"{key} is a time, not {text!r}")
        return seconds
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise Problem("invalid-request", f"{key} is seconds since the epoch or an ISO 8601 "
                                         f"time, not {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def prepare(start: StartRequest) -> tuple[CallerScript, ScriptedProvider | None]:
    """Load the caller script and the model's rules; Problem 422 with every
    diagnostic of the first one that is bad. Blocking: run on a worker thread."""
    try:
        script = load_caller_script(start.caller, "caller.yaml")
    except DocumentError as error:
        raise _invalid("the caller script", error) from None
    try:
        model = load_rules(start.model, "model.yaml") if start.model is not None else None
    except DocumentError as error:
        raise _invalid("the model's rules", error) from None
    return script, model


def _invalid(what: str, error: DocumentError) -> Problem:
    count = len(error.diagnostics)
    return Problem("invalid-document", f"{what}: {count} problem{'s' if count != 1 else ''}",
                   errors=error.diagnostics)


# ------------------------------------------------------------ responses

def record_json(record: CallRecord) -> dict[str, Any]:
    entry = record.entry
    return {"call_id": entry.call_id, "flow": entry.flow, "version": entry.version,
            "content_hash": entry.content_hash, "media": entry.media,
            "state": record.phase.value, "call_state": record.call_state,
            "disposition": entry.disposition, "started_at": entry.started_at,
            "ended_at": entry.ended_at}
