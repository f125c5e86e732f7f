"""REST v1 commands to a live call (server/commands.py): say, transfer, unhold
and inject, each on a call started over REST and followed through its trace;
404, 409, 400 and 403 as the API promises. A real SQLite store and aiohttp's
test client on loopback; the calls run in real time, so each is short or is
hung up, and the tests poll the trace as a client would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from interpreter.server.app import build_app
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Scope
from tests.server.rest import SILENT_CALLER, SLEEPER, publish, start_id
from tests.server.tokens import bearer

Client = TestClient[web.Request, web.Application]
Records = list[dict[str, Any]]
PROBLEM = "application/problem+json"
POLL_DEADLINE = 15.0  # seconds of wall time a call is given to get somewhere

AGENT = b"""\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: "You are a test agent."}
        SWAIG:
          functions:
            - function: wait_a_bit
              description: Put the caller on hold.
              parameters: {type: object, properties: {}}
              data_map:
                output:
                  response: The caller is on hold.
                  action: [{hold: {timeout: 60}}]
    - hangup: {}
  desk:
    - play: {url: "say:This is the front desk."}
    - hangup: {}
"""
RULES = """\
rules:
  - when: {start: true}
    reply: "Hello."
  - when: {said: "hold"}
    call: {function: wait_a_bit}
  - when: {after_tool: wait_a_bit}
    reply: "Please hold."
  - when: {prompted: "hold is over"}
    reply: "Thanks for holding."
  - reply: "Okay."
"""
# Dials a number that never answers: the leg rings until the call ends.
RINGER = b"""\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - connect: {to: "+15550109999", timeout: 60}
    - hangup: {}
"""
BRIEF = b"""\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - hangup: {}
"""
HOLD_PLEASE = """\
steps:
  - say: "hold please"
linger: 600
"""
NEVER_ANSWERS = """\
destinations:
  "+15550109999": {outcome: no_answer}
linger: 600
"""
COMMANDS = {"say": {"text": "Hello."}, "transfer": {"dest": "+15550102000"},
            "unhold": {}, "inject": {"event": "digits", "digits": "1"}}


@pytest.fixture
async def client(store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> Client:
    made: Client = await aiohttp_client(build_app(store))
    for name, source in (("agent", AGENT), ("ringer", RINGER), ("sleeper", SLEEPER),
                         ("brief", BRIEF)):
        await publish(made, auth, name, source)
    return made


async def until(client: Client, auth: dict[str, str], call_id: str,
                found: Callable[[Records], bool]) -> Records:
    """The call's trace once `found` holds for it, polled as a client would."""
    deadline = asyncio.get_running_loop().time() + POLL_DEADLINE
    while True:
        response = await client.get(f"/v1/calls/{call_id}/trace",
                                    headers={**auth, "Accept": "application/json"})
        assert response.status == 200, await response.text()
        records: Records = await response.json()
        if found(records):
            return records
        assert asyncio.get_running_loop().time() < deadline, records[-5:]
        await asyncio.sleep(0.05)


def kind(kind: str, **fields: Any) -> Callable[[Records], bool]:
    return lambda records: any(of(records, kind, **fields))


def of(records: Records, kind: str, **fields: Any) -> Records:
    return [r for r in records if r["kind"] == kind
            and all(r.get(k) == v for k, v in fields.items())]


async def command(client: Client, auth: dict[str, str], call_id: str, name: str,
                  body: Any) -> Any:
    return await client.post(f"/v1/calls/{call_id}/{name}", json=body, headers=auth)


async def accepted(client: Client, auth: dict[str, str], call_id: str, name: str,
                   body: Any) -> dict[str, Any]:
    response = await command(client, auth, call_id, name, body)
    assert response.status == 202, await response.text()
    record: dict[str, Any] = await response.json()
    assert record["call_id"] == call_id and record["state"] == "live"
    return record


async def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == PROBLEM
    body: dict[str, Any] = json.loads(text)
    assert body["code"] == code and body["status"] == status
    return body


async def hang_up(client: Client, auth: dict[str, str], call_id: str) -> Records:
    response = await client.post(f"/v1/calls/{call_id}/hangup", headers=auth)
    assert response.status == 202, await response.text()
    return await until(client, auth, call_id, kind("call_ended"))


# ------------------------------------------------------------ each command end to end

async def test_say_reaches_the_caller_and_the_trace_says_who_asked(
        client: Client, auth: dict[str, str]) -> None:
    call_id = await start_id(client, auth, "agent", SILENT_CALLER, model=RULES)
    await until(client, auth, call_id, kind("say", text="Hello."))
    await accepted(client, auth, call_id, "say", {"text": "  Your order has shipped. "})
    records = await until(client, auth, call_id, kind("say", text="Your order has shipped."))
    (received,) = of(records, "command_received")
    assert received["command"] == "say" and received["text"] == "Your order has shipped."
    assert received["by"].startswith("rest:tok_")
    (said,) = of(records, "say", text="Your order has shipped.")
    # Played to its end: the caller heard all of it.
    await until(client, auth, call_id,
                kind("event", event="PlayoutFinished", playout_id=said["playout"]))
    await hang_up(client, auth, call_id)


async def test_transfer_to_a_section_leaves_the_ai_session_for_it(
        client: Client, auth: dict[str, str]) -> None:
    call_id = await start_id(client, auth, "agent", SILENT_CALLER, model=RULES)
    await until(client, auth, call_id, kind("ai_started"))
    await accepted(client, auth, call_id, "transfer", {"dest": "desk"})
    records = await until(client, auth, call_id, kind("call_ended"))
    assert of(records, "command_received")[0]["dest"] == "desk"
    assert of(records, "ai_ended")[0]["reason"] == "transfer"
    assert of(records, "transferred", to="desk")
    assert of(records, "play", items=["say:This is the front desk."])
    assert of(records, "call_ended")[0]["disposition"] == "hangup:hangup"


async def test_a_command_waits_while_a_verb_is_under_way(
        client: Client, auth: dict[str, str]) -> None:
    call_id = await start_id(client, auth, "sleeper", SILENT_CALLER)
    await until(client, auth, call_id, kind("verb", verb="sleep"))
    await accepted(client, auth, call_id, "transfer", {"dest": "+15550102000"})
    # Kept for the safe point after the sleep, not run in the middle of it;
    # the call ends first here, so the trace says the transfer never ran.
    records = await until(client, auth, call_id, kind("event_kept", event="TransferRequested"))
    assert of(records, "command_received")[0]["dest"] == "+15550102000"
    records = await hang_up(client, auth, call_id)
    assert of(records, "command_dropped", command="transfer")
    assert not of(records, "leg_dial")


async def test_transfer_from_an_ai_session_to_a_number_bridges_and_the_call_ends(
        client: Client, auth: dict[str, str]) -> None:
    caller = """\
destinations:
  "sip:desk@example.com": {answer_after: 0.1, hangup_after: 0.2}
linger: 600
"""
    call_id = await start_id(client, auth, "agent", caller, model=RULES)
    await until(client, auth, call_id, kind("ai_started"))
    await accepted(client, auth, call_id, "transfer", {"dest": "sip:desk@example.com"})
    records = await until(client, auth, call_id, kind("call_ended"))
    (dialled,) = of(records, "leg_dial")
    assert dialled["destination"] == "sip:desk@example.com"
    assert of(records, "leg_state", leg=dialled["leg"], new="bridged")
    assert of(records, "bridge_ended")
    assert of(records, "call_ended")[0]["disposition"] == "completed"


async def test_unhold_takes_a_held_call_off_hold_and_a_second_one_is_409(
        client: Client, auth: dict[str, str]) -> None:
    call_id = await start_id(client, auth, "agent", HOLD_PLEASE, model=RULES)
    await problem(await command(client, auth, call_id, "unhold", {}), 409, "not-on-hold")
    await until(client, auth, call_id, kind("hold"))
    # No body at all is an unhold too.
    response = await client.post(f"/v1/calls/{call_id}/unhold", headers=auth)
    assert response.status == 202, await response.text()
    records = await until(client, auth, call_id, kind("unhold"))
    assert of(records, "unhold")[0]["why"] == "unhold command"
    assert of(records, "command_received", command="unhold")
    await until(client, auth, call_id, kind("say", text="Thanks for holding."))
    await problem(await command(client, auth, call_id, "unhold", {}), 409, "not-on-hold")
    await hang_up(client, auth, call_id)


async def test_an_injected_leg_answered_bridges_the_ringing_leg(
        client: Client, auth: dict[str, str]) -> None:
    call_id = await start_id(client, auth, "ringer", NEVER_ANSWERS)
    records = await until(client, auth, call_id, kind("leg_dial"))
    leg = of(records, "leg_dial")[0]["leg"]
    await problem(await command(client, auth, call_id, "inject",
                                {"event": "leg_answered", "leg_id": "leg-nope"}),
                  409, "unknown-leg")
    await accepted(client, auth, call_id, "inject", {"event": "leg_answered", "leg_id": leg})
    records = await until(client, auth, call_id, kind("leg_state", leg=leg, new="bridged"))
    (received,) = of(records, "command_received")
    assert received["command"] == "inject" and received["name"] == "leg_answered"
    events = [r["event"] for r in of(records, "event")]
    assert events[events.index("EventInjected") + 1] == "LegAnswered"
    await hang_up(client, auth, call_id)


async def test_injected_caller_speech_is_answered_by_the_agent(
        client: Client, auth: dict[str, str]) -> None:
    call_id = await start_id(client, auth, "agent", SILENT_CALLER, model=RULES)
    await until(client, auth, call_id, kind("say", text="Hello."))
    await accepted(client, auth, call_id, "inject", {"event": "speech", "text": "hold on"})
    await until(client, auth, call_id, kind("hold"))
    await hang_up(client, auth, call_id)


# ------------------------------------------------------------ refusals

@pytest.mark.parametrize("name", sorted(COMMANDS))
async def test_a_command_to_an_ended_call_is_409_and_does_not_revive_it(
        client: Client, auth: dict[str, str], name: str) -> None:
    call_id = await start_id(client, auth, "brief", SILENT_CALLER)
    records = await until(client, auth, call_id, kind("call_ended"))
    body = await problem(await command(client, auth, call_id, name, COMMANDS[name]),
                         409, "call-ended")
    assert "hangup:hangup" in body["detail"]
    after = await until(client, auth, call_id, lambda _: True)
    assert after == records  # nothing more happened to it
    state = await (await client.get(f"/v1/calls/{call_id}", headers=auth)).json()
    assert state["state"] == "ended"


@pytest.mark.parametrize("name", sorted(COMMANDS))
async def test_a_command_to_an_unknown_call_is_404(client: Client, auth: dict[str, str],
                                                   name: str) -> None:
    await problem(await command(client, auth, "nope", name, COMMANDS[name]), 404, "not-found")


@pytest.mark.parametrize(("name", "body", "says"), [
    ("say", {}, "needs text"),
    ("say", {"text": 5}, "`text`"),
    ("say", {"text": "   "}, "`text`"),
    ("say", {"text": "x" * 2001}, "at most 2,000"),
    ("say", {"text": "hi", "voice": "x"}, "voice"),
    ("say", [], "JSON object"),
    ("transfer", {"dest": "nowhere"}, "neither a section"),
    ("transfer", {"to": "+15550102000"}, "to"),
    ("unhold", {"now": True}, "takes no fields"),
    ("inject", {"event": "HangupRequested"}, "leg_answered"),
    ("inject", {"leg_id": "leg-1"}, "`event` is one of"),
    ("inject", {"event": "leg_answered"}, "needs leg_id"),
    ("inject", {"event": "leg_failed", "leg_id": "leg-1", "reason": "bored"}, "busy"),
    ("inject", {"event": "digits", "digits": "12x"}, "'x'"),
    ("inject", {"event": "speech", "text": "hi", "confidence": 2}, "0 to 1"),
    ("inject", {"event": "speech", "text": "hi", "epoch": 3}, "epoch"),
])
async def test_a_bad_body_is_400_saying_what_is_wrong(
        client: Client, auth: dict[str, str], name: str, body: Any, says: str) -> None:
    call_id = await start_id(client, auth, "sleeper", SILENT_CALLER)
    found = await problem(await command(client, auth, call_id, name, body), 400,
                          "invalid-request")
    assert says in found["detail"]
    records = await hang_up(client, auth, call_id)
    assert not of(records, "command_received")


async def test_a_command_body_must_be_json(client: Client, auth: dict[str, str]) -> None:
    call_id = await start_id(client, auth, "sleeper", SILENT_CALLER)
    response = await client.post(f"/v1/calls/{call_id}/say", data="text=hi",
                                 headers={**auth, "Content-Type": "text/plain"})
    await problem(response, 415, "unsupported-media-type")
    await hang_up(client, auth, call_id)


@pytest.mark.parametrize("name", sorted(COMMANDS))
async def test_commands_need_the_calls_scope(client: Client, auth: dict[str, str],
                                             store: SqliteStore, name: str) -> None:
    call_id = await start_id(client, auth, "sleeper", SILENT_CALLER)
    reader = await bearer(store, Scope.READ)
    await problem(await command(client, reader, call_id, name, COMMANDS[name]),
                  403, "forbidden")
    records = await hang_up(client, auth, call_id)
    assert not of(records, "command_received")
