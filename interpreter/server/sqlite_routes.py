"""The SQL of the routing table and flow bindings, for `SqliteStore`.

As in sqlite_records.py, each function takes the connection and runs on the
store's one database thread (`SqliteStore._run`).

The routing table is rows (`routes`, one per rule, by position) plus one row
of `routing` (the default flow and when the table was set): replaced in one
`BEGIN IMMEDIATE` transaction, so a reader sees the old table or the new one.

"Stored or bound, never both" is kept by the database itself, in both
directions and under concurrent writers: binding checks for a stored flow in
the transaction that inserts the binding, and a trigger refuses a version of
a bound flow inside add_version's own transaction. The trigger's message
starts with `CONFLICT_MARK`, which sqlite_store.py's error guard turns into
the port's `Conflict`.
"""

from __future__ import annotations

import json
import sqlite3
import time

from interpreter.server.sqlite_tx import transaction
from interpreter.server.store import Conflict, FlowBinding, NotFound, Route, RoutingTable

# A constraint error whose message starts with this is the port's Conflict.
CONFLICT_MARK = "conflict: "
_BOUND = "the flow is bound to a URL; unbind it before uploading versions"

ROUTING_TABLES = (
    """CREATE TABLE routes (
        position INTEGER PRIMARY KEY,  -- 0, 1, ...: the order written is precedence
        to_address TEXT,               -- exact, or a prefix ending in '*'; NULL: params route
        params TEXT NOT NULL,          -- JSON array of [name, value] pairs
        flow TEXT NOT NULL             -- no foreign key: a route may name a flow not yet pushed
    )""",
    """CREATE TABLE routing (
        id INTEGER PRIMARY KEY CHECK (id = 1),  -- one row, once a table was set
        default_flow TEXT,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE flow_bindings (
        name TEXT PRIMARY KEY,
        url TEXT NOT NULL,             -- credentials included: they are the Basic auth
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    # A bound flow takes no versions: refused inside add_version's transaction.
    f"""CREATE TRIGGER versions_not_of_bound_flows BEFORE INSERT ON versions
        WHEN EXISTS (SELECT 1 FROM flow_bindings WHERE name = NEW.name)
        BEGIN
            SELECT RAISE(ABORT, '{CONFLICT_MARK}{_BOUND}');
        END""",
)

_RouteRow = tuple[int, str | None, str, str]


# -- routing -------------------------------------------------------------------

def routing(db: sqlite3.Connection) -> RoutingTable:
    with transaction(db):  # one snapshot: the rules and the default of one table
        rows: list[_RouteRow] = db.execute(
            "SELECT position, to_address, params, flow FROM routes ORDER BY position"
        ).fetchall()
        head = db.execute("SELECT default_flow, updated_at FROM routing").fetchone()
    routes = tuple(Route(flow=flow, to=to,
                         params=tuple((str(n), str(v)) for n, v in json.loads(params)))
                   for _, to, params, flow in rows)
    if head is None:
        return RoutingTable(routes)
    return RoutingTable(routes, head[0], head[1])


def replace_routing(db: sqlite3.Connection, table: RoutingTable) -> RoutingTable:
    now = time.time()
    with transaction(db, immediate=True):
        db.execute("DELETE FROM routes")
        db.executemany(
            "INSERT INTO routes (position, to_address, params, flow) VALUES (?, ?, ?, ?)",
            [(position, route.to, json.dumps([list(pair) for pair in route.params]),
              route.flow) for position, route in enumerate(table.routes)])
        db.execute("INSERT INTO routing (id, default_flow, updated_at) VALUES (1, ?, ?)"
                   " ON CONFLICT (id) DO UPDATE SET default_flow = excluded.default_flow,"
                   " updated_at = excluded.updated_at", (table.default, now))
    return RoutingTable(table.routes, table.default, now)


# -- bindings ------------------------------------------------------------------

_BINDING_SELECT = "SELECT name, url, created_at, updated_at FROM flow_bindings"


def bind_flow(db: sqlite3.Connection, name: str, url: str) -> FlowBinding:
    now = time.time()
    with transaction(db, immediate=True):
        if db.execute("SELECT 1 FROM flows WHERE name = ?", (name,)).fetchone() is not None:
            raise Conflict(f"flow {name!r} has stored versions; delete it before binding "
                           "the name to a URL")
        db.execute("INSERT INTO flow_bindings (name, url, created_at, updated_at)"
                   " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                   " url = excluded.url, updated_at = excluded.updated_at",
                   (name, url, now, now))
        row = db.execute(_BINDING_SELECT + " WHERE name = ?", (name,)).fetchone()
    return FlowBinding(*row)


def binding(db: sqlite3.Connection, name: str) -> FlowBinding:
    row = db.execute(_BINDING_SELECT + " WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"flow {name!r} is not bound to a URL")
    return FlowBinding(*row)


def bindings(db: sqlite3.Connection) -> list[FlowBinding]:
    return [FlowBinding(*row) for row in db.execute(_BINDING_SELECT + " ORDER BY name")]


def unbind_flow(db: sqlite3.Connection, name: str) -> None:
    if db.execute("DELETE FROM flow_bindings WHERE name = ?", (name,)).rowcount == 0:
        raise NotFound(f"flow {name!r} is not bound to a URL")
