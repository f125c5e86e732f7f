"""Acceptance: a phone call to an SDK agent. The application built with the
signalwire-agents SDK runs for real on loopback; `callkernel serve`'s app
has the flow `support` bound to the application's URL (as the hosted
platform fetches an agent's document); a provider streams a call into the
media socket with a caller speaking (eSpeak), and the agent's tool, served
by the SDK application, answers what the caller asked."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from interpreter.host import CallHost
from interpreter.media.ports import AudioFormat, Voice
from interpreter.providers.llm.scripted import load_rules
from interpreter.providers.tts import espeak
from interpreter.server.app import build_app
from interpreter.server.auth import create_token
from interpreter.server.durable_outbox import StoreOutbox
from interpreter.server.events import CallEvents
from interpreter.server.metrics import CallMetrics
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Scope
from interpreter.transports.media_stream.dialects import DIALECTS
from interpreter.transports.media_stream.provider_peer import PeerScript, ProviderPeer
from tests.acceptance.sdk_app import PASSWORD, USER, running

SAID = "Hi, can you check my order A123?"
# The server's model (no model server here): the tool with the order the
# recognizer wrote down ("order a 123"), then the tool's answer said.
MODEL = """\
rules:
  - when: {start: true}
    reply: "Hello, this is support. How can I help?"
  - when: {said: "order (?P<order_id>[A-Za-z] ?\\\\d{3})"}
    call: {function: check_order, arguments: {order_id: "{order_id}"}}
  - when: {after_tool: check_order}
    reply: "{tool}."
  - reply: "Sorry, which order?"
"""
FORMAT = AudioFormat("pcm16", 16000)  # the callkernel dialect: what the softphone sends


async def test_a_phone_call_reaches_an_sdk_agent_bound_to_a_flow(
        aiohttp_client: Any, tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "callkernel.db")
    outbox, events, metrics = StoreOutbox(store), CallEvents(), CallMetrics()
    try:
        with running(hints=["check my order", "order A123"]) as port:
            async with CallHost(trace_sinks=metrics.trace_sinks(events.trace_sinks()),
                                outbox=outbox, llm={"rules": load_rules(MODEL)},
                                default_llm="rules") as host:
                client = await aiohttp_client(build_app(store, host=host, outbox=outbox,
                                                        metrics=metrics, events=events))
                _, secret = await create_token(store, "phone", {Scope.CALLS, Scope.FLOWS,
                                                                Scope.READ})
                auth = {"Authorization": f"Bearer {secret}"}
                bound = await client.put("/v1/flows/support/binding", headers=auth, json={
                    "url": f"http://{USER}:{PASSWORD}@127.0.0.1:{port}/support/"})
                assert bound.status in (200, 201), await bound.text()
                played = await _call(str(client.make_url("/v1/media/callkernel")), secret)
                trace = await _ended_trace(client, auth)
    finally:
        await store.close()
    assert played.named_call is not None and played.marks_acked
    chosen = next(r for r in trace if r["kind"] == "flow_chosen")
    assert (chosen["flow"], chosen["bound"], chosen["by"]) == ("support", True, "named")
    [returned] = [r for r in trace if r["kind"] == "tool_returned"]
    assert returned["function"] == "check_order"
    said = " ".join(r["text"] for r in trace if r["kind"] == "say")
    assert "shipped, ETA April 2nd" in said, said
    assert PASSWORD not in str(trace)


async def _call(url: str, secret: str) -> Any:
    voice = espeak.speak(SAID, Voice("espeak", "en-us+m3"), FORMAT.sample_rate).samples
    speech = _after(voice, seconds=3.5)
    script = PeerScript(speech, stop_at=12.0, longest=20.0, parameters={
        "callkernel_token": secret, "callkernel_flow": "support"})
    return await ProviderPeer(DIALECTS["callkernel"], FORMAT, script).run(
        url.replace("http://", "ws://"))


def _after(samples: Any, seconds: float) -> Any:
    import numpy as np

    return np.concatenate([np.zeros(int(seconds * FORMAT.sample_rate), np.int16), samples])


async def _ended_trace(client: Any, auth: dict[str, str]) -> list[dict[str, Any]]:
    for _ in range(200):
        [call] = (await (await client.get("/v1/calls", headers=auth)).json())["calls"]
        if call["state"] == "ended":
            break
        await asyncio.sleep(0.05)
    response = await client.get(f"/v1/calls/{call['call_id']}/trace",
                                headers={**auth, "Accept": "application/json"})
    trace: list[dict[str, Any]] = await response.json()
    return trace
