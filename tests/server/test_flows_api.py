"""REST v1 flows: every endpoint with good and bad input, on a real SQLite
store in a temporary folder, through aiohttp's test client on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from interpreter.commands.lint import lint_file
from interpreter.commands.sources import shown_value
from interpreter.document.loader import load_document
from interpreter.server.app import build_app
from interpreter.server.auth import create_token
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Scope

REPO = Path(__file__).resolve().parents[2]
LINT = REPO / "tests" / "data" / "lint"
SUPPORT = (REPO / "flows" / "support.yaml").read_bytes()
YAML = {"Content-Type": "application/yaml"}
JSON_TYPE = {"Content-Type": "application/json"}
PROBLEM = "application/problem+json"

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def auth(store: SqliteStore) -> dict[str, str]:
    _, secret = await create_token(store, "author", {Scope.READ, Scope.FLOWS})
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
async def client(store: SqliteStore, aiohttp_client: Any) -> Client:
    made: Client = await aiohttp_client(build_app(store, max_body_bytes=1_048_576))
    return made


async def upload(client: Client, auth: dict[str, str], name: str, body: bytes,
                 content_type: str = "application/yaml") -> dict[str, Any]:
    response = await client.post(f"/v1/flows/{name}", data=body,
                                 headers={**auth, "Content-Type": content_type})
    assert response.status == 201, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert the response is the problem document `code` with `status`."""
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == PROBLEM
    body: dict[str, Any] = json.loads(text)
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"https://callkernel.dev/problems/{code}"
    assert body["title"] and body["detail"]
    assert "Traceback" not in text
    return body


def json_flow() -> bytes:
    """support.yaml as JSON, with idiosyncratic spacing a re-serializer would lose."""
    data = load_document(SUPPORT, "support.yaml").data
    return json.dumps(data, indent=3, separators=(" ,", " : ")).encode() + b"\n\n"


# ------------------------------------------------------------ upload

async def test_upload_stores_a_draft_version_with_its_hash(client: Client,
                                                           auth: dict[str, str]) -> None:
    response = await client.post("/v1/flows/support", data=SUPPORT, headers={**auth, **YAML})
    assert response.status == 201
    body = await response.json()
    assert body["name"] == "support" and body["version"] == 1 and body["live"] is False
    assert body["content_hash"].startswith("sha256:")
    assert response.headers["Location"] == "/v1/flows/support/versions/1"
    second = await upload(client, auth, "support", SUPPORT)
    assert second["version"] == 2
    assert second["content_hash"] == body["content_hash"]


@pytest.mark.parametrize("content_type", ["application/yaml", "application/x-yaml", "text/yaml",
                                          "application/yaml; charset=utf-8"])
async def test_every_yaml_media_type_is_accepted_and_stored_as_yaml(
        client: Client, auth: dict[str, str], content_type: str) -> None:
    await upload(client, auth, "support", SUPPORT, content_type)
    response = await client.get("/v1/flows/support/source", headers=auth)
    assert response.content_type == "application/yaml"


@pytest.mark.parametrize("kind", ["yaml", "json"])
async def test_source_round_trips_byte_for_byte(client: Client, auth: dict[str, str],
                                                kind: str) -> None:
    body, media = (SUPPORT, "application/yaml") if kind == "yaml" else (json_flow(),
                                                                        "application/json")
    await upload(client, auth, "support", body, media)
    for url in ("/v1/flows/support/versions/1", "/v1/flows/support/source?version=1",
                "/v1/flows/support/source"):
        response = await client.get(url, headers={**auth, "Accept": "*/*"})
        assert response.status == 200
        assert response.content_type == media
        assert response.headers["X-Flow-Version"] == "1"
        assert await response.read() == body


async def test_upload_reports_and_stores_lint_warnings(client: Client,
                                                       auth: dict[str, str]) -> None:
    raw = (LINT / "CK301.yaml").read_bytes()
    body = await upload(client, auth, "survey", raw)
    expected = lint_file(raw, "survey.yaml")
    assert [d["code"] for d in body["diagnostics"]] == ["CK301"]
    assert body["warnings"] == [str(d) for d in expected]
    assert body["warnings"][0].startswith("survey.yaml:17:25: warning CK301")
    listed = await (await client.get("/v1/flows/survey/versions", headers=auth)).json()
    assert listed["versions"][0]["warnings"] == body["warnings"]


@pytest.mark.parametrize(("file", "media"), [
    ("mixed_booking.yaml", "application/yaml"),  # lint errors and warnings together
    ("yaml_unclosed_quote.yaml", "application/yaml"),  # not YAML
    ("CK004.yaml", "application/yaml"),  # an alias bomb
    ("CK007.json", "application/json"),  # not JSON
    ("CK009.yaml", "application/yaml"),  # a number out of range
])
async def test_a_bad_document_gets_422_with_the_diagnostics_lint_prints(
        client: Client, auth: dict[str, str], file: str, media: str) -> None:
    raw = (LINT / file).read_bytes()
    response = await client.post("/v1/flows/bad", data=raw,
                                 headers={**auth, "Content-Type": media})
    body = await problem(response, 422, "invalid-document")
    lint_name = "bad" + (".json" if media == "application/json" else ".yaml")
    expected = [shown_value(d.as_json()) for d in lint_file(raw, lint_name)]
    assert expected and body["errors"] == expected
    for diagnostic in body["errors"]:
        assert {"code", "severity", "message", "line", "col", "hint"} <= diagnostic.keys()
    missing = await client.get("/v1/flows/bad", headers=auth)
    await problem(missing, 404, "not-found")  # nothing stored


async def test_every_diagnostic_comes_back_at_once(client: Client,
                                                   auth: dict[str, str]) -> None:
    raw = (LINT / "mixed_booking.yaml").read_bytes()
    response = await client.post("/v1/flows/booking", data=raw, headers={**auth, **YAML})
    body = await problem(response, 422, "invalid-document")
    assert [(d["code"], d["line"], d["col"]) for d in body["errors"]] == [
        ("CK103", 29, 33), ("CK301", 30, 25), ("CK305", 59, 25)]


async def test_an_alias_bomb_is_refused_without_expanding_it(client: Client,
                                                             auth: dict[str, str]) -> None:
    raw = (LINT / "CK004.yaml").read_bytes()
    response = await client.post("/v1/flows/bomb", data=raw, headers={**auth, **YAML})
    body = await problem(response, 422, "invalid-document")
    assert [(d["code"], d["line"]) for d in body["errors"]] == [("CK004", 12)]


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream",
                                          "application/yaml; charset=latin-1",
                                          "multipart/form-data; boundary=x"])
async def test_wrong_content_type_is_415(client: Client, auth: dict[str, str],
                                         content_type: str) -> None:
    response = await client.post("/v1/flows/support", data=SUPPORT,
                                 headers={**auth, "Content-Type": content_type})
    await problem(response, 415, "unsupported-media-type")


async def test_body_over_the_limit_by_content_length_is_413(aiohttp_client: Any,
                                                            store: SqliteStore,
                                                            auth: dict[str, str]) -> None:
    client = await aiohttp_client(build_app(store, max_body_bytes=1000))
    response = await client.post("/v1/flows/support", data=SUPPORT, headers={**auth, **YAML})
    body = await problem(response, 413, "payload-too-large")
    assert "1,000 bytes" in body["detail"]


async def test_chunked_body_over_the_limit_is_413_while_reading(aiohttp_client: Any,
                                                                store: SqliteStore,
                                                                auth: dict[str, str]) -> None:
    client = await aiohttp_client(build_app(store, max_body_bytes=1000))

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for _ in range(50):
            yield b"# padding padding padding padding padding padding\n"

    response = await client.post("/v1/flows/support", data=chunks(), headers={**auth, **YAML})
    assert "Content-Length" not in response.request_info.headers
    await problem(response, 413, "payload-too-large")


async def test_chunked_body_under_the_limit_is_read_whole(client: Client,
                                                          auth: dict[str, str]) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(SUPPORT), 100):
            yield SUPPORT[start:start + 100]

    response = await client.post("/v1/flows/support", data=chunks(), headers={**auth, **YAML})
    assert response.status == 201
    source = await client.get("/v1/flows/support/source", headers=auth)
    assert await source.read() == SUPPORT


@pytest.mark.parametrize("name", ["Support", "-support", "a" * 65, "sup.port", "sup%20port"])
async def test_invalid_flow_name_is_400(client: Client, auth: dict[str, str], name: str) -> None:
    response = await client.post(f"/v1/flows/{name}", data=SUPPORT, headers={**auth, **YAML})
    await problem(response, 400, "invalid-flow-name")
    await problem(await client.get(f"/v1/flows/{name}", headers=auth), 400, "invalid-flow-name")


async def test_a_large_flow_does_not_stall_other_requests(client: Client,
                                                          auth: dict[str, str]) -> None:
    head = 'version: "1.0.0"\nsections:\n  main:\n    - answer: {}\n'
    steps = (f'    - set: {{v{i}: "value number {i}"}}\n' for i in range(100_000))
    raw = (head + "".join(steps)[:1_000_000].rpartition("\n")[0] + "\n").encode()
    assert 990_000 < len(raw) <= 1_048_576
    upload_task = asyncio.create_task(
        client.post("/v1/flows/big", data=raw, headers={**auth, **YAML}))
    # Several round trips while the big flow compiles: on a blocked event loop
    # these would wait for the compile, and the upload would be done by then.
    started = time.perf_counter()
    for _ in range(5):
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/v1/flows", headers=auth)).status == 200
    answered = time.perf_counter() - started
    assert not upload_task.done(), f"other requests took {answered:.3f} s"
    response = await upload_task
    assert response.status == 201


# ------------------------------------------------------------ reading

async def test_list_and_get_flows(client: Client, auth: dict[str, str]) -> None:
    assert await (await client.get("/v1/flows", headers=auth)).json() == {"flows": [], "bound": []}
    await upload(client, auth, "support", SUPPORT)
    await upload(client, auth, "support", SUPPORT)
    await upload(client, auth, "alpha", SUPPORT)
    flows = (await (await client.get("/v1/flows", headers=auth)).json())["flows"]
    assert [(f["name"], f["versions"], f["latest"], f["live"]) for f in flows] == [
        ("alpha", 1, 1, None), ("support", 2, 2, None)]
    one = await (await client.get("/v1/flows/support", headers=auth)).json()
    assert one == flows[1]


async def test_versions_list_and_metadata(client: Client, auth: dict[str, str]) -> None:
    first = await upload(client, auth, "support", SUPPORT)
    await upload(client, auth, "support", json_flow(), "application/json")
    listed = await (await client.get("/v1/flows/support/versions", headers=auth)).json()
    assert listed["name"] == "support"
    assert [(v["version"], v["media_type"], v["live"]) for v in listed["versions"]] == [
        (1, "application/yaml", False), (2, "application/json", False)]
    assert listed["versions"][0]["size"] == len(SUPPORT)
    assert "source" not in listed["versions"][0]
    meta = await client.get("/v1/flows/support/versions/1",
                            headers={**auth, "Accept": "application/json"})
    assert meta.content_type == "application/json"
    info = await meta.json()
    assert info["content_hash"] == first["content_hash"]
    assert info == listed["versions"][0]


async def test_source_selects_live_latest_or_a_number(client: Client,
                                                      auth: dict[str, str]) -> None:
    await upload(client, auth, "support", SUPPORT)
    second = SUPPORT + b"# the second version\n"
    await upload(client, auth, "support", second)
    live = await client.get("/v1/flows/support/source?version=live", headers=auth)
    await problem(live, 404, "not-found")  # nothing published yet
    await publish(client, auth, "support", {"version": 1})
    for which, expected in [("live", SUPPORT), ("latest", second), ("1", SUPPORT),
                            ("2", second)]:
        response = await client.get(f"/v1/flows/support/source?version={which}", headers=auth)
        assert await response.read() == expected, which


@pytest.mark.parametrize("url", ["/v1/flows/nope", "/v1/flows/nope/versions",
                                 "/v1/flows/nope/versions/1", "/v1/flows/nope/source"])
async def test_unknown_flow_is_404(client: Client, auth: dict[str, str], url: str) -> None:
    await problem(await client.get(url, headers=auth), 404, "not-found")


@pytest.mark.parametrize("url", ["/v1/flows/support/versions/9",
                                 "/v1/flows/support/source?version=9"])
async def test_unknown_version_is_404(client: Client, auth: dict[str, str], url: str) -> None:
    await upload(client, auth, "support", SUPPORT)
    await problem(await client.get(url, headers=auth), 404, "not-found")


@pytest.mark.parametrize("url", ["/v1/flows/support/versions/abc",
                                 "/v1/flows/support/versions/0",
                                 "/v1/flows/support/source?version=first",
                                 "/v1/flows/support/source?version=-1"])
async def test_malformed_version_is_400(client: Client, auth: dict[str, str], url: str) -> None:
    await upload(client, auth, "support", SUPPORT)
    await problem(await client.get(url, headers=auth), 400, "invalid-request")


# ------------------------------------------------------------ publish and roll back

async def publish(client: Client, auth: dict[str, str], name: str, body: dict[str, Any],
                  action: str = "publish") -> Any:
    return await client.post(f"/v1/flows/{name}/{action}", json=body, headers=auth)


async def test_publish_makes_a_version_live(client: Client, auth: dict[str, str]) -> None:
    await upload(client, auth, "support", SUPPORT)
    await upload(client, auth, "support", SUPPORT)
    response = await publish(client, auth, "support", {"version": 1, "expected_live": None})
    assert response.status == 200
    assert (await response.json())["live"] == 1
    response = await publish(client, auth, "support", {"version": 2, "expected_live": 1})
    summary = await response.json()
    assert (summary["live"], summary["latest"], summary["versions"]) == (2, 2, 2)
    listed = await (await client.get("/v1/flows/support/versions", headers=auth)).json()
    assert [v["live"] for v in listed["versions"]] == [False, True]


async def test_publish_with_a_stale_expected_live_is_409(client: Client,
                                                         auth: dict[str, str]) -> None:
    for _ in range(3):
        await upload(client, auth, "support", SUPPORT)
    await publish(client, auth, "support", {"version": 2})
    response = await publish(client, auth, "support", {"version": 3, "expected_live": 1})
    await problem(response, 409, "conflict")
    assert (await (await client.get("/v1/flows/support", headers=auth)).json())["live"] == 2


async def test_concurrent_publishes_expecting_the_same_live_one_wins(
        client: Client, auth: dict[str, str]) -> None:
    for _ in range(4):
        await upload(client, auth, "support", SUPPORT)
    await publish(client, auth, "support", {"version": 1})
    responses = await asyncio.gather(*(
        publish(client, auth, "support", {"version": 2 + i % 3, "expected_live": 1})
        for i in range(12)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] + [409] * 11
    winner = next(r for r in responses if r.status == 200)
    live = (await (await client.get("/v1/flows/support", headers=auth)).json())["live"]
    assert (await winner.json())["live"] == live != 1


async def test_rollback_returns_to_an_earlier_version(client: Client,
                                                      auth: dict[str, str]) -> None:
    for _ in range(3):
        await upload(client, auth, "support", SUPPORT)
    await publish(client, auth, "support", {"version": 3})
    response = await publish(client, auth, "support", {"version": 1}, "rollback")
    assert response.status == 200
    assert (await response.json())["live"] == 1


@pytest.mark.parametrize(("live", "target"), [(None, 1), (2, 2), (2, 3)])
async def test_rollback_to_a_version_not_older_than_live_is_409(
        client: Client, auth: dict[str, str], live: int | None, target: int) -> None:
    for _ in range(3):
        await upload(client, auth, "support", SUPPORT)
    if live is not None:
        await publish(client, auth, "support", {"version": live})
    response = await publish(client, auth, "support", {"version": target}, "rollback")
    await problem(response, 409, "conflict")
    summary = await (await client.get("/v1/flows/support", headers=auth)).json()
    assert summary["live"] == live


@pytest.mark.parametrize("action", ["publish", "rollback"])
async def test_publish_or_rollback_of_an_unknown_version_or_flow_is_404(
        client: Client, auth: dict[str, str], action: str) -> None:
    await upload(client, auth, "support", SUPPORT)
    await upload(client, auth, "support", SUPPORT)
    await publish(client, auth, "support", {"version": 2})
    await problem(await publish(client, auth, "support", {"version": 9}, action),
                  404, "not-found")
    await problem(await publish(client, auth, "nope", {"version": 1}, action), 404, "not-found")


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"version": "2"}', b'{"version": 0}',
                                  b'{"version": true}', b'{}',
                                  b'{"version": 1, "expected_live": "1"}'])
async def test_a_malformed_command_is_400(client: Client, auth: dict[str, str],
                                          body: bytes) -> None:
    await upload(client, auth, "support", SUPPORT)
    response = await client.post("/v1/flows/support/publish", data=body,
                                 headers={**auth, **JSON_TYPE})
    await problem(response, 400, "invalid-request")


async def test_a_command_needs_a_json_body_under_its_limit(client: Client,
                                                          auth: dict[str, str]) -> None:
    await upload(client, auth, "support", SUPPORT)
    response = await client.post("/v1/flows/support/publish", data=b'{"version": 1}',
                                 headers={**auth, **YAML})
    await problem(response, 415, "unsupported-media-type")
    padded = b'{"version": 1, "pad": "' + b"x" * 20_000 + b'"}'
    response = await client.post("/v1/flows/support/publish", data=padded,
                                 headers={**auth, **JSON_TYPE})
    await problem(response, 413, "payload-too-large")


# ------------------------------------------------------------ delete

async def test_delete_removes_the_flow_and_its_versions(client: Client,
                                                        auth: dict[str, str]) -> None:
    await upload(client, auth, "support", SUPPORT)
    response = await client.delete("/v1/flows/support", headers=auth)
    assert response.status == 204
    await problem(await client.get("/v1/flows/support/versions", headers=auth), 404,
                  "not-found")
    await problem(await client.delete("/v1/flows/support", headers=auth), 404, "not-found")
    again = await upload(client, auth, "support", SUPPORT)
    assert again["version"] == 2  # never 1 again: call records may name the old one


async def test_a_flow_in_use_is_not_deleted(client: Client, auth: dict[str, str]) -> None:
    await upload(client, auth, "support", SUPPORT)
    routed = await client.put("/v1/routes", data=b"default: support\n",
                              headers={**auth, "Content-Type": "application/yaml"})
    assert routed.status == 200, await routed.text()
    refused = await client.delete("/v1/flows/support", headers=auth)
    assert "routing table" in (await problem(refused, 409, "conflict"))["detail"]


# ------------------------------------------------------------ the rest of HTTP

async def test_health_and_readiness_need_no_token(client: Client) -> None:
    assert await (await client.get("/healthz")).json() == {"status": "ok"}
    assert await (await client.get("/readyz")).json() == {"status": "ready"}


async def test_readiness_fails_when_the_store_does_not_answer(client: Client,
                                                              store: SqliteStore) -> None:
    await store.close()
    await problem(await client.get("/readyz"), 503, "store-unavailable")
    assert (await client.get("/healthz")).status == 200


async def test_unknown_route_is_a_404_problem(client: Client, auth: dict[str, str]) -> None:
    await problem(await client.get("/v1/nothing", headers=auth), 404, "not-found")
    await problem(await client.get("/v1/flows/a/b/c", headers=auth), 404, "not-found")


async def test_wrong_method_is_a_405_problem(client: Client, auth: dict[str, str]) -> None:
    response = await client.put("/v1/flows/support", data=SUPPORT, headers={**auth, **YAML})
    await problem(response, 405, "method-not-allowed")
    assert set(response.headers["Allow"].split(",")) >= {"GET", "POST", "DELETE"}
    await problem(await client.post("/healthz"), 405, "method-not-allowed")


async def test_an_unexpected_error_is_a_500_problem_without_a_traceback(
        store: SqliteStore, aiohttp_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    _, secret = await create_token(store, "admin", {Scope.ADMIN})

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("secret internal state")

    app = build_app(store)
    app.router.add_get("/v1/broken", broken)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR, logger="callkernel.server"):
        response = await client.get("/v1/broken", headers={"Authorization": f"Bearer {secret}"})
    body = await problem(response, 500, "internal-error")
    assert "secret internal state" not in json.dumps(body)
    assert "secret internal state" in caplog.text and "Traceback" in caplog.text


async def test_a_store_failure_is_a_503_problem(client: Client, store: SqliteStore,
                                                auth: dict[str, str]) -> None:
    await store.close()
    await problem(await client.get("/v1/flows", headers=auth), 503, "store-unavailable")


async def test_a_body_that_stops_arriving_is_408_not_held_forever(
        client: Client, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from interpreter.server import requests as server_requests

    monkeypatch.setattr(server_requests, "BODY_SECONDS", 0.2)

    async def trickle() -> AsyncIterator[bytes]:
        yield b"version: 1.0.0\n"
        await asyncio.sleep(5)  # then nothing more for longer than the bound
        yield b"sections: {}\n"

    response = await client.post("/v1/flows/slow", data=trickle(),
                                 headers={**auth, "Content-Type": "application/yaml"})
    assert response.status == 408
    assert (await response.json())["code"] == "request-timeout"
