"""REST v1 outbox: the post-call deliveries (summaries, status callbacks) the
server's durable outbox holds — pending, delivered, failed or kept — and a
retry by hand of one that failed.

Read from the store, so what a crash interrupted is visible too. A delivery
is shown without its headers (they carry the receiver's credentials); its
body and summary only when one delivery is asked for.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from interpreter.document.coerce import split_credentials
from interpreter.server.auth import STORE, requires
from interpreter.server.calls import CALLS
from interpreter.server.problems import Problem
from interpreter.server.requests import list_limit
from interpreter.server.store import DeliveryState, Scope, StoredDelivery

routes = web.RouteTableDef()


@routes.get("/v1/outbox")
@requires(Scope.READ)
async def list_deliveries(request: web.Request) -> web.Response:
    """Deliveries newest first, filtered by state and call."""
    query = request.query
    state = query.get("state")
    if state is not None and state not in {s.value for s in DeliveryState}:
        raise Problem("invalid-request", "state is one of "
                                         f"{', '.join(s.value for s in DeliveryState)}, "
                                         f"not {state!r}")
    limit = list_limit(query.get("limit"))
    deliveries = await request.app[STORE].deliveries(
        state=DeliveryState(state) if state else None, call_id=query.get("call_id"),
        limit=limit)
    return web.json_response({"deliveries": [delivery_json(d) for d in deliveries]})


@routes.get("/v1/outbox/{key}")
@requires(Scope.READ)
async def get_delivery(request: web.Request) -> web.Response:
    """One delivery with its body and summary (NotFound: 404)."""
    delivery = await request.app[STORE].delivery(request.match_info["key"])
    return web.json_response(delivery_json(delivery, full=True))


@routes.post("/v1/outbox/{key}/retry")
@requires(Scope.CALLS)
async def retry_delivery(request: web.Request) -> web.Response:
    """Make a failed (or pending) delivery due now, with a new round of attempts."""
    outbox = request.app[CALLS].outbox
    if outbox is None:
        raise Problem("conflict", "this server's calls do not deliver through the store's "
                                  "outbox")
    try:
        delivery = await outbox.retry(request.match_info["key"])  # NotFound: 404
    except ValueError as error:
        raise Problem("conflict", str(error)) from None
    return web.json_response(delivery_json(delivery), status=202)


def delivery_json(delivery: StoredDelivery, *, full: bool = False) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "key": delivery.key, "call_id": delivery.call_id, "kind": delivery.kind,
        # Credentials never show (they travel in the headers, which are not shown).
        "url": None if delivery.url is None else split_credentials(delivery.url).url,
        "state": delivery.state.value, "attempts": delivery.attempts,
        "last_status": delivery.last_status, "last_error": delivery.last_error or None,
        "next_attempt_at": delivery.next_attempt_at
        if delivery.state is DeliveryState.PENDING else None,
        "created_at": delivery.created_at, "updated_at": delivery.updated_at,
        "summary_owed": delivery.summary_request is not None and delivery.summary is None,
    }
    if full:
        shown["body"] = json.loads(delivery.body)
        shown["summary"] = delivery.summary
    return shown
