"""Routing: the table as a document, resolution and its precedence, the
warnings, and `/v1/routes` over REST."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from interpreter.errors import DocumentError
from interpreter.server.app import build_app
from interpreter.server.routing import address_matches, check, load_table, normalized, resolve
from interpreter.server.sqlite_store import SqliteStore
from interpreter.server.store import Route, RoutingTable, Scope
from tests.server.tokens import bearer

TABLE = RoutingTable(
    routes=(Route("acme", params=(("tenant", "acme"),)),
            Route("sales", to="+15551230001"),
            Route("us", to="+1555*"),
            Route("support", to="sip:support@example.com"),
            Route("acme-fr", params=(("tenant", "acme"), ("lang", "fr")))),
    default="fallback")

TABLE_YAML = b"""\
routes:
  - to: "+15551230001"
    flow: sales
  - to: "+1555*"
    flow: us
  - params: {tenant: acme}
    flow: acme
default: fallback
"""


def test_a_flow_named_when_the_call_starts_beats_every_route() -> None:
    found = resolve(TABLE, {"to": "+15551230001"}, {"tenant": "acme"}, named="chosen")
    assert found is not None and (found.flow, found.by) == ("chosen", "named")


def test_the_called_address_beats_custom_parameters() -> None:
    # A params route comes first in the table, yet the address decides.
    found = resolve(TABLE, {"to": "+15551230001"}, {"tenant": "acme"})
    assert found is not None and (found.flow, found.by, found.route) == ("sales", "to", 1)


def test_routes_of_one_kind_match_in_table_order() -> None:
    exact = resolve(TABLE, {"to": "+15551230001"})
    prefix = resolve(TABLE, {"to": "+15559999999"})
    assert exact is not None and exact.flow == "sales"  # before the prefix below it
    assert prefix is not None and (prefix.flow, prefix.route) == ("us", 2)
    # Both params routes match; the first written wins.
    both = resolve(TABLE, {"to": "+4420"}, {"tenant": "acme", "lang": "fr"})
    assert both is not None and (both.flow, both.by) == ("acme", "params")


def test_custom_parameters_route_when_the_address_does_not() -> None:
    found = resolve(TABLE, {"to": "+4420"}, {"tenant": "acme", "other": "x"})
    assert found is not None and (found.flow, found.by) == ("acme", "params")
    assert resolve(TABLE, {"to": "+4420"}, {"tenant": "other"}).flow == "fallback"  # type: ignore[union-attr]


def test_the_default_answers_what_nothing_else_routes_and_none_without_one() -> None:
    found = resolve(TABLE, {"to": "+4420"})
    assert found is not None and (found.flow, found.by) == ("fallback", "default")
    assert resolve(RoutingTable(TABLE.routes), {"to": "+4420"}) is None
    assert resolve(RoutingTable(TABLE.routes), {}) is None


@pytest.mark.parametrize(("pattern", "called", "matches"), [
    ("+15551230001", "+15551230001", True),
    ("+15551230001", "15551230001", False),  # numbers compare as written
    ("+15551230001", " +15551230001 ", True),
    ("+1555*", "+1555", True),
    ("+1555*", "+1556000", False),
    ("sip:support@example.com", "<SIP:Support@Example.com;transport=tls>", True),
    ("sip:support@example.com", "sip:sales@example.com", False),
    ("sip:support@*", "sip:Support@anywhere.example", True),
])
def test_address_patterns(pattern: str, called: str, matches: bool) -> None:
    assert address_matches(pattern, normalized(called)) is matches


def test_a_table_loads_from_yaml_and_json_alike() -> None:
    yaml_table, _, warnings = load_table(TABLE_YAML, "routes.yaml")
    json_table, _, _ = load_table(
        b'{"routes": [{"to": "+15551230001", "flow": "sales"}, {"to": "+1555*", "flow": "us"},'
        b' {"params": {"tenant": "acme"}, "flow": "acme"}], "default": "fallback"}',
        "routes.json")
    assert yaml_table == json_table
    assert yaml_table.routes[2] == Route("acme", params=(("tenant", "acme"),))
    assert (yaml_table.default, warnings) == ("fallback", [])


def test_every_error_of_a_table_is_reported_at_once_with_its_position() -> None:
    bad = (b"routes:\n"
           b"  - {to: '+1', params: {a: b}, flow: x}\n"
           b"  - {to: '*', flow: x}\n"
           b"  - {to: '+1*2', flow: x}\n"
           b"  - {params: {n: 1}, flow: x}\n"
           b"  - {to: '+2', flow: Bad_Name}\n"
           b"  - {to: '+3', flwo: x}\n"
           b"defualt: y\n")
    with pytest.raises(DocumentError) as refused:
        load_table(bad, "routes.yaml")
    found = [(d.code, d.span.line) for d in refused.value.diagnostics]
    assert found == [("CK902", 2), ("CK902", 3), ("CK902", 4), ("CK902", 5), ("CK902", 6),
                     ("CK902", 7), ("CK901", 7), ("CK901", 8)]
    typo = [d for d in refused.value.diagnostics if d.code == "CK901"]
    assert typo[1].hint == 'did you mean "default"?'


def test_a_route_an_earlier_one_covers_is_a_warning() -> None:
    source = (b"routes:\n  - {to: '+1555*', flow: us}\n  - {to: '+15551230001', flow: sales}\n"
              b"  - {params: {tenant: acme}, flow: acme}\n"
              b"  - {params: {tenant: acme, lang: fr}, flow: acme-fr}\n"
              b"  - {to: '+1666', flow: ok}\n")
    _, _, warnings = load_table(source, "routes.yaml")
    assert [(d.code, d.span.line) for d in warnings] == [("CK904", 3), ("CK904", 5)]
    assert "route 1 matches every call" in warnings[0].message


def test_routes_to_flows_that_do_not_exist_are_warnings() -> None:
    table, doc, _ = load_table(TABLE_YAML, "routes.yaml")
    warnings = check(table, ["sales", "us", "acmee"], doc)
    assert [(d.code, d.span.line, d.severity.value) for d in warnings] == [
        ("CK903", 7, "warning"), ("CK903", 8, "warning")]
    assert warnings[0].hint == 'did you mean "acmee"?'
    assert 'flow "fallback" does not exist' in warnings[1].message
    assert check(table, ["sales", "us", "acme", "fallback"]) == []


# ------------------------------------------------------------ REST

@pytest.fixture
async def client(aiohttp_client: Any, store: SqliteStore) -> TestClient[Any, Any]:
    made: TestClient[Any, Any] = await aiohttp_client(build_app(store))
    return made


async def test_put_routes_stores_the_table_and_warns_of_missing_flows(
        client: TestClient[Any, Any], store: SqliteStore, auth: dict[str, str]) -> None:
    await store.add_version("sales", b"sections: {main: []}\n", "application/yaml",
                            "sha256:s", ())
    await store.bind_flow("us", "https://u:p@swml.example/us")
    response = await client.put("/v1/routes", data=TABLE_YAML,
                                headers={**auth, "Content-Type": "application/yaml"})
    assert response.status == 200
    body = await response.json()
    assert body["routes"][1] == {"to": "+1555*", "flow": "us"}
    assert body["default"] == "fallback"
    assert [d["code"] for d in body["diagnostics"]] == ["CK903", "CK903"]
    assert body["warnings"][0].startswith("routes.yaml:7:11: warning CK903 route 3")
    listed = await (await client.get("/v1/routes", headers=auth)).json()
    assert {k: listed[k] for k in ("routes", "default")} == \
        {k: body[k] for k in ("routes", "default")}
    assert listed["updated_at"] == body["updated_at"]
    assert len(listed["warnings"]) == 2
    # What GET returns, PUT takes back.
    again = await client.put("/v1/routes", json={"routes": listed["routes"],
                                                 "default": None}, headers=auth)
    assert again.status == 200 and (await again.json())["default"] is None


async def test_a_bad_table_is_422_with_every_diagnostic_and_nothing_changes(
        client: TestClient[Any, Any], store: SqliteStore, auth: dict[str, str]) -> None:
    response = await client.put("/v1/routes", data=b"routes:\n  - {to: 5, flow: x}\n",
                                headers={**auth, "Content-Type": "application/yaml"})
    assert response.status == 422
    problem = await response.json()
    assert problem["code"] == "invalid-routes"
    assert [(e["code"], e["line"], e["col"]) for e in problem["errors"]] == [("CK902", 2, 10)]
    assert await store.routing() == RoutingTable()


async def test_routes_need_a_table_media_type_and_the_scopes(
        client: TestClient[Any, Any], store: SqliteStore, auth: dict[str, str]) -> None:
    plain = await client.put("/v1/routes", data=b"{}",
                             headers={**auth, "Content-Type": "text/plain"})
    assert plain.status == 415
    reader = await bearer(store, Scope.READ)
    forbidden = await client.put("/v1/routes", json={}, headers=reader)
    assert (forbidden.status, (await forbidden.json())["code"]) == (403, "forbidden")
    assert (await client.get("/v1/routes", headers=reader)).status == 200
    assert (await client.get("/v1/routes")).status == 401
