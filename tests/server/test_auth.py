"""Bearer tokens: secrets and their hashes, 401 for a missing, wrong or
revoked token, and the scope matrix of every route (403 when under-scoped)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from interpreter.server.app import build_app
from interpreter.server.auth import create_token, new_secret, secret_hash
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Scope
from tests.server.tokens import bearer

REPO = Path(__file__).resolve().parents[2]
SUPPORT = (REPO / "flows" / "support.yaml").read_bytes()

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(store: SqliteStore, aiohttp_client: Any) -> Client:
    made: Client = await aiohttp_client(build_app(store))
    return made


def test_a_secret_is_prefixed_and_carries_256_random_bits() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(re.fullmatch(r"ck_[A-Za-z0-9_-]{43}", s) for s in secrets)


def test_the_secret_hash_is_its_hex_sha256() -> None:
    assert secret_hash("ck_abc") == hashlib.sha256(b"ck_abc").hexdigest()


async def test_the_store_keeps_the_hash_never_the_secret(store: SqliteStore) -> None:
    token, secret = await create_token(store, "ci", {Scope.READ})
    assert token.scopes == frozenset({Scope.READ}) and token.name == "ci"
    assert await store.token_by_hash(secret_hash(secret)) == token
    assert await store.token_by_hash(secret) is None
    assert secret.encode() not in store.path.read_bytes()


# ------------------------------------------------------------ 401

async def _unauthorized(response: Any) -> None:
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.content_type == "application/problem+json"
    assert (await response.json())["code"] == "unauthorized"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz",
                                    "Bearer ck_not-a-real-token", "ck_not-a-real-token"])
async def test_a_missing_or_wrong_token_is_401(client: Client, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    await _unauthorized(await client.get("/v1/flows", headers=headers))
    await _unauthorized(await client.post("/v1/flows/support", data=SUPPORT,
                                          headers={**headers,
                                                   "Content-Type": "application/yaml"}))


async def test_a_revoked_token_is_401(client: Client, store: SqliteStore) -> None:
    token, secret = await create_token(store, "old", {Scope.ADMIN})
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/v1/flows", headers=headers)).status == 200
    await store.revoke_token(token.token_id)
    await _unauthorized(await client.get("/v1/flows", headers=headers))


async def test_the_scheme_is_case_insensitive(client: Client, store: SqliteStore) -> None:
    _, secret = await create_token(store, "t", {Scope.READ})
    assert (await client.get("/v1/flows", headers={"Authorization": f"bearer {secret}"})
            ).status == 200


async def test_an_unknown_route_needs_a_token_before_it_is_a_404(client: Client,
                                                                 store: SqliteStore) -> None:
    await _unauthorized(await client.get("/v1/secret-admin-thing"))
    response = await client.get("/v1/secret-admin-thing", headers=await bearer(store, Scope.READ))
    assert response.status == 404


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_public_routes_need_no_token(client: Client, path: str) -> None:
    assert (await client.get(path)).status == 200


async def test_the_api_document_needs_a_token_as_every_route_but_health(
        client: Client, store: SqliteStore) -> None:
    await _unauthorized(await client.get("/v1/openapi.json"))
    read = await bearer(store, Scope.READ)
    assert (await client.get("/v1/openapi.json", headers=read)).status == 200


# ------------------------------------------------------------ scopes

# (method, path, body) of every flows route, against a flow "support" with
# versions 1 and 2, version 2 live.
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/flows", None),
    ("GET", "/v1/flows/support", None),
    ("GET", "/v1/flows/support/versions", None),
    ("GET", "/v1/flows/support/versions/1", None),
    ("GET", "/v1/flows/support/source", None),
    ("POST", "/v1/flows/support", None),
    ("POST", "/v1/flows/support/publish", {"version": 2}),
    ("POST", "/v1/flows/support/rollback", {"version": 1}),
    ("DELETE", "/v1/flows/support", None),
]
READS = {i for i, (method, _, _) in enumerate(ROUTES) if method == "GET"}
ALL = set(range(len(ROUTES)))
# Which of ROUTES each token may use.
MATRIX: list[tuple[tuple[Scope, ...], set[int]]] = [
    ((Scope.READ,), READS),
    ((Scope.FLOWS,), ALL - READS),
    ((Scope.CALLS,), set()),
    ((Scope.READ, Scope.FLOWS), ALL),
    ((Scope.ADMIN,), ALL),
    ((), set()),
]


@pytest.mark.parametrize(("scopes", "allowed"), MATRIX,
                         ids=["+".join(s.value for s in scopes) or "none"
                              for scopes, _ in MATRIX])
async def test_scope_matrix(client: Client, store: SqliteStore, scopes: tuple[Scope, ...],
                            allowed: set[int]) -> None:
    setup = await bearer(store, Scope.ADMIN)
    for _ in range(2):
        await client.post("/v1/flows/support", data=SUPPORT,
                          headers={**setup, "Content-Type": "application/yaml"})
    await client.post("/v1/flows/support/publish", json={"version": 2}, headers=setup)
    headers = await bearer(store, *scopes)
    for index, (method, path, body) in enumerate(ROUTES):
        if body is not None:
            response = await client.request(method, path, json=body, headers=headers)
        else:
            response = await client.request(method, path, data=SUPPORT, headers={
                **headers, "Content-Type": "application/yaml"})
        if index in allowed:
            assert response.status < 300, (method, path, await response.text())
        else:
            assert response.status == 403, (method, path, response.status)
            assert (await response.json())["code"] == "forbidden"


async def test_a_route_that_declares_no_scope_needs_admin(aiohttp_client: Any,
                                                          store: SqliteStore) -> None:
    async def undeclared(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = build_app(store)
    app.router.add_get("/v1/undeclared", undeclared)
    client = await aiohttp_client(app)
    every_scope_but_admin = await bearer(store, Scope.READ, Scope.FLOWS, Scope.CALLS)
    forbidden = await client.get("/v1/undeclared", headers=every_scope_but_admin)
    assert forbidden.status == 403
    assert "admin" in json.loads(await forbidden.text())["detail"]
    allowed = await client.get("/v1/undeclared", headers=await bearer(store, Scope.ADMIN))
    assert allowed.status == 200


async def test_responses_do_not_name_the_servers_software_versions(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.headers["Server"] == "callkernel"


async def test_a_websocket_handshake_may_bring_its_token_in_the_query(
        client: Client, store: SqliteStore) -> None:
    secret = (await bearer(store, Scope.READ))["Authorization"].removeprefix("Bearer ")
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    # Past the door: the call is unknown (404), not the caller (401).
    response = await client.get(f"/v1/calls/nope/ws?access_token={secret}", headers=upgrade)
    assert response.status == 404
    await _unauthorized(await client.get("/v1/calls/nope/ws?access_token=ck_wrong",
                                         headers=upgrade))
    # Not a handshake: a token in the query is not looked at.
    await _unauthorized(await client.get(f"/v1/flows?access_token={secret}"))
