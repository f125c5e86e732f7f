"""SWAIG `includes`: fetch remote function signatures when the session starts.

For each include the platform POSTs a signature request (SignalWire's
`SWAIG.includes`) to its URL; the reply is a list of function definitions, a single one, or
`{functions, defaults}`. A definition needs `function`, `description` and a
`web_hook_url` (else it is skipped, as on the platform). The fetched
signatures replace the placeholders the compiler made for the included
names; a failed fetch leaves them out and is traced, never fatal. The
fetches are effects like any request: the actor is never blocked on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from interpreter import ir
from interpreter.errors import CallFault, ErrorType
from interpreter.http import HttpError, HttpRequest
from interpreter.jsontypes import JSONValue
from interpreter.runtime import events as ev
from interpreter.runtime.call import EFFECT_GRACE
from interpreter.runtime.tools.limits import outside_json
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
    """Fetch every include's signatures as effects, all at once; the session
    waits for their results (a deadline each) while still taking the caller's
    words, then offers what arrived."""
    call = session.call
    pending: dict[int, ir.Include] = {}
    for include in session.verb.includes:
        pending[_start(session, include)] = include
    deadline = call.now() + FETCH_TIMEOUT + EFFECT_GRACE

    def wanted(event: ev.Event) -> bool:
        if isinstance(event, ev.IncludeFetched | ev.EffectFailed):
            return event.effect_id in pending
        return isinstance(event, ev.TranscriptReceived) and event.final and \
            event.source == "caller"

    while pending:
        event = await call.wait_for(wanted, max(deadline - call.now(), 0.0))
        match event:
            case None:
                for effect, include in pending.items():
                    call.cancel_effect(effect)
                    call.trace.record("include_failed", url=include.url,
                                      error=f"no reply within {FETCH_TIMEOUT:g} seconds")
                return
            case ev.TranscriptReceived(text=text):
                session.conversation.pending_input.append(text)
            case ev.IncludeFetched(effect_id=effect, reply=reply):
                _loaded(session, pending.pop(effect), reply)
            case ev.EffectFailed(effect_id=effect, error=error):
                call.trace.record("include_failed", url=pending.pop(effect).url, error=error)


def _start(session: AiSession, include: ir.Include) -> int:
    call = session.call
    body: dict[str, JSONValue] = {
        "action": "get_signature", "functions": list(include.functions),
        "content_type": "text/swaig", "content_disposition": "function signature request",
        "version": "2.0", "meta_data": {k: ir.thaw(v) for k, v in include.meta_data.items()}}
    headers = {"Authorization": basic_auth(include.user, include.password)} \
        if include.user else {}
    request = HttpRequest.json("POST", include.url, body, headers=headers,
                               timeout=FETCH_TIMEOUT)
    epoch = call.epoch

    async def work(effect_id: int) -> None:
        try:
            response = await call.http().send(request)
        except HttpError as error:
            raise CallFault(ErrorType.TOOL_ERROR, f"{error.kind}: {error}") from None
        if not response.ok:
            raise CallFault(ErrorType.TOOL_ERROR, f"HTTP {response.status}")
        try:
            reply = outside_json(response.body)
        except ValueError as error:
            raise CallFault(ErrorType.TOOL_ERROR, f"the reply is not JSON ({error})") from None
        call.post(ev.IncludeFetched(effect_id, reply, epoch=epoch))

    return call.start_effect("include", work, ErrorType.TOOL_ERROR, url=include.url)


def _loaded(session: AiSession, include: ir.Include, reply: JSONValue) -> None:
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
