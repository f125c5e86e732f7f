"""Calls over a real media-stream socket on 127.0.0.1, in real time: a
loopback provider per dialect streams eSpeak speech and plays what the
agent says; the call is recognized, barge-in clears the provider and keeps
only the acknowledged words, lost and reordered frames are concealed, and a
dropped socket or a silent stream ends the call as a transport error with a
complete trace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from interpreter import ir
from interpreter.host import CallHost
from interpreter.jsontypes import JSONValue
from interpreter.media.playout import Samples
from interpreter.media.ports import AudioFormat, Telephony, Voice
from interpreter.providers.llm.scripted import load_rules
from interpreter.providers.tts import espeak
from interpreter.runtime.call import Call
from interpreter.runtime.outbox import MemoryOutbox
from interpreter.transports.media_stream.channel import MediaStreamChannel
from interpreter.transports.media_stream.dialects import DIALECTS
from interpreter.transports.media_stream.provider_peer import PeerScript, Played, ProviderPeer
from interpreter.transports.media_stream.server import MakeChannel, add_routes, host_start

CALLER_VOICE = Voice("espeak", "en-us+m3")
PROMPT_FLOW = """
sections:
  main:
    - answer: {}
    - prompt:
        play: "say:Say yes or no."
        speech_hints: ["yes", "no"]
        initial_timeout: 6
        max_digits: 1
    - play:
        url: "say:You said %{prompt_value}."
    - hangup: {}
"""
REPLY = ("We have tables at six, seven and eight tonight, and the terrace opens at nine "
         "if you would rather sit outside, so which of those would suit you best")
AI_FLOW = """
sections:
  main:
    - answer: {}
    - ai:
        prompt: {text: "You book tables."}
        params: {end_of_speech_timeout: 500}
        hints: ["stop please", "thank you"]
        post_prompt: {text: "Summarize the call as JSON."}
"""
SUMMARY = '{"booked": false}'
AI_RULES = f"""
rules:
  - when: {{summary: true}}
    reply: '{SUMMARY}'
  - when: {{start: true}}
    reply: "{REPLY}"
  - when: {{said: "stop"}}
    reply: "Sure."
  - reply: "Sorry?"
"""
FORMATS = {"twilio": AudioFormat("mulaw", 8000), "signalwire": AudioFormat("pcm16", 16000),
           "telnyx": AudioFormat("pcm16be", 16000), "callkernel": AudioFormat("pcm16", 16000)}


def _speech(text: str, rate: int, at: float, after: float = 0.0) -> Samples:
    voice = espeak.speak(text, CALLER_VOICE, rate).samples
    return np.concatenate([np.zeros(int(at * rate), np.int16), voice,
                           np.zeros(int(after * rate), np.int16)])


@dataclass
class Stack:
    host: CallHost
    server: TestServer
    calls: list[Call]
    routed: list[tuple[dict[str, str], dict[str, JSONValue]]]
    outbox: MemoryOutbox

    def url(self, dialect: str) -> str:
        return str(self.server.make_url(f"/v1/media/{dialect}"))

    async def finished(self, played: Played) -> tuple[Call, list[dict[str, Any]]]:
        assert len(self.calls) == 1
        call = await self.host.wait(self.calls[0])
        assert self.host.trace_dir is not None
        trace = [json.loads(line) for line in
                 (self.host.trace_dir / f"{call.call_id}.jsonl").read_text().splitlines()]
        assert not played.problems
        return call, trace


async def _stack(tmp_path: Path, flow_text: str, *, frame_gap: float = 5.0,
                 token: str | None = None, max_waiting_starts: int = 256
                 ) -> AsyncIterator[Stack]:
    outbox = MemoryOutbox()
    async with CallHost(trace_dir=tmp_path, llm={"scripted": load_rules(AI_RULES)},
                        outbox=outbox) as host:
        flow = host.compile(flow_text.encode(), "stream.yaml")
        calls: list[Call] = []
        routed: list[tuple[dict[str, str], dict[str, JSONValue]]] = []

        async def choose(parameters: Mapping[str, str],
                         details: Mapping[str, JSONValue]) -> ir.CompiledFlow:
            routed.append((dict(parameters), dict(details)))
            return flow

        async def authorize(offered: str) -> bool:
            return offered == token

        plain = host_start(host, choose)

        async def start(parameters: Mapping[str, str], details: dict[str, JSONValue],
                        make_channel: MakeChannel, telephony: Telephony) -> Call:
            call = await plain(parameters, details, make_channel, telephony)
            calls.append(call)
            return call

        app = web.Application()
        add_routes(app, lambda _: host, start, frame_gap=frame_gap,
                   authorize=authorize if token is not None else None,
                   max_waiting_starts=max_waiting_starts)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        stack = Stack(host, server, calls, routed, outbox)
        try:
            yield stack
        finally:
            await server.close()
    await outbox.close()


@pytest.fixture
async def prompt_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async for stack in _stack(tmp_path, PROMPT_FLOW):
        yield stack


@pytest.fixture
async def ai_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async for stack in _stack(tmp_path, AI_FLOW):
        yield stack


def _kinds(trace: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [record for record in trace if record.get("kind") == kind]


def _audible(played: Played) -> int:
    return sum(1 for frame in played.audio if np.abs(frame.astype(np.int32)).max() > 300)


@pytest.mark.parametrize("dialect", list(DIALECTS))
async def test_a_call_over_each_dialect_hears_the_caller_and_speaks(
        prompt_stack: Stack, dialect: str) -> None:
    fmt = FORMATS[dialect]
    script = PeerScript(_speech("yes", fmt.sample_rate, at=2.2), parameters={"flow": "ivr"})
    if dialect == "telnyx":  # frames out of order, and some never sent
        script.swap_pairs = True
        script.lose = frozenset({20, 21, 130, 131, 150})
    peer = ProviderPeer(DIALECTS[dialect], fmt, script)
    played = await peer.run(prompt_stack.url(dialect))
    call, trace = await prompt_stack.finished(played)
    assert call.vars.get("prompt_value") == "yes"
    assert call.vars.get("prompt_result") == "match_speech"
    # The agent's speech reached the provider: the prompt and the answer.
    assert _audible(played) > 50
    assert played.marks_acked and played.closed_by_server
    ended = _kinds(trace, "call_ended")
    assert ended and ended[-1]["disposition"].startswith("hangup")
    parameters, details = prompt_stack.routed[0]
    assert parameters == {"flow": "ivr"}
    assert details["provider"] == dialect and details["stream_id"] == "MZ0001"
    assert details["provider_call_id"] == "CA0001"
    assert call.call_info["provider_call_id"] == "CA0001"


async def test_lost_and_reordered_telnyx_frames_and_its_errors_are_handled(
        prompt_stack: Stack) -> None:
    fmt = FORMATS["telnyx"]
    script = PeerScript(_speech("no", fmt.sample_rate, at=2.2), swap_pairs=True,
                        lose=frozenset({60, 61, 62, 140}),
                        errors=((1.0, "100003", "malformed frame"),))
    peer = ProviderPeer(DIALECTS["telnyx"], fmt, script)
    played = await peer.run(prompt_stack.url("telnyx"))
    call, trace = await prompt_stack.finished(played)
    # Telnyx's error event is in the trace; the stream went on.
    [noted] = [r for r in _kinds(trace, "event") if r["event"] == "SpeechNoted"
               and "provider" in r["note"]]
    assert noted["note"] == ("the provider reported an error on the media stream: "
                             "100003: malformed frame")
    channel = call.channel
    assert isinstance(channel, MediaStreamChannel)
    stats = channel.jitter.stats
    assert stats.lost >= 4  # the four never sent
    assert stats.late == 0 and stats.malformed == 0  # swapped pairs came back in order
    assert call.vars.get("prompt_value") == "no"


async def test_a_digit_event_answers_the_prompt(prompt_stack: Stack) -> None:
    fmt = FORMATS["twilio"]
    script = PeerScript(np.zeros(0, np.int16), digits=((1.8, "7"),))
    played = await ProviderPeer(DIALECTS["twilio"], fmt, script).run(
        prompt_stack.url("twilio"))
    call, _ = await prompt_stack.finished(played)
    assert (call.vars.get("prompt_result"), call.vars.get("prompt_value")) == \
        ("match_digits", "7")


async def test_barge_in_clears_the_provider_and_keeps_only_acknowledged_words(
        ai_stack: Stack) -> None:
    fmt = FORMATS["twilio"]
    script = PeerScript(_speech("stop please", fmt.sample_rate, at=3.0), stop_at=7.0)
    played = await ProviderPeer(DIALECTS["twilio"], fmt, script).run(ai_stack.url("twilio"))
    call, trace = await ai_stack.finished(played)
    assert played.clears >= 1
    barge = _kinds(trace, "barge_in")
    assert barge, "the caller's speech did not interrupt the agent"
    heard = barge[0]["heard"]
    assert heard and REPLY.startswith(heard) and heard != REPLY
    # The words kept are those of a mark the provider acknowledged before the
    # clear reached it (the last one, or the one before if its acknowledgement
    # was still on the wire when the server cleared).
    acked = played.acked_before_clear[0]
    counts = [int(name.split("-")[1]) for name in acked[-2:]]
    assert len(heard.split()) in counts
    # Marks that came back because of the clear were not counted as heard.
    channel = call.channel
    assert isinstance(channel, MediaStreamChannel)
    assert channel.marks.stats.dropped == len(played.marks_cleared)
    assert _kinds(trace, "call_ended")


async def test_a_socket_dropped_mid_call_is_a_transport_error_with_a_full_trace(
        ai_stack: Stack) -> None:
    fmt = FORMATS["twilio"]
    script = PeerScript(np.zeros(0, np.int16), drop_at=1.5)
    played = await ProviderPeer(DIALECTS["twilio"], fmt, script).run(ai_stack.url("twilio"))
    call, trace = await ai_stack.finished(played)
    ended = _kinds(trace, "call_ended")
    assert ended and ended[-1]["disposition"] == "transport_lost"
    assert any("socket closed without a stop" in json.dumps(record)
               for record in _kinds(trace, "error"))
    assert trace[0]["kind"] and trace[-1]["kind"]  # written to the end
    channel = call.channel
    assert isinstance(channel, MediaStreamChannel)
    assert channel.end_reason is not None and "without a stop" in channel.end_reason
    await ai_stack.outbox.drain()  # and the summary was written and kept
    [summary] = [r for r in ai_stack.outbox.results if r.call_id == call.call_id]
    assert (summary.state, summary.summary) == ("kept", SUMMARY)


async def test_a_stop_is_the_caller_hanging_up(ai_stack: Stack) -> None:
    fmt = FORMATS["signalwire"]
    played = await ProviderPeer(DIALECTS["signalwire"], fmt, PeerScript(
        np.zeros(0, np.int16), stop_at=1.0)).run(ai_stack.url("signalwire"))
    _, trace = await ai_stack.finished(played)
    assert _kinds(trace, "call_ended")[-1]["disposition"] == "caller_hangup"


async def test_a_stream_gone_quiet_ends_the_call_after_the_frame_gap(tmp_path: Path) -> None:
    async for stack in _stack(tmp_path, AI_FLOW, frame_gap=0.6):
        fmt = FORMATS["telnyx"]
        played = await ProviderPeer(DIALECTS["telnyx"], fmt, PeerScript(
            np.zeros(0, np.int16), quiet_at=0.5)).run(stack.url("telnyx"))
        _, trace = await stack.finished(played)
        assert _kinds(trace, "call_ended")[-1]["disposition"] == "transport_lost"
        assert any("no audio for 0.6 s" in json.dumps(record)
                   for record in _kinds(trace, "error"))
        assert played.closed_by_server


async def test_a_token_is_required_when_one_is_set(tmp_path: Path) -> None:
    async for stack in _stack(tmp_path, AI_FLOW, token="s3cret"):
        fmt = FORMATS["twilio"]
        refused = await ProviderPeer(DIALECTS["twilio"], fmt, PeerScript(
            np.zeros(0, np.int16), longest=5)).run(stack.url("twilio"))
        assert refused.closed_by_server and not stack.calls
        admitted = await ProviderPeer(DIALECTS["twilio"], fmt, PeerScript(
            np.zeros(0, np.int16), parameters={"callkernel_token": "s3cret"},
            stop_at=0.5)).run(stack.url("twilio"))
        await stack.finished(admitted)
        assert stack.routed[0][0] == {}  # the token is not passed on to routing


async def test_sockets_waiting_for_their_start_are_bounded(tmp_path: Path) -> None:
    async for stack in _stack(tmp_path, PROMPT_FLOW, max_waiting_starts=2):
        url = stack.url("twilio").replace("http://", "ws://")
        async with aiohttp.ClientSession() as session:
            idle = [await session.ws_connect(url) for _ in range(2)]
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url)
            assert refused.value.status == 503
            await idle[0].close()  # one leaves: room for another
            for _ in range(100):
                try:
                    idle.append(await session.ws_connect(url))
                    break
                except aiohttp.WSServerHandshakeError:
                    await asyncio.sleep(0.02)
            assert len(idle) == 3
            for socket in idle[1:]:
                await socket.close()
        assert stack.calls == []
