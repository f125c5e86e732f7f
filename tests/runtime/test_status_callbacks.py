"""Status callbacks (a verb's status_url, connect's call_state_url) leave
through the outbox as their events happen, with RELAY-shaped bodies."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from interpreter import ir
from interpreter.clock import run_virtual
from interpreter.document.compile import compile_text
from interpreter.document.lint import lint_source
from interpreter.document.loader import load_document
from interpreter.host import CallHost
from interpreter.runtime.call import Call
from interpreter.runtime.outbox import IDEMPOTENCY_HEADER
from interpreter.transports.caller_script import load_caller_script
from interpreter.transports.simulated import SimulatedCaller
from interpreter.transports.simulated_network import SimulatedNetwork


@dataclass
class Received:
    """One POST the receiver got."""

    path: str
    key: str
    authorization: str | None
    body: dict[str, Any]


@dataclass
class Run:
    call_id: str
    received: list[Received]
    # The trace's status_callback records, in the order the call sent them.
    sent: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def bodies(self) -> list[dict[str, Any]]:
        """The bodies received, in the order the events happened (the trace's
        order: deliveries run concurrently, so arrival order is not it)."""
        by_key = {r.key: r.body for r in self.received}
        assert set(by_key) == {s["key"] for s in self.sent}, "every callback arrived once"
        return [by_key[s["key"]] for s in self.sent]

    def states(self) -> list[str]:
        return [s["event"] for s in self.sent]


def run(flow: str, caller: str = "steps: []\nlinger: 1\n") -> Run:
    received: list[Received] = []

    async def main() -> Run:
        app = web.Application()

        async def receive(request: web.Request) -> web.Response:
            received.append(Received(request.path, request.headers[IDEMPOTENCY_HEADER],
                                     request.headers.get("Authorization"),
                                     await request.json()))
            return web.json_response({})

        app.router.add_post("/{name}", receive)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        compiled = compile_text(flow.replace("PORT", str(port)), "status.yaml")
        script = load_caller_script(caller)
        channel = SimulatedCaller(script)
        network = SimulatedNetwork.for_script(script)
        try:
            async with CallHost() as host:
                call = await host.run_call(compiled, channel, network)
        finally:
            await channel.close()
            await network.close()
            await runner.cleanup()
        return Run(call.call_id, received, call.trace.of_kind("status_callback"),
                   list(call.trace.records))

    return run_virtual(main)


def _flow(*methods: str) -> str:
    body = "".join(f"    - {m}\n" for m in methods)
    return f"sections:\n  main:\n    - answer: {{}}\n{body}    - hangup: {{}}\n"


# ---------------------------------------------------------------- play


def test_play_reports_playing_then_finished_at_once_through_the_outbox() -> None:
    result = run(_flow('play: {url: "say:Hello there.", '
                       'status_url: "http://127.0.0.1:PORT/play"}'))
    assert result.states() == ["calling.call.play:playing", "calling.call.play:finished"]
    playing, finished = result.bodies()
    assert playing["event_type"] == "calling.call.play"
    assert isinstance(playing["timestamp"], float)
    assert playing["params"] == {"call_id": result.call_id,
                                 "control_id": playing["params"]["control_id"],
                                 "state": "playing"}
    assert finished["params"]["state"] == "finished"
    assert finished["params"]["control_id"] == playing["params"]["control_id"]
    assert {r.path for r in result.received} == {"/play"}
    # Sent as the play started and ended, not when the call ended.
    kinds = [r["kind"] for r in result.records]
    first = kinds.index("status_callback")
    assert kinds.index("play") > first and kinds.index("call_ended") > first
    assert len({r.key for r in result.received}) == 2  # a fresh key per callback


def test_a_play_whose_file_cannot_be_fetched_reports_error() -> None:
    result = run(_flow('play: {url: "https://files.example/missing.mp3", '
                       'status_url: "http://127.0.0.1:PORT/play"}'),
                 'steps: []\nlinger: 1\nfaults: {files: ["https://files.example/missing.mp3"]}\n')
    assert result.states() == ["calling.call.play:playing", "calling.call.play:error"]


def test_a_play_without_status_url_sends_nothing() -> None:
    result = run(_flow('play: {url: "say:Hello."}'))
    assert result.sent == [] and result.received == []


def test_a_status_url_with_credentials_sends_basic_auth_and_is_traced_without_them() -> None:
    result = run(_flow('play: {url: "say:Hi.", '
                       'status_url: "http://ann:s3cret@127.0.0.1:PORT/play"}'))
    expected = "Basic " + base64.b64encode(b"ann:s3cret").decode()
    assert {r.authorization for r in result.received} == {expected}
    assert all("s3cret" not in s["url"] and "ann@" not in s["url"] for s in result.sent)


def test_a_templated_status_url_is_rendered_for_the_call() -> None:
    result = run(_flow('set: {hook: play}',
                       'play: {url: "say:Hi.", status_url: "http://127.0.0.1:PORT/%{hook}"}'))
    assert {r.path for r in result.received} == {"/play"}


# ---------------------------------------------------------------- prompt


def test_prompt_reports_the_digits_collected() -> None:
    result = run(_flow('prompt: {play: "say:Enter your code.", max_digits: 4, '
                       'terminators: "#", status_url: "http://127.0.0.1:PORT/prompt"}'),
                 'steps:\n  - press: "12#"\nlinger: 1\n')
    (collect,) = result.bodies()
    assert collect["event_type"] == "calling.call.collect"
    params = collect["params"]
    assert params["result"] == {"type": "digit", "params": {"digits": "12", "terminator": "#"}}
    assert params["final"] is True and params["call_id"] == result.call_id


def test_prompt_reports_speech_with_confidence_on_relay_scale() -> None:
    result = run(_flow('prompt: {play: "say:Sales or support?", speech_timeout: 5, '
                       'status_url: "http://127.0.0.1:PORT/prompt"}'),
                 'steps:\n  - say: "sales"\nlinger: 1\n')
    (collect,) = result.bodies()
    speech = collect["params"]["result"]
    assert speech["type"] == "speech" and speech["params"]["text"] == "sales"
    assert 0 < speech["params"]["confidence"] <= 100


def test_prompt_reports_no_input() -> None:
    result = run(_flow('prompt: {play: "say:Anyone?", initial_timeout: 2, '
                       'status_url: "http://127.0.0.1:PORT/prompt"}'),
                 "steps: []\nlinger: 10\n")
    (collect,) = result.bodies()
    assert collect["params"]["result"] == {"type": "no_input"}


# ---------------------------------------------------------------- record


def test_record_reports_recording_then_finished_with_url_and_duration() -> None:
    result = run(_flow('record: {end_silence_timeout: 1, '
                       'status_url: "http://127.0.0.1:PORT/record"}'),
                 'steps:\n  - say: "leave a message please"\n    at: 0.5\nlinger: 5\n')
    assert result.states() == ["calling.call.record:recording", "calling.call.record:finished"]
    recording, finished = result.bodies()
    assert recording["event_type"] == "calling.call.record"
    url = recording["params"]["url"]
    assert url.startswith("callkernel://recordings/")
    assert finished["params"]["url"] == url
    assert finished["params"]["control_id"] == recording["params"]["control_id"]
    assert finished["params"]["duration"] > 1.0  # the words, then the second of silence


def test_record_reports_no_input_without_a_url() -> None:
    result = run(_flow('record: {initial_timeout: 1, '
                       'status_url: "http://127.0.0.1:PORT/record"}'))
    _, ended = result.bodies()
    assert ended["params"]["state"] == "no_input"
    assert "url" not in ended["params"] and "duration" not in ended["params"]


def test_record_call_reports_finished_when_stopped() -> None:
    result = run(_flow('record_call: {control_id: whole, '
                       'status_url: "http://127.0.0.1:PORT/record"}',
                       "sleep: 3000", "stop_record_call: {control_id: whole}",
                       'play: {url: "say:Done."}'), "steps: []\nlinger: 10\n")
    recording, finished = result.bodies()
    assert recording["params"]["control_id"] == finished["params"]["control_id"] == "whole"
    assert finished["params"]["state"] == "finished"
    assert finished["params"]["url"] == recording["params"]["url"]
    assert 2.9 < finished["params"]["duration"] < 3.1
    kinds = [r["kind"] for r in result.records]
    assert kinds[kinds.index("record_stopped") + 1] == "status_callback"


def test_record_call_reports_finished_when_its_terminator_is_pressed() -> None:
    result = run(_flow('record_call: {terminators: "#", '
                       'status_url: "http://127.0.0.1:PORT/record"}', "sleep: 5000"),
                 'steps:\n  - press: "#"\n    at: 2\nlinger: 10\n')
    assert result.states() == ["calling.call.record:recording", "calling.call.record:finished"]
    assert 1.9 < result.bodies()[1]["params"]["duration"] < 2.3
    kinds = [r["kind"] for r in result.records]
    assert kinds[kinds.index("record_stopped") + 1] == "status_callback"


def test_record_call_still_running_reports_finished_when_the_call_ends() -> None:
    result = run(_flow('record_call: {status_url: "http://127.0.0.1:PORT/record"}',
                       "sleep: 2000"))
    assert result.states() == ["calling.call.record:recording", "calling.call.record:finished"]
    kinds = [r["kind"] for r in result.records]
    finished_at = [i for i, k in enumerate(kinds) if k == "status_callback"][1]
    assert kinds.index("state") < finished_at < kinds.index("call_ended")


# ---------------------------------------------------------------- connect

CONNECT = ('connect: {to: "+15550100200", from: "+15550009999", '
           'status_url: "http://127.0.0.1:PORT/connect", '
           'call_state_url: "http://127.0.0.1:PORT/state"EVENTS}')
ANSWERS = 'steps: []\nlinger: 30\ndestinations:\n  "+15550100200": {hangup_after: 4}\n'


def test_connect_reports_its_states_and_the_leg_ended_by_default() -> None:
    result = run(_flow(CONNECT.replace("EVENTS", "")), ANSWERS)
    assert result.states() == ["calling.call.connect:connecting",
                               "calling.call.connect:connected",
                               "calling.call.state:ended",
                               "calling.call.connect:disconnected"]
    connecting, connected, ended, disconnected = result.bodies()
    assert connecting["params"] == {"call_id": result.call_id, "connect_state": "connecting"}
    peer = connected["params"]["peer"]
    assert peer["device"] == {"type": "phone", "params": {"to_number": "+15550100200",
                                                          "from_number": "+15550009999"}}
    assert disconnected["params"]["peer"] == peer
    assert ended["event_type"] == "calling.call.state"
    assert ended["params"] == {
        "call_id": peer["call_id"], "call_state": "ended", "direction": "outbound",
        "device": peer["device"], "parent": {"call_id": result.call_id,
                                             "device_type": "phone"}}
    assert peer["call_id"].startswith(f"{result.call_id}:")


def test_call_state_events_choose_which_leg_states_are_sent() -> None:
    every = run(_flow(CONNECT.replace(
        "EVENTS", ", call_state_events: [created, ringing, answered, ended]")), ANSWERS)
    legs = [s for s in every.states() if s.startswith("calling.call.state")]
    assert legs == ["calling.call.state:created", "calling.call.state:ringing",
                    "calling.call.state:answered", "calling.call.state:ended"]
    assert every.states().index("calling.call.state:answered") < \
        every.states().index("calling.call.connect:connected")
    some = run(_flow(CONNECT.replace("EVENTS", ", call_state_events: [ringing]")), ANSWERS)
    assert [s for s in some.states() if s.startswith("calling.call.state")] == \
        ["calling.call.state:ringing"]


def test_a_connect_that_fails_reports_failed_with_the_reason() -> None:
    result = run(_flow(CONNECT.replace("EVENTS", "")),
                 'steps: []\nlinger: 30\ndestinations:\n  "+15550100200": {outcome: busy}\n')
    assert result.states() == ["calling.call.connect:connecting",
                               "calling.call.state:ended",
                               "calling.call.connect:failed"]
    failed = result.bodies()[-1]
    assert failed["params"] == {"call_id": result.call_id, "connect_state": "failed",
                                "failed_reason": "busy"}


def test_a_sip_destination_is_described_as_a_sip_device() -> None:
    flow = _flow('connect: {to: "sip:desk@pbx.example.com", '
                 'status_url: "http://127.0.0.1:PORT/connect"}')
    result = run(flow, 'steps: []\nlinger: 30\ndestinations:\n'
                       '  "sip:desk@pbx.example.com": {hangup_after: 1}\n')
    connected = result.bodies()[1]
    assert connected["params"]["peer"]["device"] == {
        "type": "sip", "params": {"to": "sip:desk@pbx.example.com"}}


# ---------------------------------------------------------------- without an outbox


def test_a_call_without_an_outbox_traces_the_callback_as_skipped() -> None:
    flow = compile_text(_flow('play: {url: "say:Hi.", status_url: "https://hooks.example/p"}'),
                        "status.yaml")

    async def main() -> list[dict[str, Any]]:
        script = load_caller_script("steps: []\nlinger: 1\n")
        channel = SimulatedCaller(script)
        network = SimulatedNetwork.for_script(script)
        try:
            call = Call(flow, channel, network)
            await call.run()
        finally:
            await channel.close()
            await network.close()
        assert call.trace.of_kind("status_callback") == []
        return call.trace.of_kind("status_callback_skipped")

    skipped = run_virtual(main)
    assert [s["event"] for s in skipped] == ["calling.call.play:playing",
                                             "calling.call.play:finished"]
    assert skipped[0]["url"] == "https://hooks.example/p"


# ---------------------------------------------------------------- compile and lint


def test_status_urls_compile_into_the_verbs() -> None:
    flow = compile_text(_flow(
        'play: {url: "say:Hi.", status_url: "https://h.example/p"}',
        'connect: {to: "+15550100200", call_state_url: "https://h.example/s", '
        'call_state_events: [answered, ended]}',
        'record_call: {status_url: "https://h.example/r"}'), "status.yaml")
    play, connect, record = flow.main.body[1:4]
    assert isinstance(play, ir.Play) and play.status_url == "https://h.example/p"
    assert isinstance(connect, ir.Connect) and connect.status_url is None
    assert connect.call_state == ir.CallStateCallback("https://h.example/s",
                                                      ("answered", "ended"))
    assert isinstance(record, ir.Record) and record.status_url == "https://h.example/r"
    default = compile_text(_flow('connect: {to: "+1555", call_state_url: "https://h/s"}'),
                           "status.yaml").main.body[1]
    assert isinstance(default, ir.Connect) and default.call_state is not None
    assert default.call_state.events == ("ended",)


def test_lint_reports_a_status_url_that_is_not_http() -> None:
    doc = load_document(_flow('play: {url: "say:Hi.", status_url: "ftp://h.example/p"}',
                              'connect: {to: "+1555", call_state_url: "mailto:a@b"}'),
                        "status.yaml")
    found = {(d.code, d.path[-1]) for d in lint_source(doc) if d.code == "CK402"}
    assert found == {("CK402", "status_url"), ("CK402", "call_state_url")}
