"""The call console (/console) in real headless Chromium, as an operator
uses it: a failed upload shows its diagnostics, a new version is published
and rolled back with a click, a live call appears, is updated in place and
is followed as it happens, and the ended call shows its trace, timeline
picture, recording, summary and the summary's delivery state."""

from __future__ import annotations

import io
from typing import Any

from playwright.async_api import Page, expect
from ruamel.yaml import YAML

from interpreter.server.sqlite_store import SqliteStore
from tests.server.chromium import chromium, open_page, screenshot
from tests.server.page_server import FLOW, page_server
from tests.server.rest import ended, start

WAIT_MS = 30_000
BROKEN = b"sections:\n  main:\n    - answer: {}\n    - play: {urls: 3}\n"
CALLER = """
steps:
  - say: "I want to check my order."
  - hangup: {}
    after: 3
"""


def _recorded(summaries: str) -> bytes:
    """order_desk.yaml, recording the call and sending its summary to `summaries`."""
    yaml = YAML()
    document = yaml.load(FLOW.read_bytes())
    verbs = document["sections"]["main"]
    verbs.insert(1, {"record_call": {"format": "wav"}})
    ai = verbs[-1]["ai"]
    ai["post_prompt"] = {"text": "Summarize the call as JSON."}
    ai["post_prompt_url"] = summaries
    buffer = io.BytesIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


async def _upload(page: Page, name: str, file_name: str, content: bytes) -> None:
    await page.fill("#upload-name", name)
    await page.set_input_files("#upload-file", files=[
        {"name": file_name, "mimeType": "application/yaml", "buffer": content}])
    await page.click("#upload-form button[type=submit]")


async def test_an_operator_manages_flows_and_follows_a_call_on_the_console(
        store: SqliteStore, aiohttp_client: Any, auth: dict[str, str],
        receiver: tuple[str, list[dict[str, Any]]]) -> None:
    errors: list[str] = []
    base, received = receiver
    summaries = f"{base}/summaries"
    async with page_server(store, aiohttp_client, auth) as served, chromium() as browser:
        page = await open_page(browser, served.url("/console"), errors)
        await page.fill("#token", served.secret)
        await page.click("#token-form button[type=submit]")
        flows = page.locator("#flows tr")
        await expect(flows).to_have_count(1)
        await expect(flows.first).to_contain_text("order_desk")
        await expect(flows.first.locator("td").nth(1)).to_have_text("v1")

        # A document that does not validate: its diagnostics, located.
        await _upload(page, "order_desk", "broken.yaml", BROKEN)
        failed = page.locator("#upload-result pre.error")
        await expect(failed).to_contain_text("broken.yaml:4:")
        await expect(failed).to_contain_text("error CK")

        # A good one is a draft until published with a click.
        await _upload(page, "order_desk", "order_desk.yaml", _recorded(summaries))
        await expect(page.locator("#upload-result")).to_have_text(
            "stored order_desk v2 as a draft")
        versions = page.locator("#versions tr")
        await expect(versions).to_have_count(2)
        await versions.filter(has_text="v2").get_by_role("button", name="publish").click()
        await expect(page.locator("#status")).to_have_text("order_desk v2 is live")
        await expect(flows.first.locator("td").nth(1)).to_have_text("v2")

        # A call: live, its row updated in place, then ended.
        call = await start(served.client, served.auth, "order_desk", CALLER, media="audio")
        row = page.locator(f'#live-calls tr[data-call="{call["call_id"]}"]')
        await expect(row).to_contain_text("order_desk v2")
        # Followed as it happens: the records so far, then the rest live.
        await row.get_by_role("button", name="follow").click()
        await expect(page.locator("#follow-of")).to_have_text(call["call_id"])
        followed = page.locator("#follow")
        await expect(followed).to_contain_text("flow order_desk v2 (named by the call)")
        await expect(followed.locator("li.agent").first).to_have_text("agent: Hello.")
        await row.evaluate("row => { row.dataset.seen = 'yes'; }")
        await page.wait_for_timeout(2500)  # two more polls of the live calls
        if await row.count():
            await expect(row).to_have_attribute("data-seen", "yes")
        done = await ended(served.client, served.auth, call["call_id"])
        await expect(followed.locator("li.agent")).to_contain_text(
            ["agent: Hello.", "agent: What can I do for you?"])
        await expect(followed).to_contain_text(f"call ended: {done['disposition']}")
        await expect(row).to_have_count(0, timeout=5000)
        ended_row = page.locator("#ended-calls tr", has_text=call["call_id"])
        await expect(ended_row).to_contain_text(done["disposition"], timeout=WAIT_MS)
        await expect(ended_row).to_contain_text("order_desk v2")

        # Its trace, picture, recording, summary and the summary's delivery.
        await ended_row.get_by_role("button").click()
        await expect(page.locator("#trace-of")).to_have_text(call["call_id"])
        await expect(page.locator("#trace")).to_contain_text("call_ended")
        await expect(page.locator("#timeline")).to_have_attribute("src", _blob())
        assert await page.locator("#timeline").evaluate(
            "image => image.decode().then(() => image.naturalWidth)") > 400
        recording = page.locator("#recordings audio")
        await expect(recording).to_have_count(1)
        await expect(recording).to_have_attribute("src", _blob())
        assert await recording.evaluate(
            "audio => new Promise((done) => { audio.onloadedmetadata = () => "
            "done(audio.duration); audio.load(); })") > 1.0
        deliveries = page.locator("#deliveries")
        await expect(deliveries).to_contain_text(
            f"post_prompt to {summaries}: delivered, 1 attempt, HTTP 200", timeout=WAIT_MS)
        await expect(deliveries.locator("pre")).to_have_text('{"resolved": true}')
        await screenshot(page, "console")

        # Roll back to v1 with a click.
        await page.locator("#flows tr").first.get_by_role("button").click()
        await versions.filter(has_text="v1").get_by_role("button", name="rollback").click()
        await expect(page.locator("#status")).to_have_text("order_desk v1 is live")
    assert errors == []
    assert len(received) == 1 and received[0]["body"]["call_id"] == call["call_id"]


def _blob() -> Any:
    import re

    return re.compile(r"^blob:http://localhost:\d+/")
