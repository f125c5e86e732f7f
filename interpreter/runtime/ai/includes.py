"""SWAIG `includes`: fetch remote function signatures when the session starts.

For each include the platform POSTs a signature request (reference §2.5) to
its URL; the reply is a list of function definitions, a single one, or
`{functions, defaults}`. A definition needs `function`, `description` and a
`web_hook_url` (else it is skipped, as on the platform). The fetched
signatures replace the placeholders the compiler made for the included
names; a failed fetch leaves them out and is traced, never fatal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

import aiohttp

from interpreter import ir
from interpreter.clock import real_io
from interpreter.jsontypes import JSONValue
from interpreter.runtime.tools.webhook import basic_auth

if TYPE_CHECKING:
    from interpreter.runtime.ai.session import AiSession

FETCH_TIMEOUT = 5.0


def _definitions(reply: JSONValue) -> list[Mapping[str, JSONValue]]:
    if isinstance(reply, dict) and isinstance(reply.get("functions"), list):
        reply = reply["functions"]
    items = reply if isinstance(reply, list) else [reply]
    return [item for item in items if isinstance(item, dict)]


async def fetch_includes(session: AiSession) -> None:
    for include in session.verb.includes:
        body: dict[str, JSONValue] = {
            "action": "get_signature", "functions": list(include.functions),
            "content_type": "text/swaig", "content_disposition": "function signature request",
            "version": "2.0", "meta_data": {k: ir.thaw(v) for k, v in include.meta_data.items()}}
        headers = {"Authorization": basic_auth(include.user, include.password)} \
            if include.user else {}
        try:
            with real_io():
                async with session.call.http().post(
                        include.url, json=body, headers=headers,
                        timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT)) as response:
                    if response.status >= 300:
                        raise ValueError(f"HTTP {response.status}")
                    reply = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            session.call.trace.record("include_failed", url=include.url,
                                      error=f"{type(error).__name__}: {error}")
            continue
        added = []
        for definition in _definitions(reply):
            name = definition.get("function")
            url = definition.get("web_hook_url")
            if name not in include.functions or not definition.get("description") \
                    or not isinstance(url, str):
                continue
            placeholder = next((f for f in session.verb.functions if f.name == name), None)
            if placeholder is None:
                continue
            parameters = definition.get("parameters")
            session.overrides[str(name)] = dataclasses.replace(
                placeholder, description=str(definition["description"]),
                parameters=ir.freeze(parameters) if isinstance(parameters, dict)  # type: ignore[arg-type]
                else placeholder.parameters,
                webhook=ir.Webhook(url, include.user, include.password))
            added.append(str(name))
        session.call.trace.record("include_loaded", url=include.url, functions=added)

