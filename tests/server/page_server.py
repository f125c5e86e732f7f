"""The server the page tests open in Chromium: the real app on 127.0.0.1,
its calls answered by a scripted model (no model server here), their
records followed by the pages' sockets, order_desk.yaml published."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from interpreter.host import CallHost
from interpreter.providers.llm.scripted import load_rules
from interpreter.server.app import build_app
from interpreter.server.durable_outbox import StoreOutbox
from interpreter.server.events import CallEvents
from interpreter.server.metrics import CallMetrics
from interpreter.server.sqlite_store import SqliteStore
from tests.server.rest import publish

DATA = Path(__file__).parent.parent / "data" / "browser"
FLOW = DATA / "order_desk.yaml"
MODEL = DATA / "order_desk.model.yaml"

Client = TestClient[web.Request, web.Application]


@dataclass(frozen=True)
class Served:
    client: Client
    auth: dict[str, str]

    @property
    def secret(self) -> str:
        return self.auth["Authorization"].removeprefix("Bearer ")

    def url(self, path: str) -> str:
        """`path` on the server, as a person would open it: http://localhost
        is a secure context, where a page may ask for the microphone."""
        return f"http://localhost:{self.client.port}{path}"


@asynccontextmanager
async def page_server(store: SqliteStore, aiohttp_client: Any, auth: dict[str, str],
                      model: str | None = None) -> AsyncIterator[Served]:
    """`model`: other scripted rules than order_desk's."""
    rules = load_rules(model) if model is not None else load_rules(MODEL.read_bytes(),
                                                                  str(MODEL))
    metrics, events, outbox = CallMetrics(), CallEvents(), StoreOutbox(store)
    async with CallHost(trace_sinks=metrics.trace_sinks(events.trace_sinks()), outbox=outbox,
                        llm={"scripted": rules}, default_llm="scripted") as host:
        client: Client = await aiohttp_client(build_app(
            store, host=host, outbox=outbox, metrics=metrics, events=events))
        await publish(client, auth, "order_desk", FLOW.read_bytes())
        try:
            yield Served(client, auth)
        finally:
            await client.close()
