"""Headless Chromium for the page tests: Debian's `chromium`, driven by
Playwright (its Python package brings the driver; the browser is the
system's, so nothing is downloaded), with a fake microphone fed from a WAV
file and a tap on what the page plays.

`make browser` installs the browser (docs/softphone.md, "Testing the pages");
`CALLKERNEL_CHROMIUM` names another Chromium binary. Screenshots are written
where `CALLKERNEL_SCREENSHOTS` names a folder (`make screenshots` writes the
ones under docs/images/)."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
from playwright.async_api import Browser, Page, async_playwright

from interpreter.media.playout import Samples

# The flags the machine's notes give for a closed network: without the
# background-networking ones Chromium keeps trying to reach Google's hosts.
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
)
PLAYED_RATE = 16000  # the softphone's AudioContext rate, at which the tap records

# Runs before the page's scripts: every node connected to an AudioContext's
# destination is also connected to a recorder there, so the test gets what
# the page sent to the speakers, mixed, at the context's rate.
TAP_SCRIPT = """
(() => {
  const connect = AudioNode.prototype.connect;
  const taps = new WeakMap();
  window.__played = [];
  AudioNode.prototype.connect = function (target, ...rest) {
    const context = this.context;
    if (target === context.destination && !this.__tap) {
      let tap = taps.get(context);
      if (!tap) {
        tap = context.createScriptProcessor(4096, 1, 1);
        tap.__tap = true;
        tap.onaudioprocess = (event) => {
          window.__played.push(Float32Array.from(event.inputBuffer.getChannelData(0)));
        };
        connect.call(tap, context.destination);
        taps.set(context, tap);
      }
      connect.call(this, tap);
    }
    return connect.call(this, target, ...rest);
  };
  window.__playedPcm = () => {
    const total = window.__played.reduce((n, chunk) => n + chunk.length, 0);
    const view = new DataView(new ArrayBuffer(total * 2));
    let at = 0;
    for (const chunk of window.__played) {
      for (const sample of chunk) {
        view.setInt16(at, Math.round(Math.max(-1, Math.min(1, sample)) * 32767), true);
        at += 2;
      }
    }
    let text = "";
    const bytes = new Uint8Array(view.buffer);
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  };
})();
"""


def executable() -> str:
    """The Chromium to drive; the test fails, saying how to install one, if
    there is none (a browser test is never skipped)."""
    named = os.environ.get("CALLKERNEL_CHROMIUM") or shutil.which("chromium")
    if named is None or not Path(named).exists():
        pytest.fail("no Chromium: `make browser` installs Debian's chromium, or name one "
                    "with CALLKERNEL_CHROMIUM (docs/softphone.md, 'Testing the pages')",
                    pytrace=False)
    return named


@asynccontextmanager
async def chromium(microphone: Path | None = None) -> AsyncIterator[Browser]:
    """A headless Chromium whose fake microphone plays `microphone` (a WAV,
    once; silence after it)."""
    flags = list(FLAGS)
    if microphone is not None:
        flags.append(f"--use-file-for-fake-audio-capture={microphone}%noloop")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable(), args=flags)
        try:
            yield browser
        finally:
            await browser.close()


async def open_page(browser: Browser, url: str, errors: list[str]) -> Page:
    """A new page at `url` with the audio tap in place; the page's uncaught
    errors, and the GETs it made that failed, are added to `errors`."""
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and response.request.method == "GET" else None)
    await page.add_init_script(TAP_SCRIPT)
    await page.goto(url)
    return page


async def played(page: Page) -> Samples:
    """What the page has played so far, mono PCM16 at PLAYED_RATE."""
    encoded: str = await page.evaluate("window.__playedPcm()")
    return np.frombuffer(base64.b64decode(encoded), "<i2").astype(np.int16)


async def screenshot(page: Page, name: str) -> None:
    """The page, saved as NAME.png where CALLKERNEL_SCREENSHOTS says."""
    folder = os.environ.get("CALLKERNEL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
