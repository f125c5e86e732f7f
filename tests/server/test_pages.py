"""The softphone and console pages (server/pages.py, server/static/): served
with their types and no caching, holding the elements their scripts use;
the scripts parse and their pure parts work (under node, where it is
installed); and the media-stream messages the softphone speaks start a call
on the flow it picked, found again the way the page finds it."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from interpreter.server import pages
from interpreter.server.app import build_app
from interpreter.server.problems import problems_middleware
from interpreter.server.sqlite_store import SqliteStore
from tests.server.rest import ended, publish
from tests.transports.media_stream.test_stream_calls import PROMPT_FLOW

Client = TestClient[web.Request, web.Application]
STATIC = pages.STATIC
SCRIPTS = ("phone.js", "console.js", "records.js", "session.js", "audio-worklet.js")
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")

OTHER_FLOW = b"sections:\n  main:\n    - answer: {}\n    - hangup: {}\n"
# The routing table would send the call elsewhere: the page names its flow.
ROUTES = b"default: other\n"


# ------------------------------------------------------------ serving

async def _pages_only(aiohttp_client: Any) -> Client:
    app = web.Application(middlewares=[problems_middleware])  # as build_app's
    app.add_routes(pages.routes)
    client: Client = await aiohttp_client(app)
    return client


@pytest.mark.parametrize(("path", "content_type"), [
    ("/phone", "text/html"), ("/console", "text/html"),
    ("/static/phone.js", "text/javascript"), ("/static/console.js", "text/javascript"),
    ("/static/audio-worklet.js", "text/javascript"), ("/static/callkernel.css", "text/css"),
])
async def test_each_page_file_is_served_with_its_type_and_never_cached(
        aiohttp_client: Any, path: str, content_type: str) -> None:
    client = await _pages_only(aiohttp_client)
    response = await client.get(path)
    assert response.status == 200
    assert (response.content_type, response.charset) == (content_type, "utf-8")
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    name = "phone.html" if path == "/phone" else "console.html" if path == "/console" \
        else path.removeprefix("/static/")
    assert await response.read() == (STATIC / name).read_bytes()


@pytest.mark.parametrize("path", ["/static/pages.py", "/static/nothing.js",
                                  "/static/..%2Fpages.py", "/static/.hidden.js",
                                  "/static/PHONE.JS"])
async def test_nothing_but_the_page_files_is_served(aiohttp_client: Any, path: str) -> None:
    client = await _pages_only(aiohttp_client)
    response = await client.get(path)
    assert response.status == 404


async def test_the_pages_need_no_token_on_the_server_app(
        store: SqliteStore, aiohttp_client: Any) -> None:
    app = build_app(store)
    if not any(getattr(r.resource, "canonical", None) == "/phone" for r in app.router.routes()):
        pytest.skip("build_app does not mount server/pages.py yet (docs/softphone.md)")
    client: Client = await aiohttp_client(app)
    for path in ("/phone", "/console", "/static/phone.js"):
        assert (await client.get(path)).status == 200, path
    assert (await client.get("/v1/flows")).status == 401  # the API itself still needs one


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.sources: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        for key in ("src", "href"):
            if (found.get(key) or "").startswith("/static/"):
                self.sources.add(str(found[key]).removeprefix("/static/"))


@pytest.mark.parametrize(("page", "script"), [("phone.html", "phone.js"),
                                              ("console.html", "console.js")])
def test_each_page_holds_every_element_its_script_looks_up(page: str, script: str) -> None:
    parsed = _Ids()
    parsed.feed((STATIC / page).read_text(encoding="utf-8"))
    # The page's script, and the token form both pages run (session.js).
    used = {found for name in (script, "session.js") for found in
            re.findall(r'\$\("([\w-]+)"\)', (STATIC / name).read_text(encoding="utf-8"))}
    assert len(used) > 5
    assert used <= parsed.ids, used - parsed.ids
    assert {script, "callkernel.css"} <= parsed.sources
    assert all((STATIC / name).is_file() for name in parsed.sources)


def test_the_static_folder_is_inside_the_package_the_wheel_ships() -> None:
    # pyproject: [tool.hatch.build.targets.wheel] packages = ["interpreter"]
    repo = Path(__file__).resolve().parents[2]
    assert 'packages = ["interpreter"]' in (repo / "pyproject.toml").read_text(encoding="utf-8")
    assert STATIC.is_relative_to(repo / "interpreter")
    assert {p.name for p in STATIC.iterdir()} >= {"phone.html", "console.html", *SCRIPTS}


# ------------------------------------------------------------ the scripts, under node

def _node(tmp_path: Path, script: str) -> Any:
    """What a module script prints (JSON), the page scripts importable as
    ./<name>.js (ES modules, as the browser loads them)."""
    assert NODE is not None
    (tmp_path / "package.json").write_text('{"type": "module"}')
    for name in SCRIPTS:
        shutil.copy(STATIC / name, tmp_path / name)
    run = subprocess.run([NODE, "--input-type=module", "-e", script], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@needs_node
@pytest.mark.parametrize("name", SCRIPTS)
def test_each_script_parses_as_a_module(tmp_path: Path, name: str) -> None:
    assert NODE is not None
    copy = tmp_path / name.replace(".js", ".mjs")
    shutil.copy(STATIC / name, copy)
    checked = subprocess.run([NODE, "--check", str(copy)], capture_output=True, text=True,
                             timeout=60, check=False)
    assert checked.returncode == 0, checked.stderr


@needs_node
def test_the_worklet_makes_16khz_frames_and_filters_what_would_alias(tmp_path: Path) -> None:
    # One second of a tone at 48 and 44.1 kHz, in the 128-sample blocks a
    # worklet gets: frames of 320 samples; 1 kHz passes at full level, 10 kHz
    # (which would fold to 6 kHz) is gone.
    levels = _node(tmp_path, """
        import {Downsampler, Framer} from "./audio-worklet.js";
        const out = {};
        for (const rate of [48000, 44100]) for (const hz of [1000, 10000]) {
          const down = new Downsampler(rate), framer = new Framer(), frames = [];
          for (let at = 0; at < rate; at += 128) {
            const block = Float32Array.from({length: 128},
              (_, i) => 0.5 * Math.sin(2 * Math.PI * hz * (at + i) / rate));
            frames.push(...framer.push(down.push(block)));
          }
          const samples = frames.slice(5).flatMap((f) => Array.from(new Int16Array(f)));
          const rms = Math.sqrt(samples.reduce((s, v) => s + v * v, 0) / samples.length) / 32768;
          out[`${rate}/${hz}`] = {frames: frames.length, bytes: frames[0].byteLength, rms};
        }
        console.log(JSON.stringify(out));
    """)
    for key, level in levels.items():
        assert level["frames"] in (49, 50) and level["bytes"] == 640, key
    for rate in (48000, 44100):
        assert abs(levels[f"{rate}/1000"]["rms"] - 0.5 / 2 ** 0.5) < 0.01
        assert levels[f"{rate}/10000"]["rms"] < 0.001  # under -50 dB


@needs_node
def test_the_page_answers_marks_after_their_audio_and_all_at_once_on_clear(
        tmp_path: Path) -> None:
    got = _node(tmp_path, """
        import {MarkQueue} from "./phone.js";
        const marks = new MarkQueue();
        marks.add("w1", 1.0); marks.add("w2", 2.0); marks.add("w3", 3.0);
        console.log(JSON.stringify([marks.due(0.5), marks.due(1.5), marks.clear(), marks.due(9)]));
    """)
    assert got == [[], ["w1"], ["w2", "w3"], []]


@needs_node
def test_the_page_shows_transcript_tools_steps_and_barge_ins(tmp_path: Path) -> None:
    records = [
        {"kind": "event", "event": "TranscriptReceived", "text": "hello", "final": True},
        {"kind": "event", "event": "TranscriptReceived", "text": "hel", "final": False},
        {"kind": "say", "text": "Hi there."},
        {"kind": "ai_started", "context": "default", "step": "greet"},
        {"kind": "step_change", "old": "greet", "new": "book", "trigger": "next_step"},
        {"kind": "effect_started", "effect": "tool", "function": "check",
         "arguments": {"day": "mon"}},
        {"kind": "tool_returned", "function": "check", "response": "open", "actions": []},
        {"kind": "barge_in", "heard": "We have", "by": "PlayoutStopped", "cause": "speech"},
        {"kind": "flow_chosen", "flow": "desk", "version": 3, "by": "to", "bound": False},
    ]
    views = _node(tmp_path, f"""
        import {{describeRecord}} from "./records.js";
        console.log(JSON.stringify({json.dumps(records)}.map(describeRecord)));
    """)
    assert views[0] == {"lane": "transcript", "who": "caller", "text": "hello"}
    assert views[1] is None
    assert views[2] == {"lane": "transcript", "who": "agent", "text": "Hi there."}
    assert (views[3]["context"], views[3]["step"], views[4]["step"]) == \
        ("default", "greet", "book")
    assert views[5] == {"lane": "tools", "text": '→ check({"day":"mon"})'}
    assert views[6]["text"] == "← check: open"
    assert views[7] == {"lane": "events",
                        "text": "barge-in (the caller spoke): the caller heard “We have”"}
    assert views[8]["text"] == "flow desk v3 (routed by the number called)"


# ------------------------------------------------------------ the protocol, end to end

def start_message(stream_sid: str, call_sid: str, flow: str, token: str) -> dict[str, Any]:
    """The `start` phone.js sends (checked against it under node below)."""
    return {"event": "start", "sequenceNumber": "1", "streamSid": stream_sid,
            "start": {"streamSid": stream_sid, "callSid": call_sid, "tracks": ["inbound"],
                      "customParameters": {"callkernel_flow": flow, "from": "softphone",
                                           "callkernel_token": token},
                      "mediaFormat": {"encoding": "audio/x-L16", "sampleRate": 16000,
                                      "channels": 1}}}


def media_message(stream_sid: str, sequence: int, chunk: int, payload: bytes) -> dict[str, Any]:
    return {"event": "media", "sequenceNumber": str(sequence), "streamSid": stream_sid,
            "media": {"track": "inbound", "chunk": str(chunk),
                      "timestamp": str((chunk - 1) * 20),
                      "payload": base64.b64encode(payload).decode()}}


def mark_message(stream_sid: str, sequence: int, name: str) -> dict[str, Any]:
    return {"event": "mark", "sequenceNumber": str(sequence), "streamSid": stream_sid,
            "mark": {"name": name}}


def stop_message(stream_sid: str, call_sid: str, sequence: int) -> dict[str, Any]:
    return {"event": "stop", "sequenceNumber": str(sequence), "streamSid": stream_sid,
            "stop": {"callSid": call_sid}}


@needs_node
def test_the_messages_here_are_the_ones_phone_js_sends(tmp_path: Path) -> None:
    sent = _node(tmp_path, """
        import * as p from "./phone.js";
        console.log(JSON.stringify([
          p.connectedMessage(),
          p.startMessage({streamSid: "MZ1", callSid: "CA1", flow: "ivr", token: "ck_x"}),
          p.mediaMessage({streamSid: "MZ1", sequence: 3, chunk: 2,
                          payload: p.bytesToBase64(new Uint8Array([1, 2, 255]).buffer)}),
          p.markMessage({streamSid: "MZ1", sequence: 4, name: "w1"}),
          p.stopMessage({streamSid: "MZ1", callSid: "CA1", sequence: 5}),
          Array.from(p.base64ToSamples("AIABAP9/"), (s) => Math.round(s * 32768)),
        ]));
    """)
    assert sent[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert sent[1] == start_message("MZ1", "CA1", "ivr", "ck_x")
    assert sent[2] == media_message("MZ1", 3, 2, bytes([1, 2, 255]))
    assert sent[3] == mark_message("MZ1", 4, "w1")
    assert sent[4] == stop_message("MZ1", "CA1", 5)
    assert sent[5] == [-32768, 1, 32767]  # little-endian PCM16


async def test_the_softphone_protocol_starts_a_call_on_the_chosen_flow(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str]) -> None:
    client: Client = await aiohttp_client(build_app(store))
    await publish(client, auth, "ivr", PROMPT_FLOW.encode())
    await publish(client, auth, "other", OTHER_FLOW)
    routed = await client.put("/v1/routes", data=ROUTES,
                              headers={**auth, "Content-Type": "application/yaml"})
    assert routed.status == 200, await routed.text()
    secret = auth["Authorization"].removeprefix("Bearer ")
    url = str(client.make_url("/v1/media/callkernel")).replace("http://", "ws://")
    stream_sid, call_sid = "MZ" + "a1" * 16, "CA" + "b2" * 16
    silence = bytes(640)  # 20 ms of 16 kHz PCM16
    agent_bytes, acked, named = 0, [], []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await ws.send_json(start_message(stream_sid, call_sid, "ivr", secret))
        sequence, chunk = 1, 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not acked and loop.time() < deadline:
            chunk += 1
            sequence += 1
            await ws.send_json(media_message(stream_sid, sequence, chunk, silence))
            try:
                message = await ws.receive_json(timeout=0.02)
            except TimeoutError:
                continue
            if message["event"] == "call":  # first, before any audio
                assert agent_bytes == 0 and message["streamSid"] == stream_sid
                named.append(message["call"]["callId"])
            elif message["event"] == "media":
                payload = base64.b64decode(message["media"]["payload"])
                assert len(payload) == 640 and message["streamSid"] == stream_sid
                agent_bytes += len(payload)
            elif message["event"] == "mark":  # played at once: nothing queued here
                sequence += 1
                await ws.send_json(mark_message(stream_sid, sequence, message["mark"]["name"]))
                acked.append(message["mark"]["name"])
        assert acked and agent_bytes > 0, "the agent never spoke"
        [call_id] = named
        sequence += 1
        await ws.send_json(stop_message(stream_sid, call_sid, sequence))
    done = await ended(client, auth, call_id)
    assert (done["flow"], done["version"], done["media"]) == ("ivr", 1, "audio")
    assert done["disposition"] == "caller_hangup"
    trace = await (await client.get(f"/v1/calls/{call_id}/trace",
                                    headers={**auth, "Accept": "application/json"})).json()
    chosen = next(r for r in trace if r["kind"] == "flow_chosen")
    assert (chosen["flow"], chosen["by"]) == ("ivr", "named")
    assert secret not in json.dumps(trace)
