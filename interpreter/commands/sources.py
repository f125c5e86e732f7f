"""Where a command's documents come from when a path may be a URL, and how
anything naming one is printed.

- `read_source(path)`: the bytes of a file, `-` (stdin) or an `http(s)` URL.
  A URL is fetched the way the hosted platform fetches a document (the
  host's `CallHost.fetch_document`: a POST with call details, Basic auth from
  the URL's `user:password@`, a timeout and a size limit).
- `source_name(path)`: the name to print for it (never the URL's credentials).
- `shown(text)`, `shown_value(value)`: text or JSON about to be printed,
  credentials removed. Every command prints what may hold a URL or a secret
  through them: the one place the command line redacts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Mapping

from interpreter.commands.inputs import UnreadableInput, display_name, expand, read
from interpreter.errors import CallkernelError
from interpreter.host import CallHost
from interpreter.jsontypes import JSONValue
from interpreter.redaction import redact_text, redact_value

URL_SCHEMES = ("http://", "https://")


def shown(text: str) -> str:
    """`text` without credentials (URL userinfo, tokens in query strings)."""
    return redact_text(text)


def shown_value(value: JSONValue) -> JSONValue:
    """A copy of a JSON value without credentials (secret keys, URLs), for printing."""
    result: JSONValue = redact_value(value)
    return result


def is_url(path: str) -> bool:
    return path[:8].lower().startswith(URL_SCHEMES)


def source_name(path: str) -> str:
    """What to call `path` in output: `<stdin>`, the file, or the URL without credentials."""
    return shown(path) if is_url(path) else display_name(path)


def expand_sources(paths: list[str]) -> Iterator[str]:
    """Like `inputs.expand` (directories walked for flow files), URLs kept as given."""
    for path in paths:
        if is_url(path):
            yield path
        else:
            yield from expand([path])


def read_source(path: str, call_info: Mapping[str, JSONValue] | None = None) -> bytes:
    """The bytes of a file, `-` or a URL; UnreadableInput (exit 2) when it
    cannot be had. `call_info`: the `call` object the fetch posts (default: an
    inbound phone call with a fresh id)."""
    if not is_url(path):
        return read(path)
    info: dict[str, JSONValue] = dict(call_info) if call_info is not None else {
        "call_id": str(uuid.uuid4()), "direction": "inbound", "type": "phone"}
    return asyncio.run(_fetch(path, info))


async def _fetch(url: str, call_info: dict[str, JSONValue]) -> bytes:
    try:
        async with CallHost() as host:
            return await host.fetch_document(url, call_info)
    except (CallkernelError, OSError) as error:
        raise UnreadableInput(shown(str(error))) from None
