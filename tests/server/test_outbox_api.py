"""REST v1 outbox: a call's summary goes through the store's outbox to a
loopback receiver and shows as delivered; failed deliveries are listed and
retried by hand; the metrics read the outbox's depth."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from interpreter.server.app import build_app
from interpreter.server.calls import CALLS
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import DeliveryState, Scope, StoredDelivery
from tests.server.rest import ended, problem, publish, start
from tests.server.tokens import bearer

Client = TestClient[web.Request, web.Application]

SUMMARISED = """\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: "Greet the caller."}
        post_prompt: {text: "Summarise as JSON."}
        post_prompt_url: "URL"
        params: {attention_timeout: 0}
    - hangup: {}
"""
RULES = """\
rules:
  - when: {summary: true}
    reply: '{"outcome": "greeted"}'
  - when: {start: true}
    reply: "Hello."
  - reply: "Bye."
"""
CALLER = "steps:\n  - hangup: {}\n    after: 0.5\n"


@pytest.fixture
async def client(store: SqliteStore, aiohttp_client: Any) -> Client:
    made: Client = await aiohttp_client(build_app(store))
    return made


@pytest.mark.parametrize("clock", ["real", "virtual"])
async def test_a_calls_summary_is_delivered_and_shown(
        client: Client, auth: dict[str, str],
        receiver: tuple[str, list[dict[str, Any]]], clock: str) -> None:
    base, received = receiver
    url = base.replace("http://", "http://app:secret@") + "/summary"
    await publish(client, auth, "summarised", SUMMARISED.replace("URL", url).encode())
    call_id = (await start(client, auth, "summarised", CALLER, model=RULES,
                           clock=clock))["call_id"]
    await ended(client, auth, call_id)
    listed = await _until_delivered(client, auth, call_id)
    assert listed["url"] == url.replace("app:secret@", "")  # never the credentials
    assert (listed["kind"], listed["attempts"], listed["last_status"]) == \
        ("post_prompt", 1, 200)
    [got] = received
    assert got["headers"]["Idempotency-Key"] == listed["key"]
    assert got["headers"]["Authorization"].startswith("Basic ")
    assert got["body"]["post_prompt_data"]["parsed"] == [{"outcome": "greeted"}]
    one = await (await client.get(f"/v1/outbox/{listed['key']}", headers=auth)).json()
    assert one["summary"] == '{"outcome": "greeted"}'
    assert one["body"]["call_id"] == call_id
    assert "headers" not in one


async def test_a_failed_delivery_is_listed_and_retried_by_hand(
        client: Client, store: SqliteStore, auth: dict[str, str],
        receiver: tuple[str, list[dict[str, Any]]]) -> None:
    base, received = receiver
    url = base.replace("http://", "http://app:secret@") + "/summary"
    await store.add_delivery(StoredDelivery(
        key="k-failed", call_id="c-1", kind="post_prompt", url=url, body='{"a": 1}',
        headers="{}", created_at=1.0, state=DeliveryState.FAILED, attempts=12,
        last_status=503, last_error="HTTP 503"))
    failed = await (await client.get("/v1/outbox?state=failed", headers=auth)).json()
    assert [(d["key"], d["last_error"], d["next_attempt_at"]) for d in failed["deliveries"]] \
        == [("k-failed", "HTTP 503", None)]
    reader = await bearer(store, Scope.READ)
    await problem(await client.post("/v1/outbox/k-failed/retry", headers=reader), 403,
                  "forbidden")
    retried = await client.post("/v1/outbox/k-failed/retry", headers=auth)
    assert retried.status == 202
    assert (await retried.json())["state"] == "pending"
    await _until_delivered(client, auth, "c-1")
    assert [r["body"] for r in received] == [{"a": 1}]
    again = await client.post("/v1/outbox/k-failed/retry", headers=auth)
    assert "delivered" in (await problem(again, 409, "conflict"))["detail"]


async def test_unknown_deliveries_and_bad_filters(client: Client, auth: dict[str, str]) -> None:
    await problem(await client.get("/v1/outbox/nope", headers=auth), 404, "not-found")
    await problem(await client.post("/v1/outbox/nope/retry", headers=auth), 404, "not-found")
    for query in ("state=lost", "limit=0", "limit=x"):
        await problem(await client.get(f"/v1/outbox?{query}", headers=auth), 400,
                      "invalid-request")
    assert (await client.get("/v1/outbox")).status == 401


async def test_the_metrics_read_the_outbox_depth(client: Client, store: SqliteStore,
                                                 auth: dict[str, str]) -> None:
    assert client.app is not None
    outbox = client.app[CALLS].outbox
    assert outbox is not None
    await store.add_delivery(StoredDelivery(
        key="k-later", call_id="c-2", kind="post_prompt", url="http://127.0.0.1:9/",
        body="{}", headers="{}", created_at=1.0, next_attempt_at=4e9))
    await outbox.retry("k-later")  # counted: pending again, due now
    metrics = await (await client.get("/metrics", headers=auth)).text()
    assert "callkernel_outbox_pending 1.0" in metrics


async def _until_delivered(client: Client, auth: dict[str, str],
                           call_id: str) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            listed = await (await client.get(f"/v1/outbox?call_id={call_id}",
                                             headers=auth)).json()
            if listed["deliveries"] and listed["deliveries"][0]["state"] == "delivered":
                delivered: dict[str, Any] = listed["deliveries"][0]
                return delivered
            await asyncio.sleep(0.05)
