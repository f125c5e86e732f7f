"""Flows bound to a URL (remote SWML), and the flow a call starts with.

A bound flow has no stored versions: its document is fetched for each call,
as the hosted platform fetches an SDK agent's (a POST of the call's details,
`{"call", "vars", "envs", "params"}`, with Basic auth from the URL's
`user:pass@`), through the host's HTTP client, so the destination policy,
timeouts, size limit and request signing apply as to every outbound request.

The last document of each URL is kept with its ETag; the next fetch sends
`If-None-Match`, and a 304 (or the 412 a strict server answers a conditional
POST with, RFC 9110 §13.1.2) serves the kept document. Compiled flows are kept
by the hash of their source bytes, so an unchanged document is compiled once.
The cache lives in memory, per process: it only saves work (a restart costs
one full fetch per URL), the origin server stays the one truth, and keeping
it in the store would add a durable write to every changed call start.

A fetch that fails is a `FlowProblem` with a `FlowFailure` class (timeout,
refused destination, 5xx, an invalid document, ...), never a dead call: the
call gets a tiny built-in flow that apologises and hangs up, and sets
`callkernel_flow_error` (the class) and `callkernel_flow_error_detail`, which
its trace shows in `call_ended.vars`. Routing problems (no route, a route to
a flow that does not exist or has no live version) end the same way.

`flow_for_call` is the one entry point for starting a call: routing
(server/routing.py), then the stored live version or the bound URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiohttp import web
from yarl import URL

from interpreter import ir
from interpreter.document.coerce import split_credentials
from interpreter.document.compile import compile_flow
from interpreter.document.loader import load_document
from interpreter.errors import DocumentError
from interpreter.host import FETCH_TIMEOUT, MAX_DOCUMENT_BYTES
from interpreter.http import HttpClient, HttpError, HttpRequest, HttpResponse, where
from interpreter.jsontypes import JSONValue
from interpreter.redaction import redact_text
from interpreter.runtime.tools.webhook import basic_auth
from interpreter.runtime.trace import Trace
from interpreter.server.auth import STORE, requires
from interpreter.server.problems import Problem
from interpreter.server.requests import flow_name, read_command
from interpreter.server.routing import resolve
from interpreter.server.store import (
    Conflict,
    FlowBinding,
    NotFound,
    RoutingTable,
    Scope,
    Store,
)

APOLOGY = "I'm sorry, we can't take your call right now. Please try again later."
# Compiled flows kept by source hash: each bound URL's current document, the
# stored versions calls started, and a few apologies.
KEEP_COMPILED = 64
MAX_URL = 2048


class FlowFailure(StrEnum):
    """Why a call got the apology instead of its flow."""

    TIMEOUT = "timeout"  # the URL did not answer within FETCH_TIMEOUT
    REFUSED = "refused"  # the destination policy refused the URL's address
    UNREACHABLE = "unreachable"  # no connection, closed, cut off, a redirect, a bad URL
    SERVER_ERROR = "server_error"  # a 5xx
    REJECTED = "rejected"  # another status that is not 2xx (401, 404, ...)
    TOO_LARGE = "too_large"  # a document over the size limit
    INVALID_DOCUMENT = "invalid_document"  # not a flow that loads, lints and compiles
    NO_ROUTE = "no_route"  # no route matched and there is no default
    NO_FLOW = "no_flow"  # routed to a flow that is neither stored nor bound
    NOT_LIVE = "not_live"  # routed to a stored flow with no live version
    NO_MODEL = "no_model"  # an ai flow, on a server without a model (serve --llm)


_HTTP_FAILURES = {"timeout": FlowFailure.TIMEOUT, "refused": FlowFailure.REFUSED,
                  "too_large": FlowFailure.TOO_LARGE}


@dataclass(frozen=True, slots=True)
class FlowProblem:
    failure: FlowFailure
    message: str  # for people; never a URL's path, query or credentials
    flow: str | None = None

    def record(self, trace: Trace) -> None:
        """Write it into a call's trace as a `flow_unavailable` record."""
        trace.record("flow_unavailable", failure=self.failure.value, message=self.message,
                     flow=self.flow)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A bound flow's document for one call: the flow, or the apology and why."""

    flow: ir.CompiledFlow
    problem: FlowProblem | None = None
    cached: bool = False  # the server said 304: the kept document was used


@dataclass(frozen=True, slots=True)
class CallFlow:
    """What a call starts with."""

    name: str | None  # the flow routed to (None: nothing routed)
    version: int | None  # the stored version; None for a bound flow or an apology
    flow: ir.CompiledFlow
    problems: tuple[FlowProblem, ...] = ()  # non-empty: `flow` is the apology
    routed_by: str | None = None  # "named", "to", "params", "default"; None: no route
    bound: bool = False  # fetched from the flow's URL

    def record(self, trace: Trace) -> None:
        """Why this flow answers the call, and what went wrong choosing it:
        the first records of the call's trace."""
        trace.record("flow_chosen", flow=self.name, version=self.version, by=self.routed_by,
                     bound=self.bound)
        record_problems(trace, self.problems)


@dataclass(frozen=True, slots=True)
class _Kept:
    etag: str
    source: bytes
    fetched_at: float


class RemoteFlows:
    """Per process: the last document of each bound URL (by ETag), and
    compiled flows by source hash."""

    def __init__(self, keep_compiled: int = KEEP_COMPILED,
                 fetch_timeout: float = FETCH_TIMEOUT) -> None:
        self.keep_compiled = keep_compiled
        self.fetch_timeout = fetch_timeout
        self._kept: dict[str, _Kept] = {}
        self._compiled: OrderedDict[str, ir.CompiledFlow] = OrderedDict()

    def forget(self, url: str) -> None:
        """Drop what is kept of `url` (it was unbound or rebound)."""
        self._kept.pop(url, None)

    async def compiled(self, source: bytes, file: str) -> ir.CompiledFlow:
        """The flow of `source`, compiled once (on a worker thread); DocumentError."""
        key = hashlib.sha256(source).hexdigest()
        flow = self._compiled.get(key)
        if flow is None:
            flow = await asyncio.to_thread(_compile, source, file)
            self._compiled[key] = flow
            while len(self._compiled) > self.keep_compiled:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        return flow

    async def apology(self, problem: FlowProblem) -> ir.CompiledFlow:
        return await self.compiled(apology_document(problem), "<apology>")

    async def document_for_call(self, http: HttpClient, binding: FlowBinding,
                                call: Mapping[str, JSONValue]) -> Fetched:
        """The bound flow's document for this call; the apology when it fails."""
        kept = self._kept.get(binding.url)
        request = document_request(binding.url, call, etag=kept.etag if kept else None,
                                   timeout=self.fetch_timeout)
        try:
            response = await http.send(request)
        except HttpError as error:
            failure = _HTTP_FAILURES.get(error.kind, FlowFailure.UNREACHABLE)
            return await self._failed(binding, failure, str(error))
        if kept is not None and response.status in (304, 412):
            flow = await self.compiled(kept.source, _file(binding))
            return Fetched(flow, cached=True)
        if not response.ok:
            failure = FlowFailure.SERVER_ERROR if response.status >= 500 \
                else FlowFailure.REJECTED
            return await self._failed(binding, failure, f"{where(binding.url)} answered "
                                                        f"HTTP {response.status}")
        try:
            flow = await self.compiled(response.body, _file(binding))
        except DocumentError as error:
            self.forget(binding.url)
            return await self._failed(binding, FlowFailure.INVALID_DOCUMENT,
                                      f"the document from {where(binding.url)} has "
                                      f"{len(error.diagnostics)} problem(s); first: "
                                      f"{error.diagnostics[0].code if error.diagnostics else '-'}")
        etag = _header(response, "ETag")
        if etag:
            self._kept[binding.url] = _Kept(etag, response.body, time.time())
        else:
            self.forget(binding.url)
        return Fetched(flow)

    async def _failed(self, binding: FlowBinding, failure: FlowFailure,
                      message: str) -> Fetched:
        problem = FlowProblem(failure, message, binding.name)
        return Fetched(await self.apology(problem), problem)


def document_request(url: str, call: Mapping[str, JSONValue], *, etag: str | None = None,
                     timeout: float = FETCH_TIMEOUT) -> HttpRequest:
    """The platform's remote SWML fetch (interpreter/host.py's `fetch_document`
    sends the same): POST the call's details, Basic auth from the URL."""
    body: dict[str, JSONValue] = {"call": dict(call), "vars": {}, "envs": {}, "params": {}}
    target = split_credentials(url)
    headers = {"Authorization": basic_auth(target.user, target.password)} \
        if target.user else {}
    if etag is not None:
        headers["If-None-Match"] = etag
    return HttpRequest.json("POST", target.url, body, headers=headers, timeout=timeout,
                            max_bytes=MAX_DOCUMENT_BYTES)


def apology_document(problem: FlowProblem) -> bytes:
    """A tiny flow: say sorry, hang up; the failure kept in two variables."""
    # Braces would make `set` evaluate the text as an expression.
    detail = problem.message.replace("{", "(").replace("}", ")")
    document = {"version": "1.0.0", "sections": {"main": [
        {"set": {"callkernel_flow_error": problem.failure.value,
                 "callkernel_flow_error_detail": detail}},
        {"play": {"url": "say:" + APOLOGY}},
        {"hangup": {}}]}}
    return json.dumps(document).encode()


def _compile(source: bytes, file: str) -> ir.CompiledFlow:
    flow, _ = compile_flow(load_document(source, file))
    return flow


def _file(binding: FlowBinding) -> str:
    # Not .yaml or .json: the loader picks YAML or JSON by the text.
    return f"{binding.name} (remote)"


def _header(response: HttpResponse, name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in response.headers.items()
                 if key.lower() == wanted), None)


# ------------------------------------------------------------ the flow a call starts with

async def flow_for_call(store: Store, http: HttpClient, remote: RemoteFlows,
                        name: str | None, call: Mapping[str, JSONValue], *,
                        params: Mapping[str, str] | None = None,
                        version: int | None = None) -> CallFlow:
    """The flow a call starts with.

    `name`: the flow named when the call was started (REST); then it must
    exist (NotFound), and a stored one must have `version` or a live version
    (Conflict). Without a name the routing table picks one from the call's
    details (`call["to"]`) and custom `params`; anything that goes wrong from
    there (no route, no such flow, nothing live, a failed fetch) gives the
    apology flow and the problems, never an exception."""
    table = await store.routing() if name is None else RoutingTable()
    resolution = resolve(table, call, params, named=name)
    if resolution is None:
        problem = FlowProblem(FlowFailure.NO_ROUTE, "no route matched the call and "
                                                    "there is no default flow")
        return CallFlow(None, None, await remote.apology(problem), (problem,))
    target, by = resolution.flow, resolution.by
    try:
        binding = await store.binding(target)
    except NotFound:
        binding = None
    if binding is not None:
        if version is not None:
            raise Conflict(f"flow {target!r} is bound to a URL: it has no versions")
        fetched = await remote.document_for_call(http, binding, call)
        problems = () if fetched.problem is None else (fetched.problem,)
        return CallFlow(target, None, fetched.flow, problems, by, bound=True)
    try:
        stored = await store.version(target, version, live=version is None)
    except NotFound as error:
        if by == "named":
            if version is None and await _exists(store, target):
                raise Conflict(f"flow {target!r} has no live version: publish one, or "
                               "name a version") from None
            raise
        failure = FlowFailure.NOT_LIVE if await _exists(store, target) \
            else FlowFailure.NO_FLOW
        problem = FlowProblem(failure, str(error), target)
        return CallFlow(target, None, await remote.apology(problem), (problem,), by)
    extension = ".json" if stored.media_type == "application/json" else ".yaml"
    flow = await remote.compiled(stored.source, target + extension)
    return CallFlow(target, stored.version, flow, (), by)


async def _exists(store: Store, name: str) -> bool:
    try:
        await store.flow(name)
    except NotFound:
        return False
    return True


def record_problems(trace: Trace, problems: Iterable[FlowProblem]) -> None:
    """Each problem as a `flow_unavailable` record in the call's trace."""
    for problem in problems:
        problem.record(trace)


# ------------------------------------------------------------ REST: bindings

REMOTE_FLOWS: web.AppKey[RemoteFlows] = web.AppKey("remote_flows", RemoteFlows)

routes = web.RouteTableDef()


@routes.put("/v1/flows/{name}/binding")
@requires(Scope.FLOWS)
async def put_binding(request: web.Request) -> web.Response:
    """Bind a flow name to a URL (or move its binding); 409 for a stored flow."""
    name = flow_name(request)
    url = binding_url((await read_command(request)).get("url"))
    store = request.app[STORE]
    try:
        old: str | None = (await store.binding(name)).url
    except NotFound:
        old = None
    bound = await store.bind_flow(name, url)
    if old is not None:
        request.app[REMOTE_FLOWS].forget(old)
    return web.json_response(binding_json(bound))


@routes.get("/v1/flows/{name}/binding")
@requires(Scope.READ)
async def get_binding(request: web.Request) -> web.Response:
    return web.json_response(binding_json(await request.app[STORE].binding(flow_name(request))))


@routes.delete("/v1/flows/{name}/binding")
@requires(Scope.FLOWS)
async def delete_binding(request: web.Request) -> web.Response:
    name = flow_name(request)
    store = request.app[STORE]
    url = (await store.binding(name)).url
    await store.unbind_flow(name)
    request.app[REMOTE_FLOWS].forget(url)
    return web.Response(status=204)


def binding_url(value: object) -> str:
    """A checked binding URL; Problem 400 naming what is wrong."""
    if not isinstance(value, str) or not value:
        raise Problem("invalid-request", "`url` (the http(s) URL the flow is fetched "
                                         "from) is required")
    try:
        parsed = URL(value) if value.isascii() else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host \
            or len(value) > MAX_URL:
        raise Problem("invalid-request", f"{redact_text(value)[:200]!r} is not an http(s) "
                                         f"URL of at most {MAX_URL} characters")
    return value


def binding_json(binding: FlowBinding) -> dict[str, Any]:
    """A binding as the API shows it: the URL without its credentials."""
    return {"name": binding.name, "url": redact_text(binding.url),
            "created_at": binding.created_at, "updated_at": binding.updated_at}
