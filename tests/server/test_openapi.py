"""The OpenAPI document: it describes exactly the routes the app serves, with
the scopes they enforce; it holds together as OpenAPI 3.1; it is served
without a token; and docs/rest-api.md is its rendering."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from interpreter.server.app import build_app
from interpreter.server.auth import PUBLIC_PATHS, is_public, required_scope
from interpreter.server.openapi import OPENAPI, render_markdown
from interpreter.server.problems import CODES, PROBLEM_JSON
from interpreter.server.sqlite_store import SqliteStore

REPO = Path(__file__).resolve().parents[2]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture
async def app(store: SqliteStore) -> web.Application:
    return build_app(store)


def served(app: web.Application) -> dict[tuple[str, str], Any]:
    """(method, path) of every route the app serves (HEAD comes with GET), and its handler."""
    return {(route.method.lower(), route.resource.canonical): route.handler
            for route in app.router.routes()
            if route.method != "HEAD" and route.resource is not None}


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in OPENAPI["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


async def test_every_served_route_is_documented_and_every_documented_one_served(
        app: web.Application) -> None:
    documented = {(method, path) for path, method, _ in operations()}
    assert set(served(app)) == documented


async def test_each_operation_lists_the_scope_its_route_enforces(app: web.Application) -> None:
    handlers = served(app)
    for path, method, operation in operations():
        if path in PUBLIC_PATHS or is_public(handlers[method, path]):
            assert operation["security"] == [], path
        else:
            expected = [{"bearer": [required_scope(handlers[method, path]).value]}]
            assert operation["security"] == expected, (method, path)
            assert {"401", "403"} <= operation["responses"].keys()


async def test_the_document_is_served_as_json(aiohttp_client: Any, app: web.Application,
                                              auth: dict[str, str]) -> None:
    client = await aiohttp_client(app)
    response = await client.get("/v1/openapi.json", headers=auth)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert json.loads(await response.text()) == json.loads(json.dumps(OPENAPI))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_document_holds_together_as_openapi_3_1() -> None:
    assert OPENAPI["openapi"].startswith("3.1.")
    assert {"title", "version"} <= OPENAPI["info"].keys()
    schemas = OPENAPI["components"]["schemas"]
    for ref in _refs(OPENAPI):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    operation_ids = [operation["operationId"] for _, _, operation in operations()]
    assert len(operation_ids) == len(set(operation_ids))
    schemes = OPENAPI["components"]["securitySchemes"]
    for path, method, operation in operations():
        assert method in METHODS
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)
        assert all(p.get("required") for p in operation.get("parameters", [])
                   if p["in"] == "path")
        for requirement in operation["security"]:
            assert requirement.keys() <= schemes.keys()
        responses = operation["responses"]
        # A success, or 101: the WebSocket upgrade
        assert any(status.startswith(("1", "2")) for status in responses), (method, path)
        for status, response in responses.items():
            assert re.fullmatch(r"[1-5]\d\d", status) and response["description"]
            if int(status) >= 400:  # every error is a problem document
                assert list(response["content"]) == [PROBLEM_JSON], (method, path, status)
    assert schemas["Problem"]["properties"]["code"]["enum"] == sorted(CODES)


def test_the_rest_api_page_is_the_rendered_document() -> None:
    page = (REPO / "docs" / "rest-api.md").read_text(encoding="utf-8")
    assert page == render_markdown(), (
        "docs/rest-api.md is stale: python -m interpreter.server.openapi > docs/rest-api.md")


def test_the_page_names_every_route_and_problem_code() -> None:
    page = render_markdown()
    for path, method, _ in operations():
        assert f"### {method.upper()} `{path}`" in page
    for code in CODES:
        assert f"| `{code}` |" in page
