"""What the server tests share: a real SQLite store per test, and a
loopback receiver for what the server POSTs out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Scope
from tests.server.tokens import bearer


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "data" / "callkernel.db")
    yield opened
    await opened.close()


@pytest.fixture
async def auth(store: SqliteStore) -> dict[str, str]:
    """A token that may read, manage flows and run calls."""
    return await bearer(store, Scope.READ, Scope.FLOWS, Scope.CALLS)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An app on 127.0.0.1 that answers every POST 200 and keeps its path,
    Idempotency-Key, headers and JSON body: its base URL and what it got."""
    received: list[dict[str, Any]] = []

    async def take(request: web.Request) -> web.Response:
        received.append({"path": request.path, "key": request.headers.get("Idempotency-Key"),
                         "headers": dict(request.headers), "body": await request.json()})
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/{name}", take)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", received
    await runner.cleanup()
