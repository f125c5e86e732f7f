"""Bearer headers for the server tests, from real tokens in the store."""

from __future__ import annotations

from interpreter.server.auth import create_token
from interpreter.server.store import Scope, Store


async def bearer(store: Store, *scopes: Scope) -> dict[str, str]:
    """An Authorization header for a new token with `scopes`."""
    _, secret = await create_token(store, "-".join(scopes) or "none", set(scopes))
    return {"Authorization": f"Bearer {secret}"}
