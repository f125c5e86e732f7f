"""What the server tests share: a real SQLite store per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

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
