"""Which flow answers a call: the routing table as a document, its resolution
against a call, its check against the flows there are, and REST v1 `/v1/routes`.

A table (YAML or JSON; docs/operations.md, "Routing"):

    routes:
      - {to: "+15551230001", flow: sales}          # the called address, exactly
      - {to: "+1555*", flow: us-support}           # ... or a prefix: a trailing *
      - {to: "sip:support@example.com", flow: support}
      - {params: {tenant: acme}, flow: acme}       # a transport's custom parameters
    default: fallback                              # no route matched

Precedence, first that gives a flow wins:

1. the flow named when the call is started (REST `POST /v1/calls`): an
   explicit request beats any table;
2. `to` routes, in table order, against the called address: it is on every
   call and it is what an operator provisions a flow for;
3. `params` routes, in table order: a route matches when every name=value it
   lists is among the call's custom parameters. They come second because a
   transport's parameters are optional extras set by whoever connects the
   stream: they tell apart calls whose address routes nowhere (a shared
   ingress number, a WebSocket stream without a meaningful `to`);
4. `default`.

Addresses compare after trimming blanks and `<...>`; SIP (`sip:`, `sips:`)
addresses also without their `;parameters` and case-insensitively. Numbers
compare as written: "+15551230001" is not "15551230001".

Resolution is pure (`resolve`); `check` finds, as warnings, routes to flows
that do not exist and routes an earlier one shadows (they can never match).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from interpreter.diagnostics import Diagnostic, JSONPath, Severity, Span, sort_diagnostics
from interpreter.document.loader import SourceDocument, load_document
from interpreter.document.reader import DocumentReader
from interpreter.document.schema import did_you_mean
from interpreter.errors import DocumentError
from interpreter.jsontypes import JSONValue
from interpreter.server.auth import STORE, requires
from interpreter.server.problems import Problem, diagnostic_json
from interpreter.server.requests import COMMAND_MAX_BYTES, FLOW_NAME, read_body
from interpreter.server.store import Route, RoutingTable, Scope, Store

# Diagnostic codes of routing tables (documented in docs/operations.md).
UNKNOWN_KEY = "CK901"  # error
INVALID_VALUE = "CK902"  # error
MISSING_FLOW = "CK903"  # warning: a route to a flow that does not exist
SHADOWED = "CK904"  # warning: an earlier route matches every call this one would

MAX_ROUTES = 10_000
MAX_ADDRESS = 256
# Routing tables are small: far less than a flow, a little more than a command.
TABLE_MAX_BYTES = max(COMMAND_MAX_BYTES, 256 * 1024)
_TOP = ("routes", "default")
_ROUTE = ("to", "params", "flow")
_SIP = ("sip:", "sips:")
_TABLE_TYPES = {"application/yaml": ".yaml", "application/x-yaml": ".yaml",
                "text/yaml": ".yaml", "application/json": ".json"}


@dataclass(frozen=True, slots=True)
class Resolution:
    """The flow a call goes to, and why."""

    flow: str
    by: str  # "named", "to", "params" or "default"
    route: int | None = None  # the index of the route that matched


# ------------------------------------------------------------ resolving

def resolve(table: RoutingTable, call: Mapping[str, JSONValue],
            params: Mapping[str, str] | None = None, *,
            named: str | None = None) -> Resolution | None:
    """The flow for a call with these details (`call["to"]`, the called
    address) and custom parameters; None when nothing routes it."""
    if named is not None:
        return Resolution(named, "named")
    to = call.get("to")
    if isinstance(to, str) and to.strip():
        address = normalized(to)
        for index, route in enumerate(table.routes):
            if route.to is not None and address_matches(route.to, address):
                return Resolution(route.flow, "to", index)
    if params:
        for index, route in enumerate(table.routes):
            if route.params and all(params.get(name) == value
                                    for name, value in route.params):
                return Resolution(route.flow, "params", index)
    if table.default is not None:
        return Resolution(table.default, "default")
    return None


def normalized(address: str) -> str:
    """An address as routes compare it (see the module's docstring)."""
    text = address.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if text.lower().startswith(_SIP):
        text = text.split(";", 1)[0].lower()
    return text


def address_matches(pattern: str, address: str) -> bool:
    """Whether a route's `to` matches a normalized called address."""
    if pattern.endswith("*"):
        return address.startswith(normalized(pattern[:-1]))
    return address == normalized(pattern)


# ------------------------------------------------------------ the document

def table_json(table: RoutingTable) -> dict[str, Any]:
    """The table as its document's JSON: what GET returns and PUT takes back."""
    routes: list[dict[str, Any]] = []
    for route in table.routes:
        rule: dict[str, Any] = {"to": route.to} if route.to is not None else {
            "params": dict(route.params)}
        routes.append({**rule, "flow": route.flow})
    return {"routes": routes, "default": table.default}


def load_table(source: bytes | str, file: str
               ) -> tuple[RoutingTable, SourceDocument, list[Diagnostic]]:
    """A checked table from a YAML or JSON document, the document, and its
    warnings (shadowed routes); DocumentError lists every error at once."""
    doc = load_document(source, file)
    reader = _Reader(doc)
    table = reader.table()
    if reader.found:
        raise DocumentError(sort_diagnostics(reader.found))
    return table, doc, sort_diagnostics(_shadowed(table, doc))


def check(table: RoutingTable, flows: Iterable[str],
          doc: SourceDocument | None = None) -> list[Diagnostic]:
    """Warnings for routes (and the default) naming flows not in `flows`.
    With the table's document they point at its lines; without (a stored
    table), at line 1 of "routes", their messages saying which route."""
    known = set(flows)
    found: list[Diagnostic] = []

    def warn(path: JSONPath, what: str, name: str) -> None:
        message = f'{what}: flow "{name}" does not exist (calls routed to it get an apology)'
        hint = did_you_mean(name, sorted(known))
        if doc is not None:
            found.append(doc.diagnostic(MISSING_FLOW, Severity.WARNING, message, path,
                                        hint=hint))
        else:
            found.append(Diagnostic(MISSING_FLOW, Severity.WARNING, message,
                                    Span("routes", 1, 1), path, hint))

    for index, route in enumerate(table.routes):
        if route.flow not in known:
            warn(("routes", index, "flow"), f"route {index + 1}", route.flow)
    if table.default is not None and table.default not in known:
        warn(("default",), "default", table.default)
    return found if doc is None else sort_diagnostics(found)


def _shadowed(table: RoutingTable, doc: SourceDocument) -> Iterator[Diagnostic]:
    """Routes an earlier route of the same kind matches every call of."""
    for later, route in enumerate(table.routes):
        for earlier in range(later):
            first = table.routes[earlier]
            if _covers(first, route):
                yield doc.diagnostic(
                    SHADOWED, Severity.WARNING,
                    f"route {later + 1} never matches: route {earlier + 1} matches every "
                    "call it would", ("routes", later),
                    hint="move it above the broader route, or remove it")
                break


def _covers(first: Route, then: Route) -> bool:
    if first.to is not None and then.to is not None:
        if first.to.endswith("*"):
            return normalized(then.to.rstrip("*")).startswith(normalized(first.to[:-1]))
        return not then.to.endswith("*") and normalized(first.to) == normalized(then.to)
    if first.params and then.params:
        return set(first.params) <= set(then.params)
    return False


class _Reader(DocumentReader):
    """Checks the document and collects every error, as caller scripts do."""

    UNKNOWN_KEY, INVALID = UNKNOWN_KEY, INVALID_VALUE

    def table(self) -> RoutingTable:
        top = self.mapping((), self.doc.data, _TOP, "a routing table")
        if top is None:
            return RoutingTable()
        routes = top.get("routes", [])
        if not isinstance(routes, list):
            self.error(INVALID_VALUE, "routes must be a list of routes", ("routes",))
            routes = []
        elif len(routes) > MAX_ROUTES:
            self.error(INVALID_VALUE, f"{len(routes):,} routes: at most {MAX_ROUTES:,}",
                       ("routes",))
            routes = []
        default = top.get("default")
        if default is not None:
            default = self.flow(("default",), default)
        checked = (self.route(("routes", i), item) for i, item in enumerate(routes))
        return RoutingTable(tuple(route for route in checked if route is not None), default)

    def route(self, path: JSONPath, value: JSONValue) -> Route | None:
        item = self.mapping(path, value, _ROUTE, "a route")
        if item is None:
            return None
        flow = None
        if "flow" not in item:
            self.error(INVALID_VALUE, "a route needs `flow`: the flow that answers", path)
        else:
            flow = self.flow((*path, "flow"), item["flow"])
        if ("to" in item) == ("params" in item):
            self.error(INVALID_VALUE, "a route matches on `to` (the called address) or on "
                                      "`params` (custom parameters): exactly one", path)
            return None
        if "to" in item:
            to = self.address((*path, "to"), item["to"])
            return Route(flow or "", to=to) if to is not None and flow else None
        params = self.params((*path, "params"), item["params"])
        return Route(flow or "", params=params) if params and flow else None

    def flow(self, path: JSONPath, value: JSONValue) -> str | None:
        if not isinstance(value, str) or not FLOW_NAME.fullmatch(value):
            self.error(INVALID_VALUE, f"{value!r} is not a flow name: 1 to 64 of a-z, "
                                      "0-9, _ and -, starting with a letter or digit", path)
            return None
        return value

    def address(self, path: JSONPath, value: JSONValue) -> str | None:
        if not isinstance(value, str):
            self.error(INVALID_VALUE, "`to` must be a string (quote numbers: "
                                      '"+15551230001")', path)
            return None
        text = normalized(value.rstrip("*"))
        problem = None
        if not text or any(c.isspace() for c in text):
            problem = "an address without blanks, e.g. +15551230001 or sip:a@example.com"
        elif "*" in text or value.count("*") > 1:
            problem = "`*` only once, at the end (a prefix); use `default` to match any call"
        elif len(value) > MAX_ADDRESS:
            problem = f"at most {MAX_ADDRESS} characters"
        if problem is not None:
            self.error(INVALID_VALUE, f"{value!r} is not an address to route: {problem}", path)
            return None
        return value

    def params(self, path: JSONPath, value: JSONValue) -> tuple[tuple[str, str], ...]:
        if not isinstance(value, dict) or not value:
            self.error(INVALID_VALUE, "`params` must be a mapping of at least one "
                                      "name: value", path)
            return ()
        pairs = []
        for name, wanted in value.items():
            if not isinstance(wanted, str):
                self.error(INVALID_VALUE, f"params.{name} must be a string (parameters "
                                          "arrive as text: quote numbers and booleans)",
                           (*path, name))
                continue
            pairs.append((name, wanted))
        return tuple(pairs)


# ------------------------------------------------------------ REST

routes = web.RouteTableDef()


async def flow_names(store: Store) -> list[str]:
    """Every flow a route may name: stored and bound."""
    stored = [summary.name for summary in await store.flows()]
    return stored + [binding.name for binding in await store.bindings()]


@routes.put("/v1/routes")
@requires(Scope.FLOWS)
async def put_routes(request: web.Request) -> web.Response:
    """Replace the routing table; 200 with its warnings, 422 when it has errors."""
    extension = _TABLE_TYPES.get(request.content_type)
    if extension is None:
        raise Problem("unsupported-media-type",
                      f"a routing table is sent as one of {', '.join(_TABLE_TYPES)}")
    source = await read_body(request, TABLE_MAX_BYTES)
    file = "routes" + extension
    try:
        table, doc, warnings = load_table(source, file)
    except DocumentError as error:
        count = sum(1 for d in error.diagnostics if d.severity is Severity.ERROR)
        raise Problem("invalid-routes", f"{file} has {count} error(s)",
                      errors=error.diagnostics) from None
    store = request.app[STORE]
    diagnostics = sort_diagnostics([*warnings, *check(table, await flow_names(store), doc)])
    stored = await store.replace_routing(table)
    return web.json_response({**table_json(stored), "updated_at": stored.updated_at,
                              "warnings": [str(d) for d in diagnostics],
                              "diagnostics": [diagnostic_json(d) for d in diagnostics]})


@routes.get("/v1/routes")
@requires(Scope.READ)
async def get_routes(request: web.Request) -> web.Response:
    """The routing table, and warnings for routes to flows that do not exist now."""
    store = request.app[STORE]
    table = await store.routing()
    warnings = check(table, await flow_names(store))
    return web.json_response({**table_json(table), "updated_at": table.updated_at,
                              "warnings": [d.message for d in warnings]})
