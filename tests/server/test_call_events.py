"""Following a call's records over server-sent events and a WebSocket: replay
then live records with no gap or duplicate, the end, refusals, and a slow
reader dropped without slowing the call; on a real SQLite store, a real app
and real calls started over REST on loopback (as test_calls_api.py does)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from interpreter.server.app import build_app
from interpreter.server.events import EVENTS, MAX_CLIENT_MESSAGE, WS_ENDED, CallEvents
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Scope
from tests.server.rest import SILENT_CALLER, SLEEPER
from tests.server.tokens import bearer

Client = TestClient[web.Request, web.Application]
DEADLINE = 10.0  # seconds of wall time any one wait here is given

# Says a line and hangs up itself, in well under a second.
BRIEF = b"""\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - play: {url: "say:Hello."}
    - hangup: {}
"""
HEARTBEAT = ": heartbeat"


@dataclass
class Stream:
    """A server-sent event stream as read: (event, data) pairs and heartbeats."""

    response: aiohttp.ClientResponse
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    heartbeats: int = 0

    async def next(self) -> tuple[str, dict[str, Any]] | None:
        """The next event (heartbeats counted on the way); None at the end."""
        while (item := await self._item()) is not None and item[0] == HEARTBEAT:
            pass
        return item

    async def until_heartbeat(self) -> None:
        while (item := await self._item()) is not None and item[0] != HEARTBEAT:
            pass
        assert item is not None, "the stream ended without a heartbeat"

    async def _item(self) -> tuple[str, dict[str, Any]] | None:
        """The next event or heartbeat; None at the end of the stream."""
        event, data = "message", ""
        async with asyncio.timeout(DEADLINE):
            while line := await self.response.content.readline():
                text = line.decode().rstrip("\n")
                if text.startswith(":"):
                    self.heartbeats += 1
                    return HEARTBEAT, {}
                if text.startswith("event: "):
                    event = text[7:]
                elif text.startswith("data: "):
                    data += text[6:]
                elif text == "" and data:
                    self.events.append((event, json.loads(data)))
                    return self.events[-1]
        return None

    async def rest(self) -> list[tuple[str, dict[str, Any]]]:
        while await self.next() is not None:
            pass
        return self.events


MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
def make_client(store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> MakeClient:
    async def make(**options: Any) -> Client:
        made: Client = await aiohttp_client(build_app(store, events=CallEvents(**options)))
        for name, source in (("brief", BRIEF), ("sleeper", SLEEPER)):
            uploaded = await made.post(f"/v1/flows/{name}", data=source,
                                       headers={**auth, "Content-Type": "application/yaml"})
            assert uploaded.status == 201, await uploaded.text()
            published = await made.post(f"/v1/flows/{name}/publish",
                                        json={"version": 1}, headers=auth)
            assert published.status == 200
        return made

    return make


async def start(client: Client, auth: dict[str, str], flow: str) -> str:
    response = await client.post("/v1/calls", json={"flow": flow, "caller": SILENT_CALLER},
                                 headers=auth)
    assert response.status == 201, await response.text()
    call_id: str = (await response.json())["call_id"]
    return call_id


async def follow(client: Client, auth: dict[str, str], call_id: str,
                 **headers: str) -> Stream:
    response = await client.get(f"/v1/calls/{call_id}/events", headers={**auth, **headers})
    assert response.status == 200, await response.text()
    assert response.content_type == "text/event-stream"
    return Stream(response)


async def trace(client: Client, auth: dict[str, str], call_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/calls/{call_id}/trace",
                                headers={**auth, "Accept": "application/json"})
    records: list[dict[str, Any]] = await response.json()
    return records


def numbers(events: list[tuple[str, dict[str, Any]]]) -> list[int]:
    return [data["n"] for kind, data in events if kind == "record"]


async def hang_up(client: Client, auth: dict[str, str], call_id: str) -> None:
    response = await client.post(f"/v1/calls/{call_id}/hangup", headers=auth)
    assert response.status == 202, await response.text()


# ------------------------------------------------------------ server-sent events

async def test_a_short_call_streams_every_record_in_order_then_the_end(
        make_client: MakeClient, auth: dict[str, str]) -> None:
    client = await make_client()
    call_id = await start(client, auth, "brief")
    events = await (await follow(client, auth, call_id)).rest()
    records = await trace(client, auth, call_id)
    assert numbers(events) == list(range(len(records)))
    assert [data for kind, data in events if kind == "record"] == records
    assert records[-1]["kind"] == "call_ended"
    assert events[-1] == ("end", {"call_id": call_id, "disposition": "hangup:hangup",
                                  "records": len(records)})


async def test_a_subscriber_joining_mid_call_gets_the_replay_then_live_records_exactly(
        make_client: MakeClient, auth: dict[str, str]) -> None:
    client = await make_client(heartbeat=0.1)
    call_id = await start(client, auth, "sleeper")
    first = await follow(client, auth, call_id)
    await first.until_heartbeat()  # the call is asleep: nothing more is coming
    second = await follow(client, auth, call_id)  # joins with the replay
    joined_at = len(await trace(client, auth, call_id))
    await hang_up(client, auth, call_id)  # the records that follow are live
    records = await trace(client, auth, call_id)
    assert len(records) > joined_at > 0
    for stream in (first, second):
        events = await stream.rest()
        assert numbers(events) == list(range(len(records)))
        assert events[-1][0] == "end" and events[-1][1]["disposition"] == "hangup_requested"
    assert first.heartbeats >= 1
    assert client.app is not None and client.app[EVENTS].following(call_id) == 0


async def test_an_ended_call_replays_and_ends_at_once(make_client: MakeClient,
                                                      auth: dict[str, str]) -> None:
    client = await make_client()
    call_id = await start(client, auth, "brief")
    await (await follow(client, auth, call_id)).rest()  # until it has ended
    records = await trace(client, auth, call_id)
    events = await (await follow(client, auth, call_id)).rest()
    assert numbers(events) == list(range(len(records)))
    assert events[-1][0] == "end"
    resumed = await (await follow(client, auth, call_id, **{"Last-Event-ID": "3"})).rest()
    assert numbers(resumed) == list(range(4, len(records)))


# ------------------------------------------------------------ WebSocket

async def test_a_websocket_gets_the_same_messages_and_is_closed_at_the_end(
        make_client: MakeClient, auth: dict[str, str]) -> None:
    client = await make_client()
    call_id = await start(client, auth, "sleeper")
    stream = await follow(client, auth, call_id)
    await stream.next()  # the call has made a record or more
    messages: list[dict[str, Any]] = []
    async with client.ws_connect(f"/v1/calls/{call_id}/ws", headers=auth) as socket:
        await hang_up(client, auth, call_id)
        async with asyncio.timeout(DEADLINE):
            async for frame in socket:
                assert frame.type is aiohttp.WSMsgType.TEXT
                messages.append(json.loads(frame.data))
        assert socket.close_code == WS_ENDED
    records = await trace(client, auth, call_id)
    assert [m["record"] for m in messages[:-1]] == records
    assert all(m["type"] == "record" for m in messages[:-1])
    assert messages[-1] == {"type": "end", "call_id": call_id,
                            "disposition": "hangup_requested", "records": len(records)}
    await stream.rest()


async def test_a_websocket_client_sending_a_large_message_is_cut_off(
        make_client: MakeClient, auth: dict[str, str]) -> None:
    client = await make_client()
    call_id = await start(client, auth, "sleeper")
    async with client.ws_connect(f"/v1/calls/{call_id}/ws", headers=auth) as socket:
        await socket.send_str("x" * (MAX_CLIENT_MESSAGE + 1))
        async with asyncio.timeout(DEADLINE):
            async for _ in socket:
                pass
        assert socket.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert client.app is not None and client.app[EVENTS].following(call_id) == 0
    await hang_up(client, auth, call_id)


# ------------------------------------------------------------ refusals

async def test_unknown_calls_are_404_and_tokens_are_checked(
        make_client: MakeClient, auth: dict[str, str], store: SqliteStore) -> None:
    client = await make_client()
    for path in ("/v1/calls/nope/events", "/v1/calls/nope/ws"):
        response = await client.get(path, headers=auth)
        assert response.status == 404 and (await response.json())["code"] == "not-found"
        assert (await client.get(path)).status == 401
        calls_only = await bearer(store, Scope.CALLS)
        refused = await client.get(path, headers=calls_only)
        assert refused.status == 403 and (await refused.json())["code"] == "forbidden"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused_socket:
        await client.ws_connect("/v1/calls/nope/ws")
    assert refused_socket.value.status == 401


async def test_a_plain_get_of_the_websocket_is_400_and_leaves_no_follower(
        make_client: MakeClient, auth: dict[str, str]) -> None:
    client = await make_client()
    call_id = await start(client, auth, "sleeper")
    response = await client.get(f"/v1/calls/{call_id}/ws", headers=auth)
    assert response.status == 400 and (await response.json())["code"] == "invalid-request"
    assert client.app is not None and client.app[EVENTS].following(call_id) == 0
    stream = await follow(client, auth, call_id)
    await stream.next()
    assert client.app[EVENTS].following(call_id) == 1
    stream.response.close()  # the reader goes away; the server notices at its next send
    await hang_up(client, auth, call_id)


# ------------------------------------------------------------ a slow reader

async def test_a_reader_that_does_not_keep_up_is_dropped_and_the_call_is_not_held(
        make_client: MakeClient, auth: dict[str, str]) -> None:
    # One record may wait: the records the call makes in one step overflow it.
    client = await make_client(queue_limit=1)
    call_id = await start(client, auth, "sleeper")
    slow = await follow(client, auth, call_id)  # subscribed; not read until the end
    loop = asyncio.get_running_loop()
    asked = loop.time()
    await hang_up(client, auth, call_id)
    async with asyncio.timeout(DEADLINE):
        while (await (await client.get(f"/v1/calls/{call_id}", headers=auth)).json()
               )["state"] != "ended":
            await asyncio.sleep(0.02)
    assert loop.time() - asked < 2.0  # a hangup takes milliseconds; nothing held it
    assert client.app is not None
    assert client.app[EVENTS].dropped == 1
    assert client.app[EVENTS].following(call_id) == 0

    events = await slow.rest()  # what was sent before it was dropped, then `lagged`
    kind, lagged = events[-1]
    assert kind == "lagged"
    assert numbers(events) == list(range(lagged["missed_from"]))
    assert lagged["missed_from"] < len(await trace(client, auth, call_id))


def test_the_documented_defaults_are_the_served_ones() -> None:
    from interpreter.server import events, openapi

    assert (events.HEARTBEAT_SECONDS, events.QUEUE_LIMIT) == (openapi.HEARTBEAT_SECONDS,
                                                              openapi.QUEUE_LIMIT)
