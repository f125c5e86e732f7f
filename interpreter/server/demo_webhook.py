"""A small SWAIG webhook that answers the example flows' tools with canned data.

It speaks the SWAIG protocol like an application built with the
signalwire-agents SDK: a JSON POST per call (the SWAIG function webhook request
SignalWire documents) answered with `{"response": ...}` (a SWAIG function
result), and a post_prompt receiver that keeps the
summaries it was sent. `callkernel demo` starts it on 127.0.0.1:8765, where
the example flows send their tools and summaries (or on `--port`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from interpreter.jsontypes import JSONValue

Handler = Callable[[dict[str, Any]], JSONValue]

ORDERS = {
    "A123": "Order A123: shipped, ETA April 2nd",
    "B456": "Order B456: out for delivery today",
    "C789": "Order C789: delivered on March 28th",
}
SUMMARIES: web.AppKey[list[JSONValue]] = web.AppKey("summaries", list)
CALLS: web.AppKey[list[JSONValue]] = web.AppKey("calls", list)


def _check_order(args: dict[str, Any]) -> JSONValue:
    # Spoken IDs come with spaces ("a 123" from a recognizer): compare without.
    order = "".join(str(args.get("order_id", "")).split()).upper()
    return {"response": ORDERS.get(order, f"No order {order} was found")}


def _canned(text: str) -> Handler:
    return lambda args: {"response": text.format(**{k: str(v) for k, v in args.items()})}


TOOLS: dict[str, Handler] = {
    "check_order": _check_order,
    "check_availability": _canned("Free slots on {date}: 9:30, 11:00 and 15:30"),
    "book_appointment": _canned("Booked {date} at {time}; confirmation number BK-2041"),
    "get_pricing": _canned("The Summit 2 tent is 249 dollars; the Trail sleeping bag is 99"),
    "lookup_account": _canned("Account found: Sam Lee, member since 2021"),
    "create_ticket": _canned("Ticket T-5512 created"),
    "schedule_callback": _canned("Callback scheduled"),
    "refill_prescription": _canned("Refill requested; ready tomorrow after 2 PM"),
    "check_refill_status": _canned("The refill is ready for pickup"),
    "take_message": _canned("Message taken"),
}


async def swaig(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return web.json_response({"error": "a SWAIG call is a JSON body"}, status=400)
    name = body.get("function") if isinstance(body, dict) else None
    if not isinstance(name, str):
        return web.json_response({"error": "missing function"}, status=400)
    request.app[CALLS].append(body)
    parsed = (body.get("argument") or {}).get("parsed") or [{}]
    handler = TOOLS.get(name)
    if handler is None:
        return web.json_response({"response": f"Function '{name}' not found"})
    return web.json_response(handler(parsed[0] if isinstance(parsed[0], dict) else {}))


async def post_prompt(request: web.Request) -> web.Response:
    request.app[SUMMARIES].append(await request.json())
    return web.json_response({"success": True})


def build_app() -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[SUMMARIES] = []
    app[CALLS] = []
    app.router.add_post("/swaig", swaig)
    app.router.add_post("/swaig/", swaig)
    app.router.add_post("/post_prompt", post_prompt)
    return app
