"""`callkernel demo --phone`: the product, end to end, as a phone call.

Starts the REST server in-process on 127.0.0.1 (a port the OS picks) over a
temporary data directory, with the demo SWAIG webhook beside it, makes a
token with the calls, flows and read scopes, and publishes the example
flows over REST. Then a simulated phone company (the provider peer the
media-stream tests use) streams a call into `/v1/media/twilio`, as Twilio
would: 8 kHz μ-law, the token and the flow (`support`) as custom
parameters. The caller says the support caller script's lines in eSpeak's
voice, each when the script's cue says (after the agent has been quiet for
a moment; a barge-in that far into the agent's answer), and hangs up.

The call's trace is read back over REST and printed as the conversation;
the call's audio (caller left, agent right, as the peer sent and heard it)
and its timeline picture are written when asked. Last, how to try it on a
softphone: the server serves one at /phone.

The server's calls use the support flow's scripted model rules (the demo
needs no model server). Requests to loopback are allowed (the webhook
listens there).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import numpy as np
import soundfile
from ruamel.yaml import YAML

from interpreter.commands import demo
from interpreter.commands.conversation import Line, RecordLines, print_lines
from interpreter.commands.inputs import UnreadableInput
from interpreter.commands.run import EXIT_CALL_FAILED, EXIT_DOCUMENT, EXIT_OK, EXIT_USAGE
from interpreter.destinations import DestinationPolicy
from interpreter.errors import DocumentError
from interpreter.host import CallHost
from interpreter.media import frames
from interpreter.media.playout import Samples
from interpreter.media.ports import AudioFormat, Voice
from interpreter.providers.llm.scripted import load_rules
from interpreter.providers.tts import espeak
from interpreter.server import demo_webhook
from interpreter.server.app import build_app
from interpreter.server.auth import create_token
from interpreter.server.durable_outbox import StoreOutbox
from interpreter.server.events import CallEvents
from interpreter.server.metrics import CallMetrics
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Scope
from interpreter.timeline import build_timeline, draw_timeline
from interpreter.transports.audio_caller import script_lines
from interpreter.transports.caller_script import (
    CallerScript,
    Cue,
    Hangup,
    Say,
    Wait,
    load_caller_script,
)
from interpreter.transports.media_stream.dialects import DIALECTS
from interpreter.transports.media_stream.provider_peer import FRAME_S, PeerScript, ProviderPeer

HOST = "127.0.0.1"
DIALECT, FORMAT = "twilio", AudioFormat("mulaw", 8000)
FLOW_NAME = "support"
CALLER_VOICE = Voice("espeak", "en-us+m3")  # not the agent's voice
# The agent has finished its turn once it has been quiet this long (its
# sentences follow each other closer than that).
QUIET_S = 1.0
LONGEST_S = 60.0  # the call is hung up after this, whatever happens
SCOPES = frozenset({Scope.CALLS, Scope.FLOWS, Scope.READ})
# An ai flow needs a model on the server: a scripted one here (docs/ai.md),
# or --llm openai; without either its calls get an apology.
TRY_IT = """Try it yourself, on your microphone:
  callkernel token create me --scope read --scope flows --scope calls   # prints SECRET
  callkernel demo --webhook            # in a second terminal: the flow's tools
  callkernel serve --allow-loopback --model-rules flows/support.model.yaml   # in a third
  callkernel push flows/support.yaml --publish --server http://127.0.0.1:8080 --token SECRET
  then open http://127.0.0.1:8080/phone, paste SECRET, pick support and call
  (a real model instead of the scripted one: serve --llm openai, docs/llm-providers.md)"""


class PhoneCaller(ProviderPeer):
    """The provider peer with a caller on the line who follows a caller
    script: what it says is decided a frame at a time from what it hears.
    Keeps both directions frame by frame, for the recording."""

    def __init__(self, script: CallerScript, parameters: dict[str, str]) -> None:
        super().__init__(DIALECTS[DIALECT], FORMAT,
                         PeerScript(np.zeros(0, np.int16), parameters=parameters,
                                    longest=LONGEST_S))
        self.steps = [step for step in script.steps if isinstance(step, Say | Hangup | Wait)]
        self.said: list[tuple[float, str]] = []  # seconds from the stream's start, text
        self.caller_audio: list[Samples] = []
        self.agent_audio: list[Samples] = []
        self._size = frames.samples_per_frame(FORMAT.sample_rate)
        self._speaking: Samples = np.zeros(0, np.int16)
        self._heard = 0  # agent frames taken from `played`
        self._last_action = 0  # the chunk the caller's last action ended at
        self._agent_started: int | None = None  # since the last action
        self._agent_last = 0  # the last chunk the agent was heard in

    def caller_frame(self, n: int) -> Samples:
        new = self.played.audio[self._heard:]
        self._heard += len(new)
        self.agent_audio.extend(np.zeros(self._size, np.int16)
                                for _ in range(n - 1 - len(self.agent_audio)))
        self.agent_audio.extend(new)
        if new:
            self._agent_last = n
            if self._agent_started is None:
                self._agent_started = n
        if not len(self._speaking) and self.steps and self._due(self.steps[0], n):
            self._act(self.steps.pop(0), n)
        frame = np.zeros(self._size, np.int16)
        part = self._speaking[:self._size]
        frame[:len(part)] = part
        self._speaking = self._speaking[self._size:]
        if not len(self._speaking) and len(part):
            # The line has been said: the next cue counts from here, and the
            # agent's turn is what it says after it (not what a barge-in cut).
            self._last_action, self._agent_started = n, None
        self.caller_audio.append(frame)
        return frame

    def _due(self, step: Say | Hangup | Wait, n: int) -> bool:
        if isinstance(step, Wait):
            return n - self._last_action >= step.seconds / FRAME_S
        timing = step.timing
        heard = self._agent_started is not None
        if timing.cue is Cue.BARGE_IN:
            return heard and n - (self._agent_started or n) >= timing.seconds / FRAME_S
        if timing.cue is Cue.AFTER:
            return n - self._last_action >= timing.seconds / FRAME_S
        if timing.cue is Cue.AT:
            return n >= timing.seconds / FRAME_S
        return heard and n - self._agent_last >= QUIET_S / FRAME_S

    def _act(self, step: Say | Hangup | Wait, n: int) -> None:
        self._agent_started = None
        self._last_action = n
        if isinstance(step, Hangup):
            self.script.stop_at = n * FRAME_S  # the peer sends `stop` next chunk
        elif isinstance(step, Say):
            self.said.append((n * FRAME_S, step.text))
            self._speaking = espeak.speak(step.text, CALLER_VOICE, FORMAT.sample_rate).samples

    def record(self, path: str) -> Path:
        """Both directions as a stereo WAV: caller left, agent right."""
        sides = [np.concatenate(side) if side else np.zeros(0, np.int16)
                 for side in (self.caller_audio, self.agent_audio)]
        stereo = np.zeros((max(len(s) for s in sides), 2), np.int16)
        for channel, audio in enumerate(sides):
            stereo[:len(audio), channel] = audio
        target = Path(path)
        soundfile.write(str(target), stereo, FORMAT.sample_rate, subtype="PCM_16")
        return target


def example_flows() -> Iterator[tuple[str, bytes]]:
    """The example flows to publish: flows/NAME.yaml, not their callers,
    models or tests; the support flow first."""
    names = sorted({path.name for path in demo._CHECKOUT.glob("*.yaml")}
                   | {demo.FLOW}, key=lambda name: (name != demo.FLOW, name))
    for name in names:
        if name.count(".") == 1:
            yield name.removesuffix(".yaml"), demo.bundled(name)[1]


def with_hints(source: bytes, lines: list[str]) -> bytes:
    """The flow with `lines` added to its ai verbs' speech hints, as a
    deployment tunes its hints to what its callers say: the embedded
    recognizer hears what it was told to expect (docs/speech.md)."""
    yaml = YAML()
    document = yaml.load(source)
    for verbs in (document.get("sections") or {}).values():
        for verb in verbs:
            if isinstance(verb, dict) and isinstance(verb.get("ai"), dict):
                verb["ai"]["hints"] = [*(verb["ai"].get("hints") or []), *lines]
    buffer = io.BytesIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def conversation_lines(records: list[dict[str, Any]]) -> list[Line]:
    """The call as the other demos print it, from its trace alone: the
    caller's words as the recognizer wrote them down, the agent's as played."""
    timeline = build_timeline(records)
    lines: list[Line] = [(span.start, "caller", span.label) for span in timeline.caller]
    lines += [(span.start, "agent", span.label + ("  (cut off)" if span.style == "cut_off"
                                                   else "")) for span in timeline.agent]
    said = RecordLines()
    for record in records:
        text = said.text(record)
        if text:
            lines.append((float(record["t"]), "call", text))
    order = {"caller": 0, "call": 1, "agent": 2}
    return sorted(((round(t, 2), who, text) for t, who, text in lines),
                  key=lambda line: (line[0], order[line[1]]))


async def _ended(session: aiohttp.ClientSession, base: str, auth: dict[str, str]
                 ) -> dict[str, Any]:
    """The one call the server ran, once it has ended (its post-call work done)."""
    for _ in range(200):
        listed = await (await session.get(f"{base}/v1/calls", headers=auth)).json()
        calls = listed.get("calls") or []
        if calls and calls[0].get("state") == "ended":
            return dict(calls[0])
        await asyncio.sleep(0.05)
    raise RuntimeError("the server did not end the call")


async def _phone_call(port: int, out: TextIO, err: TextIO, record: str | None,
                      timeline: str | None) -> int:
    name, raw = demo.bundled(demo.MODEL)
    rules = load_rules(raw, name)
    caller_name, caller_raw = demo.bundled(demo.CALLER)
    script = load_caller_script(caller_raw, caller_name)
    webhook = demo_webhook.build_app()
    with tempfile.TemporaryDirectory(prefix="callkernel-demo-") as data_dir:
        store = await SqliteStore.open(Path(data_dir) / "callkernel.db")
        try:
            metrics, events, outbox = CallMetrics(), CallEvents(), StoreOutbox(store)
            policy = dataclasses.replace(DestinationPolicy.from_env(),
                                         allow_loopback=True)
            async with demo.listening(webhook, port, err) as served:
                if served is None:
                    return EXIT_USAGE
                async with CallHost(trace_sinks=metrics.trace_sinks(events.trace_sinks()),
                                    destinations=policy, outbox=outbox, warnings=err,
                                    llm={"scripted": rules}, default_llm="scripted") as host:
                    app = build_app(store, host=host, outbox=outbox, metrics=metrics,
                                    events=events)
                    _, secret = await create_token(store, "demo", SCOPES)
                    async with demo.listening(app, 0, err) as api:
                        if api is None:
                            return EXIT_USAGE
                        base = f"http://{HOST}:{api}"
                        print(f"server: {base}/ (data in a temporary directory), webhook "
                              f"http://{HOST}:{served}/swaig", file=out)
                        return await _converse(base, secret, served, script, out, err,
                                               record, timeline)
        finally:
            await store.close()


async def _converse(base: str, secret: str, served: int, script: CallerScript, out: TextIO,
                    err: TextIO, record: str | None, timeline: str | None) -> int:
    auth = {"Authorization": f"Bearer {secret}"}
    async with aiohttp.ClientSession() as session:
        published = []
        for name, raw in example_flows():
            source = raw.replace(demo.DEMO_ORIGIN.encode(), f"http://{HOST}:{served}/".encode())
            if name == FLOW_NAME:
                source = with_hints(source, script_lines(script))
            reply = await session.post(f"{base}/v1/flows/{name}", data=source, headers={
                **auth, "Content-Type": "application/yaml"})
            if reply.status != 201:
                print(f"callkernel demo: flows/{name}.yaml not published: "
                      f"{(await reply.json()).get('title')}", file=err)
                continue
            version = (await reply.json())["version"]
            await session.post(f"{base}/v1/flows/{name}/publish", json={"version": version},
                               headers=auth)
            published.append(name)
        if FLOW_NAME not in published:
            return EXIT_DOCUMENT
        print(f"published: {', '.join(published)} (support with its caller's lines "
              "as speech hints, as a deployment tunes them)", file=out)
        print(f"calling {base.replace('http', 'ws')}/v1/media/{DIALECT} as Twilio would "
              f"(flow {FLOW_NAME}; the caller speaks with eSpeak)\n", file=out)
        caller = PhoneCaller(script, {"callkernel_token": secret,
                                      "callkernel_flow": FLOW_NAME})
        played = await caller.run(f"{base.replace('http', 'ws')}/v1/media/{DIALECT}")
        call = await _ended(session, base, auth)
        trace = await (await session.get(f"{base}/v1/calls/{call['call_id']}/trace", headers={
            **auth, "Accept": "application/json"})).json()
    print_lines(conversation_lines(trace), out)
    for problem in played.problems:
        print(f"callkernel demo: the provider saw: {problem}", file=err)
    print(f"\ncall {call['call_id']}: {call.get('disposition')}", file=out)
    if record is not None:
        print(f"recording: {caller.record(record)} (stereo: caller left, agent right)",
              file=out)
    if timeline is not None:
        try:
            drawn = draw_timeline(build_timeline(trace, flow=f"{FLOW_NAME} (phone)"), timeline)
        except OSError as error:
            print(f"callkernel demo: cannot write the timeline to {timeline}: "
                  f"{error.strerror or error}", file=err)
            return EXIT_USAGE
        print(f"timeline: {drawn}", file=out)
    print(f"\n{TRY_IT}", file=out)
    failed = any(r.get("kind") == "error" and r.get("fatal") for r in trace)
    return EXIT_CALL_FAILED if failed else EXIT_OK


def run(out: TextIO | None = None, err: TextIO | None = None, *, port: int = demo.PORT,
        record: str | None = None, timeline: str | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        return asyncio.run(_phone_call(port, out, err, record, timeline))
    except (UnreadableInput, DocumentError) as error:
        return demo.refused_input(error, err)


__all__ = ["TRY_IT", "PhoneCaller", "conversation_lines", "example_flows", "run"]
