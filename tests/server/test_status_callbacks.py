"""Status callbacks of a call started over REST go through the store's
durable outbox: each is stored, POSTed to a loopback receiver and recorded
as delivered, with its own idempotency key."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from interpreter.server.app import build_app
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import DeliveryState, StoredDelivery
from tests.server.rest import ended, publish, start

Client = TestClient[web.Request, web.Application]

CONNECTS = """\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - connect:
        to: "+15550100200"
        timeout: 5
        status_url: "URL/connect"
        call_state_url: "URL/state"
        call_state_events: [created, ringing, answered, ended]
    - hangup: {}
"""
# The dialled party answers at once and hangs up half a second later.
CALLER = """\
steps: []
linger: 10
destinations:
  "+15550100200": {answer_after: 0.1, hangup_after: 0.5}
"""


@pytest.fixture
async def client(store: SqliteStore, aiohttp_client: Any) -> Client:
    made: Client = await aiohttp_client(build_app(store))
    return made


async def test_a_rest_calls_status_callbacks_are_delivered_through_the_store(
        client: Client, store: SqliteStore, auth: dict[str, str],
        receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = receiver
    await publish(client, auth, "connects", CONNECTS.replace("URL", url).encode())
    call_id = (await start(client, auth, "connects", CALLER))["call_id"]
    call = await ended(client, auth, call_id)
    assert call["disposition"] == "hangup:hangup"
    deliveries = await _all_delivered(store, call_id, expected=7)
    assert {d.kind for d in deliveries} == {"status"}
    assert all(d.summary_request is None and d.attempts == 1 for d in deliveries)
    by_key = {r["key"]: r for r in received}
    assert set(by_key) == {d.key for d in deliveries}  # each stored one arrived, once
    states = sorted((r["body"]["event_type"], r["body"]["params"].get("call_state")
                     or r["body"]["params"].get("connect_state")) for r in received)
    assert states == sorted([
        ("calling.call.connect", "connecting"), ("calling.call.connect", "connected"),
        ("calling.call.connect", "disconnected"), ("calling.call.state", "created"),
        ("calling.call.state", "ringing"), ("calling.call.state", "answered"),
        ("calling.call.state", "ended")])
    assert {r["path"] for r in received} == {"/connect", "/state"}
    assert {r["body"]["params"].get("parent", {}).get("call_id", call_id)
            for r in received} == {call_id}
    # The trace says which was sent when, with the keys the store holds.
    trace = await (await client.get(f"/v1/calls/{call_id}/trace", headers=auth)).text()
    assert all(d.key in trace for d in deliveries)


async def _all_delivered(store: SqliteStore, call_id: str,
                         expected: int) -> list[StoredDelivery]:
    async with asyncio.timeout(15):
        while True:
            deliveries = await store.deliveries(call_id=call_id)
            if len(deliveries) == expected and \
                    all(d.state is DeliveryState.DELIVERED for d in deliveries):
                return deliveries
            await asyncio.sleep(0.05)
