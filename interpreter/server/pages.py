"""The browser pages `callkernel serve` hands out: the softphone (`/phone`),
the call console (`/console`), and their scripts and styles
(`/static/{file}`, from the package's `server/static/` folder).

The pages are public — a browser loads them without a token — and hold no
data: every API call they make carries the token the user typed into the
page (docs/softphone.md). They are plain files with no build step, served
with `Cache-Control: no-store` so a browser never runs a script older than
the server it talks to.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from aiohttp import web

from interpreter.server.auth import public
from interpreter.server.problems import Problem

__all__ = ["STATIC", "routes"]

STATIC = Path(__file__).with_name("static")
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
# A file name and nothing else: no separators, no dot-dot, a known extension.
_FILE = re.compile(r"[a-z0-9][a-z0-9-]*\.(?:html|js|css)")
# The scripts come from this origin only and speak only to it (the media and
# follow sockets included); nothing may frame the pages.
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; "
                               "img-src 'self' data: blob:; media-src 'self' blob:; "
                               "frame-ancestors 'none'",
}

routes = web.RouteTableDef()


@routes.get("/phone")
@public
async def phone_page(request: web.Request) -> web.Response:
    """The browser softphone."""
    return await _file("phone.html")


@routes.get("/console")
@public
async def console_page(request: web.Request) -> web.Response:
    """The call console."""
    return await _file("console.html")


@routes.get("/static/{file}")
@public
async def static_file(request: web.Request) -> web.Response:
    """A page's script or style sheet."""
    return await _file(request.match_info["file"])


async def _file(name: str) -> web.Response:
    path = STATIC / name
    if not _FILE.fullmatch(name) or not path.is_file():
        raise Problem("not-found", f"no such page file: {name[:64]!r}")
    body = await asyncio.to_thread(path.read_bytes)
    return web.Response(body=body, content_type=CONTENT_TYPES[path.suffix], charset="utf-8",
                        headers=_HEADERS)
