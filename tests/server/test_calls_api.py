"""REST v1 calls: start a call of a stored flow, follow it to its end, read its
trace, hang it up; on a real SQLite store, through aiohttp's test client on
loopback. The calls run in real time, so each flow here is a few seconds long
at most, and a call meant to run long is hung up."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from interpreter.host import CallHost
from interpreter.server.app import HOST, build_app
from interpreter.server.calls import CALLS
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Scope
from tests.server.rest import SILENT_CALLER, SLEEPER, ended, problem, publish, start
from tests.server.tokens import bearer

Client = TestClient[web.Request, web.Application]

AGENT = b"""\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: "You are a test agent. Greet the caller, say goodbye."}
"""
RULES = """\
rules:
  - when: {start: true}
    reply: "Hello there."
  - when: {said: "bye"}
    reply: "Goodbye."
  - reply: "Sorry?"
"""
# Hears the greeting, says goodbye, hears it back, hangs up: about 3 s.
CALLER = """\
from: "+15551230000"
steps:
  - say: "Bye now."
  - hangup: {}
    after: 1
"""
# Says a line and hangs up itself, in well under a second.
BRIEF = b"""\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - set: {api_key: "hunter2-not-for-traces"}
    - play: {url: "say:Hello."}
    - hangup: {}
"""


@pytest.fixture
async def client(store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> Client:
    made: Client = await aiohttp_client(build_app(store))
    for name, source in (("agent", AGENT), ("brief", BRIEF), ("sleeper", SLEEPER)):
        await publish(made, auth, name, source)
    return made


# ------------------------------------------------------------ a call end to end

async def test_a_call_of_the_live_version_runs_to_its_end_with_a_readable_trace(
        client: Client, auth: dict[str, str]) -> None:
    started = await start(client, auth, "agent", CALLER, model=RULES)
    assert started["flow"] == "agent" and started["version"] == 1
    assert started["state"] == "live" and started["disposition"] is None
    call = await ended(client, auth, started["call_id"])
    assert call["disposition"] == "caller_hangup"
    assert call["call_state"] == "ended"
    assert call["ended_at"] >= call["started_at"]
    assert call["content_hash"] == started["content_hash"]

    jsonl = await client.get(f"/v1/calls/{started['call_id']}/trace", headers=auth)
    assert jsonl.status == 200 and jsonl.content_type == "application/x-ndjson"
    assert jsonl.headers["X-Trace-Dropped"] == "0"
    records = [json.loads(line) for line in (await jsonl.text()).splitlines()]
    assert [r["kind"] for r in records[:2]] == ["flow_chosen", "call_started"]
    assert {k: records[0][k] for k in ("flow", "by", "bound")} == \
        {"flow": "agent", "by": "named", "bound": False}
    assert records[-1]["kind"] == "call_ended"
    spoken = json.dumps(records)
    assert "Hello there." in spoken and "Goodbye." in spoken and "Bye now." in spoken

    array = await client.get(f"/v1/calls/{started['call_id']}/trace",
                             headers={**auth, "Accept": "application/json"})
    assert array.content_type == "application/json"
    assert await array.json() == records


async def test_a_named_draft_version_runs_and_its_trace_carries_no_secret(
        client: Client, auth: dict[str, str]) -> None:
    uploaded = await client.post("/v1/flows/draft", data=BRIEF,
                                 headers={**auth, "Content-Type": "application/yaml"})
    assert uploaded.status == 201
    started = await start(client, auth, "draft", SILENT_CALLER, version=1)
    call = await ended(client, auth, started["call_id"])
    assert call["disposition"] == "hangup:hangup" and call["version"] == 1
    trace = await (await client.get(f"/v1/calls/{started['call_id']}/trace",
                                    headers=auth)).text()
    assert '"kind": "call_ended"' in trace
    assert "hunter2-not-for-traces" not in trace


async def test_calls_are_listed_newest_first_and_filtered_by_flow_and_state(
        client: Client, auth: dict[str, str]) -> None:
    brief = await start(client, auth, "brief", SILENT_CALLER)
    await ended(client, auth, brief["call_id"])
    sleeper = await start(client, auth, "sleeper", SILENT_CALLER)

    async def listed(query: str) -> list[str]:
        response = await client.get(f"/v1/calls{query}", headers=auth)
        assert response.status == 200
        return [call["call_id"] for call in (await response.json())["calls"]]

    assert await listed("") == [sleeper["call_id"], brief["call_id"]]
    assert await listed("?state=live") == [sleeper["call_id"]]
    assert await listed("?state=ended") == [brief["call_id"]]
    assert await listed("?flow=brief") == [brief["call_id"]]
    assert await listed("?flow=brief&state=live") == []
    await problem(await client.get("/v1/calls?state=dead", headers=auth), 400,
                  "invalid-request")


# ------------------------------------------------------------ hanging up

async def test_hangup_ends_a_live_call_and_an_ended_call_is_not_revived(
        client: Client, auth: dict[str, str]) -> None:
    started = await start(client, auth, "sleeper", SILENT_CALLER)
    call_id = started["call_id"]
    live = await (await client.get(f"/v1/calls/{call_id}", headers=auth)).json()
    assert live["state"] == "live"

    asked = await client.post(f"/v1/calls/{call_id}/hangup", headers=auth)
    assert asked.status == 202, await asked.text()
    assert (await asked.json())["call_id"] == call_id
    call = await ended(client, auth, call_id)
    assert call["disposition"] == "hangup_requested"

    again = await client.post(f"/v1/calls/{call_id}/hangup", headers=auth)
    body = await problem(again, 409, "call-ended")
    assert "hangup_requested" in body["detail"]
    after = await (await client.get(f"/v1/calls/{call_id}", headers=auth)).json()
    assert after == call


async def test_app_cleanup_ends_the_calls_it_started_with_a_goodbye(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> None:
    app = build_app(store)
    client: Client = await aiohttp_client(app)
    await publish(client, auth, "sleeper", SLEEPER)
    started = await start(client, auth, "sleeper", SILENT_CALLER)
    await client.close()  # the app's cleanup: must not wait out the minute
    record = app[CALLS].live(started["call_id"])
    assert record is not None and record.entry.disposition == "hangup_requested"
    assert record.trace is not None
    [farewell] = record.trace.of_kind("farewell")
    assert "restarting" in str(farewell["text"])
    assert app[HOST].live() == []
    stored = await store.call(started["call_id"])
    assert (stored.live, stored.disposition) == (False, "hangup_requested")


async def test_a_given_host_runs_the_calls_and_stays_open_after_the_app(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> None:
    async with CallHost() as host:
        app = build_app(store, host=host)
        client: Client = await aiohttp_client(app)
        await publish(client, auth, "brief", BRIEF)
        started = await start(client, auth, "brief", SILENT_CALLER)
        assert [call.call_id for call in host.live()] == [started["call_id"]]
        await ended(client, auth, started["call_id"])
        await client.close()
        # The app did not close the host it was given: its HTTP client is still open.
        session = host._session
        assert session is not None and not session.closed


async def test_calls_no_longer_in_memory_are_read_from_the_store(
        client: Client, auth: dict[str, str]) -> None:
    assert client.app is not None
    client.app[CALLS].keep_ended = 2
    ids, seen, traces = [], [], []
    for _ in range(3):
        ids.append((await start(client, auth, "brief", SILENT_CALLER))["call_id"])
        seen.append(await ended(client, auth, ids[-1]))
        traces.append(await (await client.get(f"/v1/calls/{ids[-1]}/trace",
                                              headers=auth)).text())
    assert client.app[CALLS].live(ids[0]) is None  # forgotten in memory
    for call_id, record, trace in zip(ids, seen, traces, strict=True):
        again = await client.get(f"/v1/calls/{call_id}", headers=auth)
        assert await again.json() == record
        stored = await client.get(f"/v1/calls/{call_id}/trace", headers=auth)
        assert await stored.text() == trace
    listed = await (await client.get("/v1/calls?flow=brief&limit=2", headers=auth)).json()
    assert [c["call_id"] for c in listed["calls"]] == [ids[2], ids[1]]


# ------------------------------------------------------------ refusals

async def test_unknown_calls_flows_and_versions_are_404(client: Client,
                                                        auth: dict[str, str]) -> None:
    for path in ("/v1/calls/nope", "/v1/calls/nope/trace"):
        await problem(await client.get(path, headers=auth), 404, "not-found")
    await problem(await client.post("/v1/calls/nope/hangup", headers=auth), 404, "not-found")
    unknown_flow = {"flow": "nope", "caller": SILENT_CALLER}
    await problem(await client.post("/v1/calls", json=unknown_flow, headers=auth), 404,
                  "not-found")
    unknown_version = {"flow": "brief", "version": 9, "caller": SILENT_CALLER}
    await problem(await client.post("/v1/calls", json=unknown_version, headers=auth), 404,
                  "not-found")


async def test_a_flow_with_no_live_version_is_409(client: Client,
                                                  auth: dict[str, str]) -> None:
    uploaded = await client.post("/v1/flows/unpublished", data=BRIEF,
                                 headers={**auth, "Content-Type": "application/yaml"})
    assert uploaded.status == 201
    body = {"flow": "unpublished", "caller": SILENT_CALLER}
    refused = await problem(await client.post("/v1/calls", json=body, headers=auth), 409,
                            "conflict")
    assert "no live version" in refused["detail"]


async def test_a_bad_caller_script_is_422_with_its_diagnostics(client: Client,
                                                               auth: dict[str, str]) -> None:
    body = {"flow": "brief", "caller": "steps:\n  - shout: hello\n"}
    refused = await problem(await client.post("/v1/calls", json=body, headers=auth), 422,
                            "invalid-document")
    errors = refused["errors"]
    assert errors and errors[0]["file"] == "caller.yaml"
    assert (errors[0]["line"], errors[0]["severity"]) == (2, "error")


async def test_bad_model_rules_are_422_with_their_diagnostics(client: Client,
                                                              auth: dict[str, str]) -> None:
    body = {"flow": "agent", "caller": CALLER, "model": "rules: 3\n"}
    refused = await problem(await client.post("/v1/calls", json=body, headers=auth), 422,
                            "invalid-document")
    assert refused["errors"][0]["file"] == "model.yaml"
    assert refused["errors"][0]["code"] == "CK801"


async def test_a_call_without_a_flow_is_routed_by_the_number_called(
        client: Client, auth: dict[str, str]) -> None:
    table = (b"routes:\n  - {to: '+1555000*', flow: brief}\n"
             b"  - {params: {queue: vip}, flow: agent}\n")
    stored = await client.put("/v1/routes", data=table,
                              headers={**auth, "Content-Type": "application/yaml"})
    assert stored.status == 200, await stored.text()
    to_brief = "to: '+15550001234'\nlinger: 600\n"
    routed = await client.post("/v1/calls", json={"caller": to_brief}, headers=auth)
    assert routed.status == 201, await routed.text()
    call = await ended(client, auth, (await routed.json())["call_id"])
    assert (call["flow"], call["version"]) == ("brief", 1)
    trace = await (await client.get(f"/v1/calls/{call['call_id']}/trace",
                                    headers={**auth, "Accept": "application/json"})).json()
    assert trace[0]["kind"] == "flow_chosen" and trace[0]["by"] == "to"


async def test_a_call_no_route_matches_hears_an_apology_and_ends(
        client: Client, auth: dict[str, str]) -> None:
    nowhere = "to: '+4420000000'\nlinger: 600\n"
    routed = await client.post("/v1/calls", json={"caller": nowhere}, headers=auth)
    assert routed.status == 201, await routed.text()
    call = await ended(client, auth, (await routed.json())["call_id"])
    assert (call["flow"], call["version"]) == (None, None)
    trace = await (await client.get(f"/v1/calls/{call['call_id']}/trace",
                                    headers={**auth, "Accept": "application/json"})).json()
    [unavailable] = [r for r in trace if r["kind"] == "flow_unavailable"]
    assert unavailable["failure"] == "no_route"
    assert any(r["kind"] == "play" for r in trace)  # the apology, spoken


@pytest.mark.parametrize(("body", "said"), [
    ({"flow": "brief"}, "`caller`"),
    ({"caller": SILENT_CALLER, "flow": 5}, "`flow`"),
    ({"caller": SILENT_CALLER, "version": 1}, "`version` needs `flow`"),
    ({"caller": SILENT_CALLER, "params": {"x": 1}}, "`params`"),
    ({"flow": "brief", "caller": SILENT_CALLER, "media": "video"}, "media"),
    ({"flow": "brief", "caller": SILENT_CALLER, "speed": 2}, "speed"),
    ({"flow": "brief", "caller": SILENT_CALLER, "version": 0}, "`version`"),
    ({"flow": "brief", "caller": SILENT_CALLER, "model": 5}, "`model`"),
    ({"flow": "brief", "caller": SILENT_CALLER, "clock": "fast"}, "clock"),
    ({"flow": "agent", "caller": CALLER, "clock": "virtual"}, "virtual clock needs `model`"),
    ({"flow": "agent", "caller": CALLER}, "no default model"),
])
async def test_a_malformed_start_request_is_400_saying_what_is_wrong(
        client: Client, auth: dict[str, str], body: dict[str, Any], said: str) -> None:
    refused = await problem(await client.post("/v1/calls", json=body, headers=auth), 400,
                            "invalid-request")
    assert said in refused["detail"]
    assert (await (await client.get("/v1/calls", headers=auth)).json())["calls"] == []


async def test_a_start_request_must_be_json(client: Client, auth: dict[str, str]) -> None:
    response = await client.post("/v1/calls", data=b"flow: brief",
                                 headers={**auth, "Content-Type": "application/yaml"})
    await problem(response, 415, "unsupported-media-type")


async def test_calls_need_a_token_with_the_right_scope(client: Client,
                                                       store: SqliteStore) -> None:
    reader = await bearer(store, Scope.READ)
    caller = await bearer(store, Scope.CALLS)
    body = {"flow": "brief", "caller": SILENT_CALLER}
    await problem(await client.post("/v1/calls", json=body), 401, "unauthorized")
    await problem(await client.get("/v1/calls"), 401, "unauthorized")
    await problem(await client.post("/v1/calls", json=body, headers=reader), 403,
                  "forbidden")
    await problem(await client.post("/v1/calls/x/hangup", headers=reader), 403, "forbidden")
    await problem(await client.get("/v1/calls", headers=caller), 403, "forbidden")
    await problem(await client.get("/v1/calls/x/trace", headers=caller), 403, "forbidden")
    started = await start(client, caller, "brief", SILENT_CALLER)
    assert started["state"] == "live"
    listed = await (await client.get("/v1/calls", headers=reader)).json()
    assert [call["call_id"] for call in listed["calls"]] == [started["call_id"]]


async def test_an_audio_call_runs_on_the_audio_media_runtime(
        client: Client, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from interpreter.transports import audio_caller

    made: list[audio_caller.AudioCaller] = []

    def spied(*args: Any, **kwargs: Any) -> audio_caller.AudioCaller:
        caller = real(*args, **kwargs)
        made.append(caller)
        return caller

    real = audio_caller.for_flow
    monkeypatch.setattr(audio_caller, "for_flow", spied)
    started = await start(client, auth, "brief", "steps:\n  - hangup: {}\n    after: 3\n",
                          media="audio")
    assert started["media"] == "audio"
    call = await ended(client, auth, started["call_id"])
    assert (call["media"], call["disposition"]) == ("audio", "hangup:hangup")
    # The agent's line went through the audio path and reached the caller's ears.
    [caller] = made
    assert [line.text for line in caller.heard] == ["Hello."]


async def test_a_call_on_a_virtual_clock_runs_to_its_end_at_once(
        client: Client, auth: dict[str, str]) -> None:
    # An hour of call on the sleeper flow's 60 s sleep and a caller that lingers
    # for 10 minutes: on a virtual clock it ends in well under the poll deadline.
    started = await start(client, auth, "sleeper", SILENT_CALLER, clock="virtual")
    assert started["state"] == "live" and started["call_state"] == "unknown"
    refused = await client.post(f"/v1/calls/{started['call_id']}/hangup", headers=auth)
    detail = (await problem(refused, 409, "call-ended"))["detail"]
    # Still running in its thread, or already done: never hung up from outside.
    assert "virtual clock" in detail or "has ended" in detail
    call = await ended(client, auth, started["call_id"])
    assert call["disposition"] == "hangup:hangup"
    trace = await (await client.get(f"/v1/calls/{call['call_id']}/trace",
                                    headers={**auth, "Accept": "application/json"})).json()
    assert [r["kind"] for r in trace[:2]] == ["flow_chosen", "call_started"]
    slept = [r for r in trace if r["kind"] == "verb" and r.get("verb") == "sleep"]
    assert slept and trace[-1]["kind"] == "call_ended"
    assert trace[-1]["t"] >= 60.0  # the virtual clock ran through the whole sleep


async def test_a_virtual_ai_call_runs_with_its_scripted_model(
        client: Client, auth: dict[str, str]) -> None:
    started = await start(client, auth, "agent", CALLER, model=RULES, clock="virtual")
    call = await ended(client, auth, started["call_id"])
    trace = await (await client.get(f"/v1/calls/{call['call_id']}/trace",
                                    headers={**auth, "Accept": "application/json"})).json()
    spoken = json.dumps(trace)
    assert "Hello there." in spoken and "Goodbye." in spoken


async def test_a_call_over_the_servers_most_is_refused_until_one_ends(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> None:
    client: Client = await aiohttp_client(build_app(store, max_live_calls=1))
    await publish(client, auth, "sleeper", SLEEPER)
    first = await start(client, auth, "sleeper", SILENT_CALLER)
    refused = await client.post("/v1/calls", json={"flow": "sleeper", "caller": SILENT_CALLER},
                                headers=auth)
    assert refused.headers["Retry-After"] == "1"
    assert "max_live_calls" in (await problem(refused, 503, "too-many-calls"))["detail"]
    assert (await client.post(f"/v1/calls/{first['call_id']}/hangup", headers=auth)).status \
        == 202
    await ended(client, auth, first["call_id"])
    await start(client, auth, "sleeper", SILENT_CALLER)  # room again


async def test_a_calls_picture_is_drawn_from_its_trace(client: Client,
                                                       auth: dict[str, str]) -> None:
    started = await start(client, auth, "agent", CALLER, model=RULES, clock="virtual")
    await ended(client, auth, started["call_id"])
    picture = await client.get(f"/v1/calls/{started['call_id']}/timeline.png", headers=auth)
    assert picture.status == 200 and picture.content_type == "image/png"
    assert (await picture.read()).startswith(b"\x89PNG")
    await problem(await client.get("/v1/calls/nope/timeline.png", headers=auth), 404,
                  "not-found")


RECORDER = b"""\
version: "1.0.0"
sections:
  main:
    - answer: {}
    - play: {url: "say:Leave a message."}
    - record: {max_length: 8, end_silence_timeout: 1}
    - hangup: {}
"""


async def test_a_calls_recordings_are_listed_and_served_and_no_other_file(
        client: Client, auth: dict[str, str]) -> None:
    await publish(client, auth, "recorder", RECORDER)
    started = await start(client, auth, "recorder",
                          "steps:\n  - say: hello there\n  - hangup: {}\n    after: 4\n",
                          media="audio", clock="virtual")
    await ended(client, auth, started["call_id"])
    base = f"/v1/calls/{started['call_id']}/recordings"
    [made] = (await (await client.get(base, headers=auth)).json())["recordings"]
    assert made["bytes"] > 44 and made["url"] == f"{base}/{made['name']}"
    audio = await client.get(made["url"], headers=auth)
    assert audio.status == 200 and audio.content_type == "audio/wav"
    assert (await audio.read()).startswith(b"RIFF")
    for other in ("..%2F..%2Fetc%2Fpasswd", "callkernel.db", "nope.wav"):
        await problem(await client.get(f"{base}/{other}", headers=auth), 404, "not-found")
