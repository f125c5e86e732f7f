"""Flows bound to a URL: fetched for each call from a real SWML server on
127.0.0.1 (ETag cache, Basic auth, the call's details), failures classified
and answered by the apology flow, `flow_for_call`, and the binding routes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from interpreter.clock import run_virtual
from interpreter.destinations import DestinationPolicy
from interpreter.host import CallHost
from interpreter.http import AiohttpClient
from interpreter.jsontypes import JSONValue
from interpreter.runtime.trace import Trace
from interpreter.server.app import build_app
from interpreter.server.remote_flows import (
    APOLOGY,
    FlowFailure,
    FlowProblem,
    RemoteFlows,
    flow_for_call,
    record_problems,
)
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Conflict, FlowBinding, NotFound, Route, RoutingTable
from interpreter.transports.caller_script import call_details, load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork
from tests.server.rest import ended, start

AGENT = json.dumps({"version": "1.0.0", "sections": {"main": [
    {"answer": {}}, {"play": {"url": "say:Hello from the agent."}}, {"hangup": {}}]}}).encode()
CALL: dict[str, JSONValue] = {"from": "+15550001111", "to": "+15551230001",
                              "direction": "inbound", "type": "phone"}


@dataclass
class Origin:
    """A SWML server: what it serves, how, and every request it got."""

    document: bytes = AGENT
    etag: str | None = '"agent-1"'
    mode: str = "ok"  # ok | fail | hang | garbage
    seen: list[dict[str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append({"method": request.method,
                          "authorization": request.headers.get("Authorization"),
                          "if_none_match": request.headers.get("If-None-Match"),
                          "body": await request.json()})
        if self.mode == "fail":
            return web.Response(status=503, text="down for maintenance")
        if self.mode == "hang":
            await self.release.wait()
        if self.mode == "garbage":
            return web.Response(text="<html>not a flow</html>", content_type="text/html")
        if self.etag is not None and request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304)
        headers = {"ETag": self.etag} if self.etag else {}
        return web.Response(body=self.document, content_type="application/json",
                            headers=headers)


@pytest.fixture
async def origin(aiohttp_server: Any) -> AsyncIterator[tuple[Origin, str]]:
    served = Origin()
    app = web.Application()
    app.router.add_post("/agent", served.handle)
    server: TestServer = await aiohttp_server(app)
    yield served, f"http://bot:s3cret@127.0.0.1:{server.port}/agent"
    served.release.set()  # a hanging request ends before the server closes


@pytest.fixture
async def http() -> AsyncIterator[AiohttpClient]:
    client = AiohttpClient()  # loopback allowed: tests/conftest.py
    yield client
    await client.close()


def binding(url: str) -> FlowBinding:
    return FlowBinding("remote", url, 1.0, 1.0)


async def test_the_first_fetch_posts_the_call_with_basic_auth_and_the_second_is_a_304(
        origin: tuple[Origin, str], http: AiohttpClient) -> None:
    served, url = origin
    remote = RemoteFlows()
    first = await remote.document_for_call(http, binding(url), CALL)
    second = await remote.document_for_call(http, binding(url), {**CALL, "from": "+1999"})
    assert (first.problem, first.cached, second.problem, second.cached) == (
        None, False, None, True)
    assert second.flow is first.flow  # compiled once
    assert [s["method"] for s in served.seen] == ["POST", "POST"]
    assert served.seen[0]["authorization"] == "Basic Ym90OnMzY3JldA=="  # bot:s3cret
    assert served.seen[0]["body"] == {"call": CALL, "vars": {}, "envs": {}, "params": {}}
    assert served.seen[1]["body"]["call"]["from"] == "+1999"
    assert (served.seen[0]["if_none_match"], served.seen[1]["if_none_match"]) == (
        None, '"agent-1"')


async def test_a_changed_document_is_fetched_and_compiled_anew(
        origin: tuple[Origin, str], http: AiohttpClient) -> None:
    served, url = origin
    remote = RemoteFlows()
    first = await remote.document_for_call(http, binding(url), CALL)
    served.document, served.etag = AGENT.replace(b"Hello", b"Hi"), '"agent-2"'
    second = await remote.document_for_call(http, binding(url), CALL)
    assert not second.cached and second.flow.content_hash != first.flow.content_hash
    served.etag = None  # no ETag: nothing is kept, so no conditional request follows
    await remote.document_for_call(http, binding(url), CALL)
    await remote.document_for_call(http, binding(url), CALL)
    assert served.seen[-1]["if_none_match"] is None


@pytest.mark.parametrize(("mode", "failure"), [
    ("fail", FlowFailure.SERVER_ERROR),
    ("garbage", FlowFailure.INVALID_DOCUMENT),
    ("hang", FlowFailure.TIMEOUT),
])
async def test_a_failed_fetch_is_a_classified_error_and_the_apology(
        origin: tuple[Origin, str], http: AiohttpClient, mode: str,
        failure: FlowFailure) -> None:
    served, url = origin
    served.mode = mode
    remote = RemoteFlows(fetch_timeout=0.2)
    fetched = await remote.document_for_call(http, binding(url), CALL)
    assert fetched.problem is not None
    assert (fetched.problem.failure, fetched.problem.flow) == (failure, "remote")
    assert "s3cret" not in fetched.problem.message and "/agent" not in fetched.problem.message
    # The apology of that problem (the next test runs one as a call).
    assert fetched.flow is await remote.apology(fetched.problem)


async def test_a_destination_the_policy_refuses_is_never_asked(
        origin: tuple[Origin, str]) -> None:
    served, url = origin
    strict = AiohttpClient(policy=DestinationPolicy(allow_loopback=False))
    try:
        fetched = await RemoteFlows().document_for_call(strict, binding(url), CALL)
    finally:
        await strict.close()
    assert fetched.problem is not None and fetched.problem.failure is FlowFailure.REFUSED
    assert served.seen == []


async def test_a_304_after_the_kept_document_was_forgotten_is_not_trusted(
        origin: tuple[Origin, str], http: AiohttpClient) -> None:
    served, url = origin
    remote = RemoteFlows()
    await remote.document_for_call(http, binding(url), CALL)
    remote.forget(url)  # what unbinding does
    again = await remote.document_for_call(http, binding(url), CALL)
    assert again.problem is None and not again.cached
    assert served.seen[-1]["if_none_match"] is None


def test_the_apology_speaks_hangs_up_and_keeps_the_failure_in_the_trace() -> None:
    problem = FlowProblem(FlowFailure.SERVER_ERROR, "x answered HTTP 503 ${vars.x}", "remote")
    flow = asyncio.run(RemoteFlows().apology(problem))
    script = load_caller_script("linger: 120\n", "caller.yaml")

    async def main() -> Trace:
        async with CallHost() as host:
            caller, network = SimulatedCaller(script), SimulatedNetwork.for_script(script)
            call = await host.run_call(flow, caller, network, call_info=call_details(script))
            await caller.close()
            await network.close()
            return call.trace

    trace = run_virtual(main)
    assert [r["items"] for r in trace.of_kind("play")] == [["say:" + APOLOGY]]
    ended = trace.of_kind("call_ended")[0]
    assert ended["disposition"].startswith("hangup")
    assert ended["vars"]["callkernel_flow_error"] == "server_error"
    # Braces are not evaluated: the detail is kept as text.
    assert ended["vars"]["callkernel_flow_error_detail"] == "x answered HTTP 503 $(vars.x)"
    record_problems(trace, [problem])
    assert trace.of_kind("flow_unavailable")[0]["failure"] == "server_error"


# ------------------------------------------------------------ the flow a call starts with

@pytest.fixture
def remote() -> RemoteFlows:
    return RemoteFlows()


async def test_a_routed_call_gets_the_live_version_of_a_stored_flow(
        store: SqliteStore, http: AiohttpClient, remote: RemoteFlows) -> None:
    await store.add_version("sales", AGENT, "application/json", "sha256:a", ())
    await store.add_version("sales", AGENT.replace(b"Hello", b"Bye"), "application/json",
                            "sha256:b", ())
    await store.publish("sales", 1)
    await store.replace_routing(RoutingTable((Route("sales", to="+1555*"),)))
    chosen = await flow_for_call(store, http, remote, None, CALL)
    assert (chosen.name, chosen.version, chosen.routed_by, chosen.problems) == (
        "sales", 1, "to", ())
    named = await flow_for_call(store, http, remote, "sales", CALL, version=2)
    assert (named.version, named.routed_by) == (2, "named")
    assert named.flow.content_hash != chosen.flow.content_hash


async def test_a_routed_call_to_a_bound_flow_fetches_it(
        store: SqliteStore, http: AiohttpClient, remote: RemoteFlows,
        origin: tuple[Origin, str]) -> None:
    served, url = origin
    await store.bind_flow("agent", url)
    await store.replace_routing(RoutingTable((), default="agent"))
    chosen = await flow_for_call(store, http, remote, None, CALL, params={"a": "b"})
    assert (chosen.name, chosen.version, chosen.bound, chosen.routed_by) == (
        "agent", None, True, "default")
    assert served.seen[0]["body"]["call"] == CALL
    with pytest.raises(Conflict):
        await flow_for_call(store, http, remote, "agent", CALL, version=1)


@pytest.mark.parametrize(("table", "failure"), [
    (RoutingTable(), FlowFailure.NO_ROUTE),
    (RoutingTable(default="ghost"), FlowFailure.NO_FLOW),
    (RoutingTable(default="draft"), FlowFailure.NOT_LIVE),
])
async def test_a_routing_dead_end_is_an_apology_never_an_exception(
        store: SqliteStore, http: AiohttpClient, remote: RemoteFlows, table: RoutingTable,
        failure: FlowFailure) -> None:
    await store.add_version("draft", AGENT, "application/json", "sha256:a", ())
    await store.replace_routing(table)
    chosen = await flow_for_call(store, http, remote, None, CALL)
    assert [p.failure for p in chosen.problems] == [failure]
    assert chosen.version is None


async def test_a_named_flow_that_is_missing_or_not_live_is_refused(
        store: SqliteStore, http: AiohttpClient, remote: RemoteFlows) -> None:
    await store.add_version("draft", AGENT, "application/json", "sha256:a", ())
    with pytest.raises(NotFound):
        await flow_for_call(store, http, remote, "ghost", CALL)
    with pytest.raises(Conflict, match="no live version"):
        await flow_for_call(store, http, remote, "draft", CALL)


# ------------------------------------------------------------ REST

async def test_binding_routes_bind_show_list_and_unbind(
        aiohttp_client: Any, store: SqliteStore, auth: dict[str, str]) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(build_app(store))
    url = "https://bot:s3cret@swml.example/agent"
    bound = await client.put("/v1/flows/agent/binding", json={"url": url}, headers=auth)
    assert bound.status == 200
    shown = await bound.json()
    assert shown["name"] == "agent" and "s3cret" not in shown["url"]
    assert (await store.binding("agent")).url == url  # kept whole: it is the Basic auth
    got = await client.get("/v1/flows/agent/binding", headers=auth)
    assert (await got.json())["url"] == shown["url"]
    listed = await (await client.get("/v1/flows", headers=auth)).json()
    assert [b["name"] for b in listed["bound"]] == ["agent"] and listed["flows"] == []
    upload = await client.post("/v1/flows/agent", data=AGENT,
                               headers={**auth, "Content-Type": "application/json"})
    assert (upload.status, (await upload.json())["code"]) == (409, "conflict")
    assert (await client.delete("/v1/flows/agent/binding", headers=auth)).status == 204
    assert (await client.get("/v1/flows/agent/binding", headers=auth)).status == 404


async def test_a_bound_flows_document_is_fetched_for_the_id_the_call_then_has(
        aiohttp_client: Any, store: SqliteStore, auth: dict[str, str],
        origin: tuple[Origin, str]) -> None:
    """An SDK agent ties its tools' security tokens to the call id it was
    asked for: the call must run under that id."""
    served, url = origin
    client: TestClient[Any, Any] = await aiohttp_client(build_app(store))
    assert (await client.put("/v1/flows/agent/binding", json={"url": url},
                             headers=auth)).status == 200
    started = await start(client, auth, "agent", "steps: []\n")
    assert served.seen[0]["body"]["call"]["call_id"] == started["call_id"]
    await ended(client, auth, started["call_id"])


@pytest.mark.parametrize("url", ["ftp://swml.example/a", "not a url", "", 5,
                                 "https://" + "a" * 2050])
async def test_a_binding_needs_an_http_url(aiohttp_client: Any, store: SqliteStore,
                                          auth: dict[str, str], url: object) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(build_app(store))
    response = await client.put("/v1/flows/agent/binding", json={"url": url}, headers=auth)
    assert (response.status, (await response.json())["code"]) == (400, "invalid-request")


async def test_a_stored_flow_cannot_be_bound(aiohttp_client: Any, store: SqliteStore,
                                             auth: dict[str, str]) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(build_app(store))
    await store.add_version("sales", AGENT, "application/json", "sha256:a", ())
    response = await client.put("/v1/flows/sales/binding",
                                json={"url": "https://swml.example/"}, headers=auth)
    assert response.status == 409
    with pytest.raises(NotFound):
        await store.binding("sales")
