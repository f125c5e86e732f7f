"""The parts of a REST request every route module reads the same way: the
flow name in the path, version numbers, bodies read within a limit (413
before and while reading), JSON command bodies, and whether the client wants
JSON. Each failure is a problem document (server/problems.py)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from interpreter.host import CallHost
from interpreter.server.problems import Problem

FLOW_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# The largest version number taken: 18 digits, inside a signed 64-bit integer, so a
# store's integer column never overflows on a number a client made up.
MAX_VERSION = 10**18 - 1
# Command bodies (publish, rollback, starting a call) are small; far less than a flow.
COMMAND_MAX_BYTES = 16 * 1024

HOST: web.AppKey[CallHost] = web.AppKey("host", CallHost)
MAX_BODY: web.AppKey[int] = web.AppKey("max_body_bytes", int)


def flow_name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not FLOW_NAME.fullmatch(name):
        raise Problem("invalid-flow-name", f"{name!r} is not a flow name: 1 to 64 of a-z, "
                                           "0-9, _ and -, starting with a letter or digit")
    return name


def version_number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise Problem("invalid-request", f"{text!r} is not a version number "
                                         "(1, 2, ...; or live or latest where allowed)")
    return int(text)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refused with 413 once it is over `limit` bytes: by its
    Content-Length before reading, and by counting while reading (a chunked
    body declares none); and with 408 when it has not all arrived within
    BODY_SECONDS (a client that sends slowly or stops holds a connection and
    a handler, never forever)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(declared, limit)
    body = bytearray()
    try:
        async with asyncio.timeout(BODY_SECONDS):
            async for chunk in request.content.iter_any():
                body += chunk
                if len(body) > limit:
                    raise _too_large(None, limit)
    except TimeoutError:
        raise Problem("request-timeout", f"the body did not arrive within {BODY_SECONDS:g} s "
                                         f"({len(body):,} bytes came)") from None
    return bytes(body)


# How long a request body may take to arrive, whatever its size.
BODY_SECONDS = 30.0


def _too_large(size: int | None, limit: int) -> Problem:
    what = f"{size:,} bytes" if size is not None else "larger"
    return Problem("payload-too-large", f"the body is {what}; the limit is {limit:,} bytes")


async def read_command(request: web.Request,
                       limit: int = COMMAND_MAX_BYTES) -> dict[str, Any]:
    """A JSON object body (publish, rollback, starting a call)."""
    if request.content_type != "application/json":
        raise Problem("unsupported-media-type", "this takes an application/json body")
    raw = await read_body(request, limit)
    try:
        body = json.loads(raw)
    except RecursionError:
        raise Problem("invalid-request", "the body is not JSON we take: nested too "
                                         "deeply") from None
    except ValueError as error:
        raise Problem("invalid-request", f"the body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise Problem("invalid-request", "the body must be a JSON object")
    return body


# How many items a list returns: by default, and at most (`?limit=`).
LIST_LIMIT, MOST_LISTED = 100, 1000


def list_limit(text: str | None) -> int:
    """A list's `?limit=` (1 to MOST_LISTED; LIST_LIMIT when absent); 400 otherwise."""
    if text is None:
        return LIST_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MOST_LISTED:
        raise Problem("invalid-request", f"limit is a number from 1 to {MOST_LISTED}, "
                                         f"not {text!r}")
    return int(text)


def only_fields(body: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """The body, refused (400) when it has a field the command does not take:
    a misspelt field is an error, never silently ignored."""
    unknown = sorted(body.keys() - allowed)
    if unknown:
        raise Problem("invalid-request", f"unknown field(s) {', '.join(unknown)}; this "
                                         f"takes {', '.join(sorted(allowed))}")
    return body


def positive_int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise Problem("invalid-request", f"{key!r} must be a version number (1, 2, ...)")
    return value


def wants_json(request: web.Request) -> bool:
    """Whether the Accept header names application/json (not just */*)."""
    for part in request.headers.get("Accept", "").split(","):
        media, *params = (item.strip().lower() for item in part.split(";"))
        if media == "application/json" and not any(
                p.partition("=")[0].strip() == "q" and _is_zero(p.partition("=")[2])
                for p in params):
            return True
    return False


def _is_zero(quality: str) -> bool:
    try:
        return float(quality) == 0
    except ValueError:
        return False
