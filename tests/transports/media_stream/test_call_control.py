"""Transfers through the provider's call-control REST API, against loopback
fakes that speak Twilio's and Telnyx's wire formats (paths, auth, form and
JSON bodies, their error bodies), and one media-stream call end to end whose
`connect` the fake provider accepts or refuses."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from interpreter import ir
from interpreter.destinations import DestinationPolicy
from interpreter.host import CallHost
from interpreter.http import AiohttpClient
from interpreter.jsontypes import JSONValue
from interpreter.media.ports import AudioFormat, Telephony
from interpreter.runtime.call import Call
from interpreter.transports.media_stream.call_control import (
    CallControl,
    ProviderCredentials,
    ProviderTelephony,
    TelnyxCallControl,
    TransferRefused,
    TwilioCallControl,
    call_control_for,
    telephony_for,
)
from interpreter.transports.media_stream.dialects import DIALECTS
from interpreter.transports.media_stream.provider_peer import PeerScript, ProviderPeer
from interpreter.transports.media_stream.server import MakeChannel, add_routes
from interpreter.transports.media_stream.telephony import NoCallControl

ACCOUNT, TOKEN, CALL_SID = "AC0001", "twilio-secret", "CA0001"
TELNYX_KEY, CONTROL_ID = "KEY0123", "v3:call-control-0001"
TO = "+15551230000"


@dataclass
class FakeProvider:
    """A provider's REST API on 127.0.0.1: what it was asked, how it answers."""

    answer: str = "accept"  # "accept", or "404", "422", "500", "hang" (never answers)
    requests: list[dict[str, Any]] = field(default_factory=list)
    on_accept: list[Any] = field(default_factory=list)  # callables run on acceptance
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def _respond(self, ok: web.Response, errors: Mapping[str, web.Response]
                       ) -> web.Response:
        if self.answer == "hang":
            await self.release.wait()
        if self.answer == "accept":
            for hook in self.on_accept:
                hook()
            return ok
        return errors[self.answer]

    async def twilio(self, request: web.Request) -> web.Response:
        """POST /2010-04-01/Accounts/{sid}/Calls/{call}.json, form body, basic auth."""
        form = parse_qs((await request.read()).decode())
        self.requests.append({"path": request.path, "auth": request.headers.get(
            "Authorization", ""), "type": request.content_type, "form": form})
        expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return _twilio_error(401, 20003, "Authenticate")
        if request.match_info["call"] != CALL_SID:
            return _twilio_error(404, 20404, "The requested resource was not found")
        return await self._respond(
            web.json_response({"sid": CALL_SID, "account_sid": ACCOUNT, "status": "in-progress"}),
            {"404": _twilio_error(404, 20404, "The requested resource was not found"),
             "422": _twilio_error(400, 21220, "Call is not in-progress. Cannot redirect."),
             "500": _twilio_error(500, 20500, "Internal Server Error")})

    async def telnyx(self, request: web.Request) -> web.Response:
        """POST /v2/calls/{call_control_id}/actions/transfer, JSON body, bearer auth."""
        self.requests.append({"path": request.path, "auth": request.headers.get(
            "Authorization", ""), "type": request.content_type, "json": await request.json()})
        if request.headers.get("Authorization") != f"Bearer {TELNYX_KEY}":
            return _telnyx_error(401, "10009", "Authentication failed")
        return await self._respond(
            web.json_response({"data": {"result": "ok"}}),
            {"404": _telnyx_error(404, "10005", "Resource not found"),
             "422": _telnyx_error(422, "90018", "Call has already ended"),
             "500": _telnyx_error(500, "10007", "Unexpected error")})


def _twilio_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "status": status,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}"},
                             status=status)


def _telnyx_error(status: int, code: str, title: str) -> web.Response:
    return web.json_response({"errors": [{"code": code, "title": title,
                                          "detail": title + "."}]}, status=status)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeProvider, str]]:
    provider = FakeProvider()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Calls/{call}.json", provider.twilio)
    app.router.add_post("/v2/calls/{id}/actions/transfer", provider.telnyx)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield provider, str(server.make_url("")).rstrip("/")
    finally:
        provider.release.set()
        await server.close()


@pytest.fixture
async def http() -> AsyncIterator[AiohttpClient]:
    client = AiohttpClient(policy=DestinationPolicy(allow_loopback=True))
    try:
        yield client
    finally:
        await client.close()


def _credentials(root: str) -> dict[str, ProviderCredentials]:
    return {"twilio": ProviderCredentials(TOKEN, ACCOUNT, base_url=root),
            "signalwire": ProviderCredentials(TOKEN, ACCOUNT, base_url=root),
            "telnyx": ProviderCredentials(TELNYX_KEY, base_url=root + "/v2")}


class Legs:
    """A `LegSink` that keeps what it was told."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, str, str]] = []
        self.changed = asyncio.Event()

    def _note(self, what: str, leg_id: str, detail: str = "") -> None:
        self.reports.append((what, leg_id, detail))
        self.changed.set()

    def leg_ringing(self, leg_id: str) -> None:
        self._note("ringing", leg_id)

    def leg_answered(self, leg_id: str) -> None:
        self._note("answered", leg_id)

    def leg_failed(self, leg_id: str, reason: str) -> None:
        self._note("failed", leg_id, reason)

    def leg_ended(self, leg_id: str) -> None:
        self._note("ended", leg_id)

    def leg_status(self, leg_id: str, status: str) -> None:
        self._note("status", leg_id, status)

    async def next(self) -> tuple[str, str, str]:
        count = len(self.reports)
        while len(self.reports) == count:
            self.changed.clear()
            await self.changed.wait()
        return self.reports[count]


def _control(dialect: str, root: str, http: AiohttpClient) -> CallControl:
    call_id = CONTROL_ID if dialect == "telnyx" else CALL_SID
    control = call_control_for(dialect, _credentials(root), call_id, http)
    assert control is not None
    return control


# ------------------------------------------------------------------ the wire formats


async def test_twilio_transfer_redirects_the_call_to_dial_twiml_with_basic_auth(
        fake: tuple[FakeProvider, str], http: AiohttpClient) -> None:
    provider, root = fake
    await _control("twilio", root, http).transfer(TO, 30)
    [sent] = provider.requests
    assert sent["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL_SID}.json"
    assert sent["type"] == "application/x-www-form-urlencoded"
    assert sent["form"] == {"Twiml": [f'<Response><Dial timeout="30">{TO}</Dial></Response>']}
    assert base64.b64decode(sent["auth"].removeprefix("Basic ")).decode() == \
        f"{ACCOUNT}:{TOKEN}"


async def test_a_sip_destination_is_dialed_as_a_sip_noun(
        fake: tuple[FakeProvider, str], http: AiohttpClient) -> None:
    provider, root = fake
    await _control("signalwire", root, http).transfer("sip:desk@pbx.example.com", 2)
    assert provider.requests[0]["form"]["Twiml"] == [
        '<Response><Dial timeout="5"><Sip>sip:desk@pbx.example.com</Sip></Dial></Response>']


async def test_telnyx_transfer_posts_json_to_the_call_command_with_a_bearer_key(
        fake: tuple[FakeProvider, str], http: AiohttpClient) -> None:
    provider, root = fake
    await _control("telnyx", root, http).transfer(TO, 45)
    [sent] = provider.requests
    assert sent["path"] == "/v2/calls/v3:call-control-0001/actions/transfer"
    assert sent["type"] == "application/json"
    assert sent["json"] == {"to": TO, "timeout_secs": 45}
    assert sent["auth"] == f"Bearer {TELNYX_KEY}"


@pytest.mark.parametrize(("dialect", "answer", "reason", "detail"), [
    ("twilio", "404", "call_not_found", "20404 The requested resource was not found"),
    ("twilio", "422", "rejected", "21220 Call is not in-progress"),
    ("twilio", "500", "provider_error", "20500 Internal Server Error"),
    ("telnyx", "404", "call_not_found", "10005 Resource not found"),
    ("telnyx", "422", "rejected", "90018 Call has already ended"),
    ("telnyx", "500", "provider_error", "10007 Unexpected error"),
])
async def test_a_refusal_is_classified_with_the_providers_own_words(
        fake: tuple[FakeProvider, str], http: AiohttpClient, dialect: str, answer: str,
        reason: str, detail: str) -> None:
    provider, root = fake
    provider.answer = answer
    with pytest.raises(TransferRefused) as refused:
        await _control(dialect, root, http).transfer(TO, 30)
    assert refused.value.reason == reason
    assert detail in refused.value.detail


@pytest.mark.parametrize("dialect", ["twilio", "telnyx"])
async def test_wrong_credentials_are_unauthorized(
        fake: tuple[FakeProvider, str], http: AiohttpClient, dialect: str) -> None:
    _, root = fake
    wrong = {d: ProviderCredentials("nope", ACCOUNT, base_url=c.base_url)
             for d, c in _credentials(root).items()}
    control = call_control_for(dialect, wrong, CONTROL_ID if dialect == "telnyx" else CALL_SID,
                               http)
    assert control is not None
    with pytest.raises(TransferRefused) as refused:
        await control.transfer(TO, 30)
    assert refused.value.reason == "unauthorized"


async def test_a_provider_that_never_answers_is_a_timeout(
        fake: tuple[FakeProvider, str], http: AiohttpClient) -> None:
    provider, root = fake
    provider.answer = "hang"
    control = TelnyxCallControl(http, ProviderCredentials(TELNYX_KEY), CONTROL_ID,
                                api_root=root + "/v2", timeout=0.2)
    with pytest.raises(TransferRefused) as refused:
        await control.transfer(TO, 30)
    assert refused.value.reason == "timeout"


async def test_an_unreachable_api_is_unreachable(http: AiohttpClient) -> None:
    # A port nothing listens on: bound, then closed.
    server = TestServer(web.Application(), host="127.0.0.1")
    await server.start_server()
    root = str(server.make_url("")).rstrip("/")
    await server.close()
    control = TwilioCallControl(http, ProviderCredentials(TOKEN, ACCOUNT), CALL_SID,
                                api_root=root)
    with pytest.raises(TransferRefused) as refused:
        await control.transfer(TO, 30)
    assert refused.value.reason == "unreachable"


def test_only_dialects_with_call_control_and_credentials_get_one() -> None:
    held = {"twilio": ProviderCredentials(TOKEN, ACCOUNT),
            "signalwire": ProviderCredentials(TOKEN, ACCOUNT, space="example"),
            "telnyx": ProviderCredentials(TELNYX_KEY)}
    http = AiohttpClient()
    signalwire = call_control_for("signalwire", held, CALL_SID, http)
    assert isinstance(signalwire, TwilioCallControl)
    assert signalwire.url() == ("https://example.signalwire.com/api/laml/2010-04-01/"
                                f"Accounts/{ACCOUNT}/Calls/{CALL_SID}.json")
    assert isinstance(call_control_for("telnyx", held, CONTROL_ID, http), TelnyxCallControl)
    assert call_control_for("callkernel", held, CALL_SID, http) is None
    assert call_control_for("twilio", {}, CALL_SID, http) is None
    assert call_control_for("twilio", held, "", http) is None
    # SignalWire without a space has nowhere to send the request.
    assert call_control_for("signalwire", {"signalwire": ProviderCredentials(TOKEN)},
                            CALL_SID, http) is None
    assert isinstance(telephony_for("callkernel", held, CALL_SID, http), NoCallControl)
    assert isinstance(telephony_for("twilio", held, CALL_SID, http), ProviderTelephony)
    assert TOKEN not in repr(held["twilio"])


# ------------------------------------------------------------------ the Telephony


async def test_an_accepted_transfer_is_an_answered_leg_and_only_one(
        fake: tuple[FakeProvider, str], http: AiohttpClient) -> None:
    provider, root = fake
    telephony = ProviderTelephony(_control("twilio", root, http))
    legs = Legs()
    telephony.dial("leg-1", TO, 30, legs)
    telephony.dial("leg-2", "+15559870000", 30, legs)  # parallel ringing: not possible
    assert await legs.next() == ("failed", "leg-2", "transfer_in_progress")
    assert await legs.next() == ("answered", "leg-1", "")
    assert telephony.transferred_to == TO
    telephony.bridge("leg-1")
    telephony.dial("leg-3", "+15559870000", 30, legs)
    assert await legs.next() == ("failed", "leg-3", "already_transferred")
    telephony.query("leg-1")
    assert await legs.next() == ("status", "leg-1", "answered")
    telephony.hangup("leg-1")  # the caller stays with the destination; our leg ends
    assert await legs.next() == ("ended", "leg-1", "")
    assert len(provider.requests) == 1 and telephony.bridged == ["leg-1"]
    with pytest.raises(LookupError):
        telephony.channel("leg-1")


async def test_a_refused_transfer_fails_the_leg_with_its_reason(
        fake: tuple[FakeProvider, str], http: AiohttpClient) -> None:
    provider, root = fake
    provider.answer = "422"
    telephony = ProviderTelephony(_control("telnyx", root, http))
    legs = Legs()
    telephony.dial("leg-1", TO, 30, legs)
    assert await legs.next() == ("failed", "leg-1", "rejected")
    assert telephony.transferred_to is None
    # After a refusal the call is still ours: another destination may be tried.
    provider.answer = "accept"
    telephony.dial("leg-2", "+15559870000", 30, legs)
    assert await legs.next() == ("answered", "leg-2", "")


async def test_a_destination_that_is_not_a_number_or_sip_uri_is_never_sent(
        fake: tuple[FakeProvider, str], http: AiohttpClient) -> None:
    provider, root = fake
    telephony = ProviderTelephony(_control("twilio", root, http))
    legs = Legs()
    telephony.dial("leg-1", "5551230000</Dial><Hangup/>", 30, legs)
    assert await legs.next() == ("failed", "leg-1", "invalid_destination")
    assert provider.requests == []


async def test_hanging_up_a_pending_transfer_abandons_the_request(
        fake: tuple[FakeProvider, str], http: AiohttpClient) -> None:
    provider, root = fake
    provider.answer = "hang"
    telephony = ProviderTelephony(_control("twilio", root, http))
    legs = Legs()
    telephony.dial("leg-1", TO, 30, legs)
    while not provider.requests:
        await asyncio.sleep(0.01)
    telephony.hangup("leg-1")
    assert await legs.next() == ("ended", "leg-1", "")
    await telephony.close()
    assert telephony.transferred_to is None
    assert [r for r in legs.reports if r[0] != "ended"] == []


# ------------------------------------------------------------------ a media-stream call

TRANSFER_FLOW = f"""
sections:
  main:
    - answer: {{}}
    - connect:
        to: "{TO}"
    - play:
        url: "say:Sorry, nobody could take your call."
    - hangup: {{}}
"""


@dataclass
class Stack:
    host: CallHost
    server: TestServer
    calls: list[Call]
    telephonies: list[Telephony]


@pytest.fixture
async def stack(tmp_path: Path, fake: tuple[FakeProvider, str],
                http: AiohttpClient) -> AsyncIterator[Stack]:
    _, root = fake
    async with CallHost(trace_dir=tmp_path) as host:
        flow = host.compile(TRANSFER_FLOW.encode(), "transfer.yaml")
        calls: list[Call] = []
        telephonies: list[Telephony] = []

        async def start(parameters: Mapping[str, str], details: dict[str, JSONValue],
                        make_channel: MakeChannel, _: Telephony) -> Call:
            # What the server's wiring does: the stream's provider and call id
            # pick the call control, instead of NoCallControl.
            telephony = telephony_for(str(details["provider"]), _credentials(root),
                                      str(details["provider_call_id"]), http)
            telephonies.append(telephony)
            chosen: ir.CompiledFlow = flow
            calls.append(host.start_call(chosen, make_channel(chosen), telephony,
                                         call_info=details))
            return calls[-1]

        app = web.Application()
        add_routes(app, lambda _: host, start)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            yield Stack(host, server, calls, telephonies)
        finally:
            await server.close()


def _trace(stack: Stack, call: Call) -> list[dict[str, Any]]:
    assert stack.host.trace_dir is not None
    return [json.loads(line) for line in
            (stack.host.trace_dir / f"{call.call_id}.jsonl").read_text().splitlines()]


async def test_a_connect_the_provider_accepts_hands_the_caller_away_and_the_stream_ends(
        stack: Stack, fake: tuple[FakeProvider, str]) -> None:
    provider, _ = fake
    script = PeerScript(np.zeros(0, np.int16), longest=10.0)
    # As Twilio does: the redirected call leaves <Connect><Stream>, which stops.
    provider.on_accept.append(lambda: setattr(script, "stop_at", 0.0))
    played = await ProviderPeer(DIALECTS["twilio"], AudioFormat("mulaw", 8000),
                                script).run(str(stack.server.make_url("/v1/media/twilio")))
    assert not played.problems
    call = await stack.host.wait(stack.calls[0])
    trace = _trace(stack, call)
    [sent] = provider.requests
    assert TO in sent["form"]["Twiml"][0]
    telephony = stack.telephonies[0]
    assert isinstance(telephony, ProviderTelephony) and telephony.transferred_to == TO
    legs = [(r.get("old"), r["new"]) for r in trace if r["kind"] == "leg_state"]
    assert ("answered", "bridged") in legs
    # The provider ended the stream: the flow's failure branch never played.
    ended = [r for r in trace if r["kind"] == "call_ended"][-1]
    assert ended["disposition"] == "transferred"  # not the caller hanging up
    assert ended["vars"].get("connect_result") != "failed"
    assert not any("nobody could" in json.dumps(r) for r in trace if r["kind"] == "play")


async def test_a_connect_the_provider_refuses_runs_the_flows_failure_branch(
        stack: Stack, fake: tuple[FakeProvider, str]) -> None:
    provider, _ = fake
    provider.answer = "422"
    script = PeerScript(np.zeros(0, np.int16), longest=15.0)
    played = await ProviderPeer(DIALECTS["telnyx"], AudioFormat("mulaw", 8000), script,
                                call_id=CONTROL_ID).run(
        str(stack.server.make_url("/v1/media/telnyx")))
    assert not played.problems and played.closed_by_server
    call = await stack.host.wait(stack.calls[0])
    assert len(provider.requests) == 1
    assert provider.requests[0]["path"] == f"/v2/calls/{CONTROL_ID}/actions/transfer"
    assert (call.vars["connect_result"], call.vars["connect_failed_reason"]) == \
        ("failed", "rejected")
    trace = _trace(stack, call)
    assert any("nobody could" in json.dumps(r) for r in trace if r["kind"] == "play")
    assert [r for r in trace if r["kind"] == "call_ended"][-1]["disposition"].startswith(
        "hangup")
    # The failure branch was heard: audio reached the provider after the refusal.
    assert sum(1 for f in played.audio if np.abs(f.astype(np.int32)).max() > 300) > 20
