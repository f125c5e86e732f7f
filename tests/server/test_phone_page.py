"""The softphone (/phone) in real headless Chromium: a person, speaking into
a fake microphone fed from a WAV of eSpeak speech, calls order_desk.yaml
from the page; the agent answers audibly (what the page played is captured
and transcribed), and the transcript, the context and step, and the tool
call appear on the page as they happen. Interrupted, the agent stops and
the call keeps only the words the page played."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from playwright.async_api import Page, expect

from interpreter.document.compile import compile_text
from interpreter.media.ports import Voice
from interpreter.providers.llm.scripted import load_rules
from interpreter.providers.tts import espeak
from interpreter.server.sqlite_store import SqliteStore
from interpreter.transports.hearing_check import agent_recognizer, transcribe, word_errors
from tests.server.chromium import PLAYED_RATE, chromium, open_page, played, screenshot
from tests.server.page_server import FLOW, MODEL, Served, page_server
from tests.server.rest import ended

CALLER_VOICE = Voice("espeak", "en-us+m3")
SAID = "I want to check my order."
# The agent's greeting and its answer, as the scripted model says them.
GREETING = "Hello. What can I do for you?"
ANSWER = "Order A123 shipped yesterday. Anything else?"
WAIT_MS = 30_000  # for anything the call does, in wall time


def _microphone(path: Path, said: str = SAID, at: float = 4.5) -> Path:
    """What the person says: nothing for `at` seconds (while the agent greets
    them), `said`, then silence (Chromium plays the file once)."""
    rate = 16000
    voice = espeak.speak(said, CALLER_VOICE, rate).samples
    audio = np.concatenate([np.zeros(int(at * rate), np.int16), voice,
                            np.zeros(30 * rate, np.int16)])
    soundfile.write(str(path), audio, rate, subtype="PCM_16")
    return path


async def _call(page: Page, served: Served) -> None:
    await page.fill("#token", served.secret)
    await page.click("#token-save")
    await expect(page.locator("#status")).to_have_text("ready")
    await page.select_option("#flow", "order_desk")
    await page.click("#call")


async def test_a_person_calls_a_flow_from_the_softphone_and_hears_the_agent(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str], tmp_path: Path) -> None:
    errors: list[str] = []
    async with page_server(store, aiohttp_client, auth) as served, \
            chromium(_microphone(tmp_path / "caller.wav")) as browser:
        page = await open_page(browser, served.url("/phone"), errors)
        await _call(page, served)
        await expect(page.locator("#status")).to_have_text("in call")
        transcript = page.locator("#transcript")
        await expect(transcript.locator("li.agent")).to_contain_text(
            ["Hello.", "What can I do for you?"], timeout=WAIT_MS)
        # The person's words, as the recognizer wrote them down, then the
        # step change and the tool with its arguments and result.
        await expect(transcript.locator("li.caller").first).to_contain_text(
            "order", timeout=WAIT_MS)
        await expect(page.locator("#step")).to_have_text("lookup", timeout=WAIT_MS)
        await expect(page.locator("#context")).to_have_text("default")
        tools = page.locator("#tools")
        await expect(tools.locator("li")).to_have_text(
            ['→ check_order({"order_id": "A123"})', "← check_order: Order A123 shipped yesterday."],
            timeout=WAIT_MS)
        await expect(page.locator("#events")).to_contain_text("step greet → lookup")
        await expect(transcript).to_contain_text("Anything else?", timeout=WAIT_MS)
        call_id = await page.locator("#call-id").text_content()
        # Once every line the agent said has played out (the last frame
        # sent, in real time), the page has played it too.
        for _ in range(100):
            trace = await _trace(served, call_id)
            said = sum(r["kind"] == "say" for r in trace)
            finished = sum(r.get("event") == "PlayoutFinished" for r in trace)
            if said and finished >= said:
                break
            await page.wait_for_timeout(100)
        await page.wait_for_timeout(1000)
        await screenshot(page, "softphone")
        audio = await played(page)
        await page.click("#hangup")
        await expect(page.locator("#status")).to_have_text("hung up")
        done = await ended(served.client, served.auth, str(call_id))
    assert errors == []
    assert done["disposition"] == "caller_hangup" and done["media"] == "audio"
    _assert_heard(audio)


LONG_GREETING = ("Hello and welcome to the order desk, where we look up every order you "
                 "placed with us this year, tell you when it will arrive, and change where "
                 "it goes if you have moved.")
INTERRUPTING = f"""
rules:
  - when: {{start: true}}
    reply: "{LONG_GREETING}"
  - when: {{said: "wait|stop"}}
    reply: "Sure, go ahead."
  - reply: "Sorry?"
"""


async def test_the_person_interrupts_the_agent_and_only_what_played_is_kept(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str], tmp_path: Path) -> None:
    errors: list[str] = []
    microphone = _microphone(tmp_path / "caller.wav", "Wait, stop please.", at=3.5)
    async with page_server(store, aiohttp_client, auth, INTERRUPTING) as served, \
            chromium(microphone) as browser:
        page = await open_page(browser, served.url("/phone"), errors)
        await _call(page, served)
        events = page.locator("#events li", has_text="barge-in")
        await expect(events).to_have_count(1, timeout=WAIT_MS)
        await expect(page.locator("#transcript li.agent").last).to_have_text(
            "agent: Sure, go ahead.", timeout=WAIT_MS)
        shown = await events.text_content()
        call_id = await page.locator("#call-id").text_content()
        await page.click("#hangup")
        await ended(served.client, served.auth, str(call_id))
        trace = await _trace(served, call_id)
    assert errors == []
    [barge] = [r for r in trace if r["kind"] == "barge_in"]
    heard = barge["heard"]
    # The page acknowledged the marks of the words it played before the
    # clear: a first part of the greeting, about as long as the time it
    # played (the person spoke at 3.5 s into the file), not all of it.
    assert heard and LONG_GREETING.startswith(heard) and heard != LONG_GREETING, heard
    assert 3 <= len(heard.split()) <= 20, heard
    assert f"the caller heard “{heard}”" in str(shown)


async def _trace(served: Served, call_id: str | None) -> list[dict[str, Any]]:
    response = await served.client.get(f"/v1/calls/{call_id}/trace", headers={
        **served.auth, "Accept": "application/json"})
    assert response.status == 200, await response.text()
    records: list[dict[str, Any]] = await response.json()
    return records


def _assert_heard(audio: np.ndarray[Any, Any]) -> None:
    """The page played the agent's two turns: speech for about as long as
    eSpeak takes to say them, which the recognizer writes down as said."""
    frame = PLAYED_RATE // 50
    frames = audio[:len(audio) // frame * frame].reshape(-1, frame).astype(np.float64)
    loud = np.sqrt((frames ** 2).mean(axis=1)) > 300
    spoken = sum(len(espeak.speak(line, None, PLAYED_RATE).samples)
                 for line in (GREETING, ANSWER)) / PLAYED_RATE
    assert 0.6 * spoken < loud.sum() * 0.02 < 1.5 * spoken, (loud.sum() * 0.02, spoken)
    flow = compile_text(FLOW.read_bytes(), str(FLOW))
    recognizer = agent_recognizer(flow, [load_rules(MODEL.read_bytes(), str(MODEL))])
    heard = transcribe(recognizer, audio, (GREETING, ANSWER))
    # The order number is the recognizer's weak spot ("a one hundred twenty
    # three" in eSpeak's voice); the rest comes through.
    errors = word_errors(f"{GREETING} {ANSWER}", heard)
    assert errors.rate is not None and errors.rate <= 0.4, (heard, errors.describe())
    for phrase in ("what can i do for you", "anything else"):
        assert phrase in heard, (phrase, heard)
