"""The SQL of call records and the outbox, for `SqliteStore`.

Each function takes the connection and runs on the store's one database
thread (`SqliteStore._run`); the store's methods only hand them over. Kept
apart from sqlite_store.py, which owns the connection, the migrations, flows
and tokens, so each module holds one part of the schema.
"""

from __future__ import annotations

import sqlite3
import time

from interpreter.server.sqlite_tx import transaction
from interpreter.server.store import (
    CallEntry,
    Conflict,
    DeliveryState,
    NotFound,
    StoredDelivery,
)

CALLS_TABLE = """CREATE TABLE calls (
    call_id TEXT PRIMARY KEY,
    flow TEXT,                     -- no foreign key: a record outlives its flow; NULL: no route
    version INTEGER,               -- NULL: a flow bound to a URL, or nothing routed
    content_hash TEXT NOT NULL,
    media TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,                 -- NULL while live
    disposition TEXT,
    trace BLOB                     -- JSONL, stored when the call ends
)"""
CALLS_INDEXES = (
    "CREATE INDEX calls_by_start ON calls (started_at)",
    "CREATE INDEX calls_live ON calls (ended_at) WHERE ended_at IS NULL",
)
DELIVERIES_TABLE = """CREATE TABLE deliveries (
    key TEXT PRIMARY KEY,          -- the idempotency key
    call_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT,
    body TEXT NOT NULL,
    headers TEXT NOT NULL,
    summary_request TEXT,
    llm TEXT,
    summary TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at REAL NOT NULL,
    last_error TEXT NOT NULL,
    last_status INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
)"""
DELIVERIES_INDEXES = (
    "CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending'",
    "CREATE INDEX deliveries_by_call ON deliveries (call_id)",
)

_CALL_SELECT = ("SELECT call_id, flow, version, content_hash, media, started_at, ended_at,"
                " disposition FROM calls")
_DELIVERY_COLUMNS = ("key, call_id, kind, url, body, headers, created_at, state,"
                     " summary_request, llm, summary, attempts, next_attempt_at,"
                     " last_error, last_status, updated_at")
_DELIVERY_SELECT = f"SELECT {_DELIVERY_COLUMNS} FROM deliveries"

# Row shapes of the SELECTs above, as SQLite returns them.
_CallRow = tuple[str, str | None, int | None, str, str, float, float | None, str | None]
_DeliveryRow = tuple[str, str, str, str | None, str, str, float, str, str | None, str | None,
                     str | None, int, float, str, int | None, float]


# -- calls ---------------------------------------------------------------------

def add_call(db: sqlite3.Connection, entry: CallEntry) -> None:
    try:
        db.execute("INSERT INTO calls (call_id, flow, version, content_hash, media, started_at,"
                   " ended_at, disposition) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (entry.call_id, entry.flow, entry.version, entry.content_hash, entry.media,
                    entry.started_at, entry.ended_at, entry.disposition))
    except sqlite3.IntegrityError as error:
        raise Conflict(f"a call {entry.call_id!r} is already recorded") from error


def end_call(db: sqlite3.Connection, call_id: str, ended_at: float, disposition: str,
             trace: bytes) -> None:
    with transaction(db, immediate=True):
        row = db.execute("SELECT ended_at FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        if row is None:
            raise NotFound(f"no call {call_id!r}")
        if row[0] is None:
            db.execute("UPDATE calls SET ended_at = ?, disposition = ?, trace = ?"
                       " WHERE call_id = ?", (ended_at, disposition, trace, call_id))


def call(db: sqlite3.Connection, call_id: str) -> CallEntry:
    row = db.execute(_CALL_SELECT + " WHERE call_id = ?", (call_id,)).fetchone()
    if row is None:
        raise NotFound(f"no call {call_id!r}")
    return _call(row)


def calls(db: sqlite3.Connection, flow: str | None, live: bool | None, since: float | None,
          until: float | None, limit: int) -> list[CallEntry]:
    where: list[str] = []
    values: list[object] = []
    if flow is not None:
        where.append("flow = ?")
        values.append(flow)
    if live is not None:
        where.append("ended_at IS NULL" if live else "ended_at IS NOT NULL")
    if since is not None:
        where.append("started_at >= ?")
        values.append(since)
    if until is not None:
        where.append("started_at < ?")
        values.append(until)
    sql = _CALL_SELECT + (" WHERE " + " AND ".join(where) if where else "")
    rows = db.execute(sql + " ORDER BY started_at DESC, rowid DESC LIMIT ?",
                      (*values, limit)).fetchall()
    return [_call(row) for row in rows]


def call_trace(db: sqlite3.Connection, call_id: str) -> bytes | None:
    row = db.execute("SELECT trace FROM calls WHERE call_id = ?", (call_id,)).fetchone()
    if row is None:
        raise NotFound(f"no call {call_id!r}")
    return None if row[0] is None else bytes(row[0])


def end_live_calls(db: sqlite3.Connection, ended_at: float, disposition: str) -> list[str]:
    with transaction(db, immediate=True):
        ids = [row[0] for row in db.execute("SELECT call_id FROM calls WHERE ended_at IS NULL")]
        db.execute("UPDATE calls SET ended_at = ?, disposition = ? WHERE ended_at IS NULL",
                   (ended_at, disposition))
    return ids


def _call(row: _CallRow) -> CallEntry:
    call_id, flow, version, content_hash, media, started_at, ended_at, disposition = row
    return CallEntry(call_id=call_id, flow=flow, version=version, content_hash=content_hash,
                     media=media, started_at=started_at, ended_at=ended_at,
                     disposition=disposition)


# -- outbox --------------------------------------------------------------------

def add_delivery(db: sqlite3.Connection, d: StoredDelivery) -> None:
    db.execute(f"INSERT INTO deliveries ({_DELIVERY_COLUMNS}) VALUES"
               " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
               " ON CONFLICT (key) DO NOTHING", _delivery_values(d))


def update_delivery(db: sqlite3.Connection, d: StoredDelivery) -> None:
    cursor = db.execute(
        "UPDATE deliveries SET state = ?, summary = ?, attempts = ?, next_attempt_at = ?,"
        " last_error = ?, last_status = ?, updated_at = ? WHERE key = ?",
        (d.state.value, d.summary, d.attempts, d.next_attempt_at, d.last_error,
         d.last_status, d.updated_at or time.time(), d.key))
    if cursor.rowcount == 0:
        raise NotFound(f"no delivery {d.key!r}")


def delivery(db: sqlite3.Connection, key: str) -> StoredDelivery:
    row = db.execute(_DELIVERY_SELECT + " WHERE key = ?", (key,)).fetchone()
    if row is None:
        raise NotFound(f"no delivery {key!r}")
    return _delivery(row)


def deliveries(db: sqlite3.Connection, state: DeliveryState | None, call_id: str | None,
               limit: int) -> list[StoredDelivery]:
    where: list[str] = []
    values: list[object] = []
    if state is not None:
        where.append("state = ?")
        values.append(state.value)
    if call_id is not None:
        where.append("call_id = ?")
        values.append(call_id)
    sql = _DELIVERY_SELECT + (" WHERE " + " AND ".join(where) if where else "")
    rows = db.execute(sql + " ORDER BY created_at DESC, rowid DESC LIMIT ?",
                      (*values, limit)).fetchall()
    return [_delivery(row) for row in rows]


def due_deliveries(db: sqlite3.Connection, now: float, limit: int) -> list[StoredDelivery]:
    rows = db.execute(_DELIVERY_SELECT + " WHERE state = 'pending' AND next_attempt_at <= ?"
                      " ORDER BY next_attempt_at, rowid LIMIT ?", (now, limit)).fetchall()
    return [_delivery(row) for row in rows]


def next_due(db: sqlite3.Connection, after: float) -> float | None:
    (when,) = db.execute("SELECT MIN(next_attempt_at) FROM deliveries"
                         " WHERE state = 'pending' AND next_attempt_at > ?", (after,)).fetchone()
    return None if when is None else float(when)


def pending_deliveries(db: sqlite3.Connection) -> int:
    (count,) = db.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'").fetchone()
    return int(count)


def _delivery_values(d: StoredDelivery) -> tuple[object, ...]:
    return (d.key, d.call_id, d.kind, d.url, d.body, d.headers, d.created_at, d.state.value,
            d.summary_request, d.llm, d.summary, d.attempts, d.next_attempt_at, d.last_error,
            d.last_status, d.updated_at or d.created_at)


def _delivery(row: _DeliveryRow) -> StoredDelivery:
    (key, call_id, kind, url, body, headers, created_at, state, summary_request, llm, summary,
     attempts, next_attempt_at, last_error, last_status, updated_at) = row
    return StoredDelivery(
        key=key, call_id=call_id, kind=kind, url=url, body=body, headers=headers,
        created_at=created_at, state=DeliveryState(state), summary_request=summary_request,
        llm=llm, summary=summary, attempts=attempts, next_attempt_at=next_attempt_at,
        last_error=last_error, last_status=last_status, updated_at=updated_at)
