"""Telephony media streams on the server: a provider's socket brings a token,
the routing table picks the flow by the number called, and the call is
recorded, listed and traced like any other (a loopback peer plays the
provider, with eSpeak speech)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from aiohttp import web
from aiohttp.test_utils import TestClient

from interpreter.server.app import build_app
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Scope
from interpreter.transports.media_stream.dialects import DIALECTS
from tests.server.page_server import FLOW
from tests.server.rest import ended, publish
from tests.server.tokens import bearer
from tests.transports.media_stream.peer import PeerScript, ProviderPeer
from tests.transports.media_stream.test_stream_calls import FORMATS, PROMPT_FLOW, _speech

Client = TestClient[web.Request, web.Application]


async def _server(store: SqliteStore, aiohttp_client: Any,
                  auth: dict[str, str]) -> Client:
    client: Client = await aiohttp_client(build_app(store))
    await publish(client, auth, "ivr", PROMPT_FLOW.encode())
    table = b"routes:\n  - {to: '+15550001111', flow: ivr}\n"
    routed = await client.put("/v1/routes", data=table,
                              headers={**auth, "Content-Type": "application/yaml"})
    assert routed.status == 200, await routed.text()
    return client


def _url(client: Client, dialect: str) -> str:
    return str(client.make_url(f"/v1/media/{dialect}")).replace("http://", "ws://")


async def test_a_stream_with_a_calls_token_is_routed_recorded_and_traced(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> None:
    client = await _server(store, aiohttp_client, auth)
    fmt = FORMATS["twilio"]
    secret = auth["Authorization"].removeprefix("Bearer ")
    script = PeerScript(_speech("yes", fmt.sample_rate, at=2.2),
                        parameters={"callkernel_token": secret, "to": "+15550001111"})
    played = await ProviderPeer(DIALECTS["twilio"], fmt, script).run(_url(client, "twilio"))
    assert played.closed_by_server and played.marks_acked
    listed = await (await client.get("/v1/calls", headers=auth)).json()
    [call] = listed["calls"]
    assert (call["flow"], call["version"], call["media"]) == ("ivr", 1, "audio")
    done = await ended(client, auth, call["call_id"])
    assert done["disposition"].startswith("hangup")
    trace = await (await client.get(f"/v1/calls/{call['call_id']}/trace",
                                    headers={**auth, "Accept": "application/json"})).json()
    assert trace[0]["kind"] == "flow_chosen" and trace[0]["by"] == "to"
    started = next(r for r in trace if r["kind"] == "call_started")
    assert started["call"]["provider"] == "twilio" and started["call"]["stream_id"]
    assert secret not in str(trace)  # the token went no further than the door


async def test_a_stream_without_a_token_with_the_calls_scope_starts_no_call(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> None:
    client = await _server(store, aiohttp_client, auth)
    fmt = FORMATS["twilio"]
    reader = (await bearer(store, Scope.READ))["Authorization"].removeprefix("Bearer ")
    for parameters in ({}, {"callkernel_token": "ck_wrong"}, {"callkernel_token": reader}):
        script = PeerScript(np.zeros(0, np.int16), parameters={**parameters,
                                                                "to": "+15550001111"},
                            longest=5)
        refused = await ProviderPeer(DIALECTS["twilio"], fmt, script).run(
            _url(client, "twilio"))
        assert refused.closed_by_server
    await asyncio.sleep(0.1)
    assert (await (await client.get("/v1/calls", headers=auth)).json())["calls"] == []


def test_provider_credentials_come_from_the_environment_only_when_given() -> None:
    from interpreter.server.media_routes import provider_credentials

    assert provider_credentials({}) == {}
    held = provider_credentials({"CALLKERNEL_TWILIO_AUTH_TOKEN": "tok",
                                 "CALLKERNEL_TWILIO_ACCOUNT_SID": "AC1",
                                 "CALLKERNEL_TELNYX_API_KEY": "KEY",
                                 "CALLKERNEL_SIGNALWIRE_PROJECT": "p"})  # no token: none
    assert set(held) == {"twilio", "telnyx"}
    assert (held["twilio"].token, held["twilio"].account_id) == ("tok", "AC1")
    assert "tok" not in repr(held["twilio"])


async def test_a_stream_may_name_its_flow_and_a_missing_one_starts_nothing(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> None:
    client = await _server(store, aiohttp_client, auth)
    fmt = FORMATS["twilio"]
    secret = auth["Authorization"].removeprefix("Bearer ")
    missing = PeerScript(np.zeros(0, np.int16), longest=5,
                         parameters={"callkernel_token": secret, "callkernel_flow": "nope"})
    refused = await ProviderPeer(DIALECTS["twilio"], fmt, missing).run(_url(client, "twilio"))
    assert refused.closed_by_server
    assert (await (await client.get("/v1/calls", headers=auth)).json())["calls"] == []
    # Named, it is the flow the call runs, whatever the route for `to` says.
    named = PeerScript(np.zeros(0, np.int16), stop_at=0.5,
                       parameters={"callkernel_token": secret, "callkernel_flow": "ivr",
                                   "to": "+4400000000"})
    await ProviderPeer(DIALECTS["twilio"], fmt, named).run(_url(client, "twilio"))
    [call] = (await (await client.get("/v1/calls", headers=auth)).json())["calls"]
    trace = await (await client.get(f"/v1/calls/{call['call_id']}/trace",
                                    headers={**auth, "Accept": "application/json"})).json()
    assert (trace[0]["flow"], trace[0]["by"]) == ("ivr", "named")


async def test_an_ai_flow_on_a_server_without_a_model_gets_the_apology(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> None:
    client = await _server(store, aiohttp_client, auth)
    await publish(client, auth, "desk", FLOW.read_bytes())
    fmt = FORMATS["twilio"]
    secret = auth["Authorization"].removeprefix("Bearer ")
    script = PeerScript(np.zeros(0, np.int16), longest=15,
                        parameters={"callkernel_token": secret, "callkernel_flow": "desk"})
    played = await ProviderPeer(DIALECTS["twilio"], fmt, script).run(_url(client, "twilio"))
    assert played.closed_by_server and played.marks_acked  # the apology was spoken
    [call] = (await (await client.get("/v1/calls", headers=auth)).json())["calls"]
    done = await ended(client, auth, call["call_id"])
    assert done["flow"] == "desk"
    trace = await (await client.get(f"/v1/calls/{call['call_id']}/trace",
                                    headers={**auth, "Accept": "application/json"})).json()
    [problem] = [r for r in trace if r["kind"] == "flow_unavailable"]
    assert problem["failure"] == "no_model" and "--llm openai" in problem["message"]
    assert not [r for r in trace if r["kind"] == "error"]


async def test_a_plain_get_of_a_websocket_endpoint_says_what_it_is(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> None:
    client = await _server(store, aiohttp_client, auth)
    media = await client.get("/v1/media/twilio")
    assert media.status == 400
    assert "WebSocket handshake" in (await media.json())["detail"]
