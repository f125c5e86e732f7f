"""REST v1 calls: start a call of a stored flow against a caller script, list
calls, read one's state and trace, hang it up.

A call started here runs on the app's `CallHost` like any other: a
`SimulatedCaller` follows the caller script and a `SimulatedNetwork` answers
the legs it dials, as `callkernel run` does. It runs in real time: the server
shares one event loop among every call and request, and a virtual clock
(which jumps the loop's time forward) would run the other calls' timers and
the requests' timeouts with it.

`CallRegistry` remembers the calls it started: live ones while they run, and
the last `KEEP_ENDED` ended ones (with their traces) in memory. Records do
not outlive the process yet; persistent call records come with the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aiohttp import web

from interpreter import ir
from interpreter.document.compile import compile_flow
from interpreter.document.loader import load_document
from interpreter.errors import DocumentError
from interpreter.flow_parts import has_ai
from interpreter.host import CallHost
from interpreter.providers.llm.scripted import ScriptedProvider, load_rules
from interpreter.runtime import events as ev
from interpreter.runtime.state import CallState
from interpreter.runtime.trace import Trace
from interpreter.server.auth import STORE, requires
from interpreter.server.problems import Problem
from interpreter.server.requests import MAX_BODY, read_command, wants_json
from interpreter.server.store import NotFound, Scope
from interpreter.transports.caller_script import CallerScript, call_details, load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork

if TYPE_CHECKING:
    from interpreter.runtime.call import Call

# Ended calls kept in memory, with their traces: about 1,000 short calls'
# traces are tens of megabytes; older ones are forgotten first.
KEEP_ENDED = 1000
# Compiled flows kept by content hash: a stored version never changes, so a
# call of a version already run skips loading, linting and compiling it.
KEEP_COMPILED = 64
NDJSON = "application/x-ndjson"
# The fields a start request may have; any other is refused, not ignored.
START_FIELDS = frozenset({"flow", "version", "caller", "model", "clock"})

_encode = json.JSONEncoder(default=str, check_circular=False).encode


class Phase(StrEnum):
    """Where a call is in its life, as the API reports and filters it."""

    LIVE = "live"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call started over REST. While it is live `call` is the running call;
    once it has ended only its trace is kept (`call` is None)."""

    call_id: str
    flow: str
    version: int
    content_hash: str
    started_at: float  # seconds since the epoch
    trace: Trace
    call: Call | None
    ended_at: float | None = None
    disposition: str | None = None

    @property
    def phase(self) -> Phase:
        return Phase.LIVE if self.ended_at is None else Phase.ENDED

    @property
    def call_state(self) -> str:
        """The runtime's state of the call (ringing, answered, in_ai, ..., ended)."""
        return self.call.state.value if self.call is not None else CallState.ENDED.value


@dataclass(frozen=True, slots=True)
class StartRequest:
    """A checked `POST /v1/calls` body."""

    flow: str
    version: int | None
    caller: str
    model: str | None


class CallRegistry:
    """The calls started over REST on one host: live and recently ended."""

    def __init__(self, host: CallHost, *, owns_host: bool,
                 keep_ended: int = KEEP_ENDED,
                 on_ended: Callable[[str], None] | None = None) -> None:
        """`on_ended(call_id)` once each call has ended (server/events.py ends
        the call's followers, should its trace not have)."""
        self.host = host
        self.owns_host = owns_host
        self._on_ended = on_ended
        self.keep_ended = keep_ended
        self._records: dict[str, CallRecord] = {}
        self._ended: deque[str] = deque()
        self._followers: set[asyncio.Task[None]] = set()
        self._compiled: OrderedDict[str, ir.CompiledFlow] = OrderedDict()

    async def running(self, _: web.Application) -> AsyncIterator[None]:
        """The app's cleanup context: the host runs while the app does (when
        the app owns it); at cleanup the calls started here are hung up."""
        if self.owns_host:
            async with self.host:
                yield
                await self.close()
        else:
            yield
            await self.close()

    async def close(self) -> None:
        """Hang up every live call started here and wait until each has ended."""
        for record in self._records.values():
            if record.phase is Phase.LIVE:
                self.host.post(record.call_id, ev.HangupRequested(reason="server stopping"))
        while self._followers:
            await asyncio.wait(set(self._followers))

    # ------------------------------------------------------------ flows

    def compiled(self, content_hash: str) -> ir.CompiledFlow | None:
        flow = self._compiled.get(content_hash)
        if flow is not None:
            self._compiled.move_to_end(content_hash)
        return flow

    def remember(self, flow: ir.CompiledFlow) -> None:
        self._compiled[flow.content_hash] = flow
        while len(self._compiled) > KEEP_COMPILED:
            self._compiled.popitem(last=False)

    # ------------------------------------------------------------ calls

    def start(self, name: str, version: int, flow: ir.CompiledFlow, script: CallerScript,
              model: ScriptedProvider | None) -> CallRecord:
        """Start the call on the host; it is live at once and ends on its own."""
        caller = SimulatedCaller(script)
        network = SimulatedNetwork.for_script(script)
        call = self.host.start_call(flow, caller, network, call_id=str(uuid.uuid4()),
                                    call_info=call_details(script), llm=model)
        record = CallRecord(call.call_id, name, version, flow.content_hash, time.time(),
                            call.trace, call)
        self._records[call.call_id] = record
        follower = asyncio.get_running_loop().create_task(
            self._follow(call, caller, network), name=f"rest-call:{call.call_id}")
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)
        return record

    async def _follow(self, call: Call, caller: SimulatedCaller,
                      network: SimulatedNetwork) -> None:
        try:
            await self.host.wait(call)
        finally:
            await caller.close()
            await network.close()
            self._ended_call(call)

    def _ended_call(self, call: Call) -> None:
        ended = call.trace.of_kind("call_ended")
        disposition = str(ended[-1]["disposition"]) if ended else "unknown"
        record = self._records[call.call_id]
        self._records[call.call_id] = dataclasses.replace(
            record, call=None, ended_at=time.time(), disposition=disposition)
        self._ended.append(call.call_id)
        while len(self._ended) > self.keep_ended:
            del self._records[self._ended.popleft()]
        if self._on_ended is not None:
            self._on_ended(call.call_id)

    def get(self, call_id: str) -> CallRecord:
        record = self._records.get(call_id)
        if record is None:
            raise NotFound(f"no call {call_id!r} (ended calls are kept for the last "
                           f"{self.keep_ended:,} only)")
        return record

    def calls(self, *, flow: str | None = None, phase: Phase | None = None
              ) -> Iterator[CallRecord]:
        """Newest first."""
        for record in reversed(self._records.values()):
            if (flow is None or record.flow == flow) and (phase is None
                                                          or record.phase is phase):
                yield record

    def hang_up(self, call_id: str) -> CallRecord:
        """Ask a live call to hang up, through its inbox; Problem 409 once it has ended."""
        record = self.get(call_id)
        if record.phase is Phase.ENDED or not self.host.post(
                call_id, ev.HangupRequested(reason="rest")):
            raise Problem("call-ended", f"call {call_id} has ended "
                                        f"({record.disposition or 'ending'}); it takes "
                                        "no more commands")
        return record


CALLS: web.AppKey[CallRegistry] = web.AppKey("calls", CallRegistry)

routes = web.RouteTableDef()


# ------------------------------------------------------------ handlers

@routes.post("/v1/calls")
@requires(Scope.CALLS)
async def start_call(request: web.Request) -> web.Response:
    """Start a call of a stored flow (the live version unless one is named)."""
    start = start_request(await read_command(request, request.app[MAX_BODY]))
    registry = request.app[CALLS]
    store = request.app[STORE]
    summary = await store.flow(start.flow)  # NotFound: 404
    if start.version is None and summary.live is None:
        raise Problem("conflict", f"flow {start.flow!r} has no live version: publish one, "
                                  "or name a version")
    stored = await store.version(start.flow, start.version, live=start.version is None)
    flow = registry.compiled(stored.content_hash)
    script, model, compiled = await asyncio.to_thread(
        prepare, start, stored.source, stored.media_type, flow is None)
    flow = flow or compiled
    assert flow is not None
    registry.remember(flow)
    if model is None and registry.host.providers.get(registry.host.default_llm) is None \
            and has_ai(flow):
        raise Problem("invalid-request", f"flow {start.flow!r} has an ai verb and this "
                                         "server has no default model: give `model` "
                                         "(scripted rules)")
    record = registry.start(start.flow, stored.version, flow, script, model)
    return web.json_response(record_json(record), status=201,
                             headers={"Location": f"/v1/calls/{record.call_id}"})


@routes.get("/v1/calls")
@requires(Scope.READ)
async def list_calls(request: web.Request) -> web.Response:
    """Calls started over REST, newest first: the live ones and recently ended ones."""
    state = request.query.get("state")
    if state is not None and state not in {phase.value for phase in Phase}:
        raise Problem("invalid-request", f"state is live or ended, not {state!r}")
    records = request.app[CALLS].calls(flow=request.query.get("flow"),
                                       phase=Phase(state) if state else None)
    return web.json_response({"calls": [record_json(r) for r in records]})


@routes.get("/v1/calls/{call_id}")
@requires(Scope.READ)
async def get_call(request: web.Request) -> web.Response:
    return web.json_response(record_json(request.app[CALLS].get(request.match_info["call_id"])))


@routes.get("/v1/calls/{call_id}/trace")
@requires(Scope.READ)
async def get_trace(request: web.Request) -> web.Response:
    """The call's trace records so far: JSONL, or a JSON array with `Accept:
    application/json`. Secrets were redacted when each record was made."""
    trace = request.app[CALLS].get(request.match_info["call_id"]).trace
    records = trace.records
    headers = {"X-Trace-Dropped": str(trace.dropped)}
    if wants_json(request):
        body = "[" + ",".join(map(_encode, records)) + "]"
        return web.Response(text=body, content_type="application/json", headers=headers)
    body = "".join(_encode(record) + "\n" for record in records)
    return web.Response(text=body, content_type=NDJSON, headers=headers)


@routes.post("/v1/calls/{call_id}/hangup")
@requires(Scope.CALLS)
async def hang_up(request: web.Request) -> web.Response:
    """Ask a live call to hang up; it ends shortly after (`hangup_requested`)."""
    record = request.app[CALLS].hang_up(request.match_info["call_id"])
    return web.json_response(record_json(record), status=202)


# ------------------------------------------------------------ request parts

def start_request(body: dict[str, Any]) -> StartRequest:
    """The checked start request; Problem 400 naming what is wrong."""
    unknown = sorted(body.keys() - START_FIELDS)
    if unknown:
        raise Problem("invalid-request", f"unknown field(s) {', '.join(unknown)}; a call "
                                         f"takes {', '.join(sorted(START_FIELDS))}")
    flow, caller = body.get("flow"), body.get("caller")
    if not isinstance(flow, str) or not flow:
        raise Problem("invalid-request", "`flow` (the flow's name) is required")
    if not isinstance(caller, str):
        raise Problem("invalid-request", "`caller` (the caller script, as YAML or JSON "
                                         "text) is required")
    version, model = body.get("version"), body.get("model")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or version < 1):
        raise Problem("invalid-request", "`version` is a version number (1, 2, ...) or "
                                         "null for the live one")
    if model is not None and not isinstance(model, str):
        raise Problem("invalid-request", "`model` is scripted rules as YAML or JSON text, "
                                         "or null")
    clock = body.get("clock", "real")
    if clock != "real":
        raise Problem("invalid-request", f"clock {clock!r}: calls over REST run in real "
                                         "time (`real`); a virtual clock would move time "
                                         "for every call and request the server runs")
    return StartRequest(flow, version, caller, model)


def prepare(start: StartRequest, source: bytes, media_type: str, needs_flow: bool
            ) -> tuple[CallerScript, ScriptedProvider | None, ir.CompiledFlow | None]:
    """Load the caller script and the model's rules (and compile the flow, if
    asked); Problem 422 with every diagnostic of the first one that is bad.
    Blocking: run on a worker thread."""
    try:
        script = load_caller_script(start.caller, "caller.yaml")
    except DocumentError as error:
        raise _invalid("the caller script", error) from None
    try:
        model = load_rules(start.model, "model.yaml") if start.model is not None else None
    except DocumentError as error:
        raise _invalid("the model's rules", error) from None
    flow = None
    if needs_flow:
        extension = ".json" if media_type == "application/json" else ".yaml"
        # Stored versions compiled when they were uploaded; this fails only if
        # the compiler has since become stricter.
        try:
            flow, _ = compile_flow(load_document(source, start.flow + extension))
        except DocumentError as error:
            raise _invalid(f"flow {start.flow!r}", error) from None
    return script, model, flow


def _invalid(what: str, error: DocumentError) -> Problem:
    return Problem("invalid-document", f"{what} has {len(error.diagnostics)} problem(s)",
                   errors=error.diagnostics)


# ------------------------------------------------------------ responses

def record_json(record: CallRecord) -> dict[str, Any]:
    return {"call_id": record.call_id, "flow": record.flow, "version": record.version,
            "content_hash": record.content_hash, "state": record.phase.value,
            "call_state": record.call_state, "disposition": record.disposition,
            "started_at": record.started_at, "ended_at": record.ended_at}
