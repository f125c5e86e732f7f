"""Schemathesis over the OpenAPI document: for every operation, generated
requests (valid and invalid) against the real app — a SQLite store in a
temporary folder, aiohttp on 127.0.0.1 in a background thread, an admin token
so every authenticated operation runs — and every response checked: no 5xx,
a documented status, a documented content type, a body and headers matching
the documented schema.

The server is seeded with a published flow (two versions, so a rollback can
succeed) and an ended call, and generated path parameters are sometimes
swapped for those, so the operations on a name or a call id reach real data
and not only their 404s. Deleting the seeded flow re-seeds it, so the
operations after a delete still find it.

Bounded and deterministic: few examples per operation, derandomized, no
example database, so the run takes seconds and cannot flake.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from interpreter.server.app import build_app
from interpreter.server.auth import create_token
from interpreter.server.openapi import OPENAPI
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Scope

FLOW = "support"
# Says a line and hangs up itself, in well under a second: the flow of the
# seeded call, and the body sometimes swapped in for a generated upload. JSON,
# so it is a valid document under every media type an upload takes (JSON is YAML).
BRIEF = json.dumps({"version": "1.0.0", "sections": {"main": [
    {"answer": {}}, {"play": {"url": "say:Hello."}}, {"hangup": {}}]}}).encode()
START_BRIEF = {"flow": "brief", "caller": "linger: 600\n"}
CALL_DEADLINE = 15.0  # seconds of wall time the seeded call is given to end
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
MAX_EXAMPLES = 8  # per operation, on top of schemathesis's explicit coverage cases

schema = schemathesis.openapi.from_dict(OPENAPI)
# The call id of the seeded call; known only once the server has started it.
seeded_call: dict[str, str] = {}


@dataclass(frozen=True)
class Server:
    base_url: str
    headers: dict[str, str]

    def request(self, method: str, path: str, content_type: str | None = None,
                **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **({"Content-Type": content_type} if content_type else {})}
        return requests.request(method, self.base_url + path, headers=headers, timeout=10,
                                **kwargs)

    def seed_flow(self) -> None:
        """The seeded flow: its first version live, a second a draft (numbers
        go on after a delete: they are never reused)."""
        source = (Path(__file__).resolve().parents[2] / "flows" / "support.yaml").read_bytes()
        numbers = []
        for _ in range(2):
            uploaded = self.request("POST", f"/v1/flows/{FLOW}", data=source,
                                    content_type="application/yaml")
            assert uploaded.status_code == 201, uploaded.text
            numbers.append(uploaded.json()["version"])
        published = self.request("POST", f"/v1/flows/{FLOW}/publish",
                                 json={"version": numbers[0]})
        assert published.status_code == 200, published.text

    def seed_call(self) -> str:
        """An ended call of a one-line flow."""
        uploaded = self.request("POST", "/v1/flows/brief", data=BRIEF,
                                content_type="application/json")
        assert uploaded.status_code == 201, uploaded.text
        published = self.request("POST", "/v1/flows/brief/publish", json={"version": 1})
        assert published.status_code == 200, published.text
        started = self.request("POST", "/v1/calls", json=START_BRIEF)
        assert started.status_code == 201, started.text
        call_id: str = started.json()["call_id"]
        deadline = time.monotonic() + CALL_DEADLINE
        while self.request("GET", f"/v1/calls/{call_id}").json()["state"] != "ended":
            assert time.monotonic() < deadline, "the seeded call did not end"
            time.sleep(0.05)
        return call_id


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app on 127.0.0.1, on its own event loop in a background thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="schemathesis-server",
                              daemon=True)
    thread.start()

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)

    async def start() -> tuple[SqliteStore, web.AppRunner, str, str]:
        store = await SqliteStore.open(tmp_path_factory.mktemp("schemathesis") / "ck.db")
        _, secret = await create_token(store, "schemathesis", {Scope.ADMIN})
        runner = web.AppRunner(build_app(store))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return store, runner, f"http://{host}:{port}", secret

    async def stop(store: SqliteStore, runner: web.AppRunner) -> None:
        await runner.cleanup()
        await store.close()

    store, runner, base_url, secret = run(start())
    try:
        served = Server(base_url, {"Authorization": f"Bearer {secret}"})
        served.seed_flow()
        seeded_call["id"] = served.seed_call()
        yield served
    finally:
        run(stop(store, runner))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@schema.hook
def flatmap_path_parameters(context: schemathesis.HookContext,
                            path_parameters: dict[str, Any] | None
                            ) -> st.SearchStrategy[dict[str, Any] | None]:
    """The generated parameters, or the same with the seeded flow's name and
    the seeded call's id: hypothesis picks, so both kinds are drawn."""
    if not path_parameters:
        return st.just(path_parameters)
    seeded = dict(path_parameters)
    if "name" in seeded:
        seeded["name"] = FLOW
    if "call_id" in seeded and "id" in seeded_call:
        seeded["call_id"] = seeded_call["id"]
    return st.sampled_from([path_parameters, seeded])


# Bodies that succeed, sometimes swapped in for generated ones, which almost
# never are a valid flow or a call that can start.
VALID_BODIES = {"POST /v1/flows/{name}": BRIEF, "POST /v1/calls": START_BRIEF}


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """The generated body, or one the operation accepts."""
    assert context.operation is not None
    valid = VALID_BODIES.get(context.operation.label)
    if valid is None:
        return st.just(body)
    # A copy each time: nothing schemathesis does to one case reaches the next.
    return st.sampled_from([body, valid]).map(copy.deepcopy)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: schemathesis.Case,
                                               server: Server) -> None:
    response = case.call_and_validate(base_url=server.base_url, headers=server.headers,
                                      checks=CHECKS)
    if case.method == "DELETE" and response.status_code == 204 and \
            case.path_parameters == {"name": FLOW}:
        server.seed_flow()


def test_the_seeded_flow_and_call_are_there_to_be_reached(server: Server) -> None:
    """What the swapped-in parameters lead to: without it the run above would
    pass on 404s alone."""
    flow = server.request("GET", f"/v1/flows/{FLOW}")
    assert flow.status_code == 200 and flow.json()["live"] is not None, flow.text
    events = server.request("GET", f"/v1/calls/{seeded_call['id']}/events")
    assert events.status_code == 200
    assert events.headers["Content-Type"].startswith("text/event-stream")
    assert "event: end\n" in events.text and '"disposition"' in events.text


@pytest.mark.parametrize(("command", "body"), [
    ("publish", {"version": 10**22}),
    ("publish", {"version": 1, "expected_live": 10**22}),
    ("rollback", {"version": 10**22}),
])
def test_a_version_number_past_64_bits_is_refused_not_a_server_error(
        server: Server, command: str, body: dict[str, int]) -> None:
    """What schemathesis found: a made-up version too large for the store's
    integer column was a 500."""
    response = server.request("POST", f"/v1/flows/{FLOW}/{command}", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid-request"
