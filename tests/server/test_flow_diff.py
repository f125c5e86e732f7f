"""`GET /v1/flows/{name}/diff`: a unified diff of two versions as uploaded."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from interpreter.server.app import build_app
from interpreter.server.flow_diff import unified_diff
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import FlowVersion

ONE = b"sections:\n  main:\n    - answer: {}\n    - hangup: {}\n"
TWO = b"sections:\n  main:\n    - answer: {}\n    - play: {url: 'say:Hi.'}\n    - hangup: {}\n"


@pytest.fixture
async def client(aiohttp_client: Any, store: SqliteStore) -> TestClient[Any, Any]:
    for source in (ONE, TWO):
        await store.add_version("f", source, "application/yaml", "sha256:x", ())
    await store.publish("f", 1)
    made: TestClient[Any, Any] = await aiohttp_client(build_app(store))
    return made


async def test_the_diff_of_two_versions_is_unified_text(client: TestClient[Any, Any],
                                                        auth: dict[str, str]) -> None:
    response = await client.get("/v1/flows/f/diff?from=1&to=2", headers=auth)
    assert response.status == 200 and response.content_type == "text/plain"
    assert response.headers["X-Flow-Versions"] == "1..2"
    assert await response.text() == (
        "--- f@1\n+++ f@2\n@@ -1,4 +1,5 @@\n sections:\n   main:\n     - answer: {}\n"
        "+    - play: {url: 'say:Hi.'}\n     - hangup: {}\n")


async def test_live_and_latest_name_versions_and_the_same_version_diffs_empty(
        client: TestClient[Any, Any], auth: dict[str, str]) -> None:
    named = await client.get("/v1/flows/f/diff?from=live&to=latest&context=0", headers=auth)
    text = await named.text()
    assert text.startswith("--- f@1\n+++ f@2\n@@ -3,0 +4 @@\n")
    same = await client.get("/v1/flows/f/diff?from=2&to=latest", headers=auth)
    assert (same.status, await same.text()) == (200, "")


@pytest.mark.parametrize(("query", "status", "code"), [
    ("from=1&to=9", 404, "not-found"),
    ("from=1", 400, "invalid-request"),
    ("from=x&to=1", 400, "invalid-request"),
    ("from=1&to=2&context=-1", 400, "invalid-request"),
])
async def test_bad_or_unknown_versions_are_problems(client: TestClient[Any, Any],
                                                    auth: dict[str, str], query: str,
                                                    status: int, code: str) -> None:
    response = await client.get(f"/v1/flows/f/diff?{query}", headers=auth)
    assert (response.status, (await response.json())["code"]) == (status, code)


async def test_a_diff_needs_a_token(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/v1/flows/f/diff?from=1&to=2")).status == 401


def test_bytes_that_are_not_utf8_are_replaced_and_a_missing_newline_is_marked() -> None:
    older = FlowVersion("f", 1, "sha256:a", b"a: \xff\nb: 1", "application/yaml", 0.0)
    newer = FlowVersion("f", 2, "sha256:b", b"a: \xff\nb: 2", "application/yaml", 0.0)
    assert unified_diff(older, newer) == (
        "--- f@1\n+++ f@2\n@@ -1,2 +1,2 @@\n a: \ufffd\n-b: 1\n\\ No newline at end of file\n"
        "+b: 2\n\\ No newline at end of file\n")
