"""The embedded store: the `Store` port on one SQLite file.

Every statement runs on one dedicated thread (a single-worker executor) that
owns the connection, so the event loop never waits on the disk and the
connection never crosses threads; the one worker also serialises this
process's writes. Writes that read before they write (numbering a version,
compare-and-set of the live version) run in `BEGIN IMMEDIATE` transactions,
so they stay atomic even with a second process on the same file.

Durability: WAL journal with `synchronous=FULL`, so a write that returned is
on disk and survives a kill -9 or a power cut. The schema is versioned from
its first table (`MIGRATIONS`, recorded in `schema_version`); opening an
older file migrates it, opening a file from a newer callkernel is refused.

SQLite's own errors never leave this module: they surface as the port's
`StoreError`, `NotFound` and `Conflict`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from interpreter.server import sqlite_records as records
from interpreter.server import sqlite_routes as routes
from interpreter.server.sqlite_tx import transaction
from interpreter.server.store import (
    CallEntry,
    Conflict,
    DeliveryState,
    FlowBinding,
    FlowSummary,
    FlowVersion,
    NotFound,
    RoutingTable,
    Scope,
    Store,
    StoredDelivery,
    StoreError,
    Token,
    VersionInfo,
)

_T = TypeVar("_T")

# How long a writer waits for another process's write lock before failing;
# this process's own writes never contend (one worker thread).
_BUSY_TIMEOUT_MS = 5_000


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: applied once, in order, in one transaction."""

    version: int
    description: str
    statements: tuple[str, ...]


# Append only: a released step is never edited, a change is a new step.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "flows and their versions", (
        """CREATE TABLE flows (
            name TEXT PRIMARY KEY,
            live_version INTEGER,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            -- the live pointer can only name a stored version of this flow
            FOREIGN KEY (name, live_version) REFERENCES versions (name, version)
        )""",
        """CREATE TABLE versions (
            name TEXT NOT NULL REFERENCES flows (name) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            source BLOB NOT NULL,
            media_type TEXT NOT NULL,
            warnings TEXT NOT NULL,  -- JSON array of rendered lint warnings
            created_at REAL NOT NULL,
            PRIMARY KEY (name, version)
        )""",
    )),
    # Tokens came with auth, a step of their own: the upgrade path is then
    # exercised (tests/server/test_sqlite_store.py) from the first release.
    Migration(2, "API tokens", (
        """CREATE TABLE tokens (
            token_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            scopes TEXT NOT NULL,  -- JSON array of scope values
            secret_hash TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0
        )""",
    )),
    Migration(3, "call records and the outbox", (
        records.CALLS_TABLE, *records.CALLS_INDEXES,
        records.DELIVERIES_TABLE, *records.DELIVERIES_INDEXES,
    )),
    Migration(4, "routes and URL-bound flows", routes.ROUTING_TABLES),
    # A deleted flow's last version number, so a flow made again under its
    # name never reuses a number that call records still name.
    Migration(5, "numbers of deleted flows", (
        """CREATE TABLE retired_flows (
            name TEXT PRIMARY KEY,
            last_version INTEGER NOT NULL
        )""",
    )),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


class SqliteStore:
    """The `Store` on a SQLite file; open it with `await SqliteStore.open(path)`."""

    def __init__(self, path: Path, executor: ThreadPoolExecutor,
                 connection: sqlite3.Connection) -> None:
        # Use `open`: the connection must have been made on the executor's thread.
        self.path = path
        self._executor = executor
        self._connection = connection
        self._closed = False

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        """Open (creating the file and its folder) and migrate to `SCHEMA_VERSION`."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callkernel-store")
        connecting = executor.submit(_connect, path)
        try:
            connection = await asyncio.wrap_future(connecting)
        except BaseException:
            # Failed, or cancelled while connecting: a connection made anyway
            # is closed on its own thread, after which the thread ends.
            executor.submit(_close_if_connected, connecting)
            executor.shutdown(wait=False)
            raise
        return cls(path, executor, connection)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._connection.close)
        finally:
            # Not waiting: the worker ends once its queue is done, and joining
            # it here would block the loop if this close was cancelled.
            self._executor.shutdown(wait=False)

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closed:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _guarded, work, self._connection)

    # -- flows and versions ------------------------------------------------

    async def add_version(self, name: str, source: bytes, media_type: str,
                          content_hash: str, warnings: tuple[str, ...]) -> FlowVersion:
        def work(db: sqlite3.Connection) -> FlowVersion:
            now = time.time()
            with transaction(db, immediate=True):
                db.execute(
                    "INSERT INTO flows (name, live_version, created_at, updated_at)"
                    " VALUES (?, NULL, ?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at",
                    (name, now, now))
                (number,) = db.execute(
                    "SELECT MAX(COALESCE((SELECT MAX(version) FROM versions WHERE name = ?), 0),"
                    " COALESCE((SELECT last_version FROM retired_flows WHERE name = ?), 0))"
                    " + 1", (name, name)).fetchone()
                db.execute(
                    "INSERT INTO versions (name, version, content_hash, source, media_type,"
                    " warnings, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, number, content_hash, bytes(source), media_type,
                     json.dumps(list(warnings)), now))
            return FlowVersion(name=name, version=number, content_hash=content_hash,
                               source=bytes(source), media_type=media_type,
                               created_at=now, warnings=tuple(warnings))
        return await self._run(work)

    async def flows(self) -> list[FlowSummary]:
        def work(db: sqlite3.Connection) -> list[FlowSummary]:
            rows = db.execute(_SUMMARY_SELECT + " GROUP BY f.name ORDER BY f.name").fetchall()
            return [_summary(row) for row in rows]
        return await self._run(work)

    async def flow(self, name: str) -> FlowSummary:
        return await self._run(lambda db: _flow_summary(db, name))

    async def versions(self, name: str) -> list[VersionInfo]:
        def work(db: sqlite3.Connection) -> list[VersionInfo]:
            with transaction(db):
                _require_flow(db, name)
                rows = db.execute(_INFO_SELECT + " WHERE name = ? ORDER BY version",
                                  (name,)).fetchall()
            return [VersionInfo(name=row[0], version=row[1], content_hash=row[2],
                                media_type=row[3], size=row[4], created_at=row[5],
                                warnings=tuple(json.loads(row[6]))) for row in rows]
        return await self._run(work)

    async def version(self, name: str, version: int | None = None, *,
                      live: bool = False) -> FlowVersion:
        def work(db: sqlite3.Connection) -> FlowVersion:
            with transaction(db):
                live_version = _require_flow(db, name)
                if version is not None:
                    wanted, what = version, f"version {version}"
                elif live:
                    if live_version is None:
                        raise NotFound(f"flow {name!r} has no live version")
                    wanted, what = live_version, "live version"
                else:
                    (wanted,) = db.execute("SELECT MAX(version) FROM versions WHERE name = ?",
                                           (name,)).fetchone()
                    what = "latest version"
                row = db.execute(_VERSION_SELECT + " WHERE name = ? AND version = ?",
                                 (name, wanted)).fetchone()
            if row is None:
                raise NotFound(f"flow {name!r} has no {what}")
            return _flow_version(row)
        return await self._run(work)

    async def publish(self, name: str, version: int,
                      expected_live: int | None = None) -> FlowSummary:
        def work(db: sqlite3.Connection) -> FlowSummary:
            with transaction(db, immediate=True):
                live_version = _require_flow(db, name)
                exists = db.execute("SELECT 1 FROM versions WHERE name = ? AND version = ?",
                                    (name, version)).fetchone()
                if exists is None:
                    raise NotFound(f"flow {name!r} has no version {version}")
                if expected_live is not None and live_version != expected_live:
                    raise Conflict(
                        f"flow {name!r}: live version is {_live_text(live_version)},"
                        f" not {expected_live} as expected")
                if live_version != version:
                    db.execute("UPDATE flows SET live_version = ?, updated_at = ? WHERE name = ?",
                               (version, time.time(), name))
                return _flow_summary(db, name)
        return await self._run(work)

    async def delete_flow(self, name: str) -> None:
        def work(db: sqlite3.Connection) -> None:
            with transaction(db, immediate=True):
                db.execute(
                    "INSERT INTO retired_flows (name, last_version)"
                    " SELECT name, MAX(version) FROM versions WHERE name = ? GROUP BY name"
                    " ON CONFLICT (name) DO UPDATE SET last_version = excluded.last_version",
                    (name,))
                # Its versions go with it: ON DELETE CASCADE, in the same statement.
                if db.execute("DELETE FROM flows WHERE name = ?", (name,)).rowcount == 0:
                    raise NotFound(f"no flow {name!r}")
        await self._run(work)

    # -- tokens --------------------------------------------------------------

    async def add_token(self, name: str, scopes: frozenset[Scope],
                        secret_hash: str) -> Token:
        def work(db: sqlite3.Connection) -> Token:
            token = Token(token_id="tok_" + secrets.token_hex(8), name=name,
                          scopes=frozenset(scopes), created_at=time.time())
            try:
                with transaction(db, immediate=True):
                    db.execute(
                        "INSERT INTO tokens (token_id, name, scopes, secret_hash, created_at,"
                        " revoked) VALUES (?, ?, ?, ?, ?, 0)",
                        (token.token_id, name, _scopes_json(token.scopes), secret_hash,
                         token.created_at))
            except sqlite3.IntegrityError as error:
                raise Conflict("a token with this secret already exists") from error
            return token
        return await self._run(work)

    async def token_by_hash(self, secret_hash: str) -> Token | None:
        def work(db: sqlite3.Connection) -> Token | None:
            row = db.execute(_TOKEN_SELECT + " WHERE secret_hash = ?",
                             (secret_hash,)).fetchone()
            return None if row is None else _token(row)
        return await self._run(work)

    async def tokens(self) -> list[Token]:
        def work(db: sqlite3.Connection) -> list[Token]:
            rows = db.execute(_TOKEN_SELECT + " ORDER BY created_at, rowid").fetchall()
            return [_token(row) for row in rows]
        return await self._run(work)

    async def revoke_token(self, token_id: str) -> Token:
        def work(db: sqlite3.Connection) -> Token:
            with transaction(db, immediate=True):
                if db.execute("UPDATE tokens SET revoked = 1 WHERE token_id = ?",
                              (token_id,)).rowcount == 0:
                    raise NotFound(f"no token {token_id!r}")
                row = db.execute(_TOKEN_SELECT + " WHERE token_id = ?", (token_id,)).fetchone()
            return _token(row)
        return await self._run(work)

    # -- call records (SQL in server/sqlite_records.py) ----------------------

    async def add_call(self, entry: CallEntry) -> None:
        await self._run(lambda db: records.add_call(db, entry))

    async def end_call(self, call_id: str, ended_at: float, disposition: str,
                       trace: bytes) -> None:
        await self._run(lambda db: records.end_call(db, call_id, ended_at, disposition, trace))

    async def call(self, call_id: str) -> CallEntry:
        return await self._run(lambda db: records.call(db, call_id))

    async def calls(self, *, flow: str | None = None, live: bool | None = None,
                    since: float | None = None, until: float | None = None,
                    limit: int = 100) -> list[CallEntry]:
        return await self._run(lambda db: records.calls(db, flow, live, since, until, limit))

    async def call_trace(self, call_id: str) -> bytes | None:
        return await self._run(lambda db: records.call_trace(db, call_id))

    async def end_live_calls(self, ended_at: float, disposition: str) -> list[str]:
        return await self._run(lambda db: records.end_live_calls(db, ended_at, disposition))

    # -- outbox ----------------------------------------------------------------

    async def add_delivery(self, delivery: StoredDelivery) -> None:
        await self._run(lambda db: records.add_delivery(db, delivery))

    async def update_delivery(self, delivery: StoredDelivery) -> None:
        await self._run(lambda db: records.update_delivery(db, delivery))

    async def delivery(self, key: str) -> StoredDelivery:
        return await self._run(lambda db: records.delivery(db, key))

    async def deliveries(self, *, state: DeliveryState | None = None,
                         call_id: str | None = None, limit: int = 100
                         ) -> list[StoredDelivery]:
        return await self._run(lambda db: records.deliveries(db, state, call_id, limit))

    async def due_deliveries(self, now: float, limit: int = 100) -> list[StoredDelivery]:
        return await self._run(lambda db: records.due_deliveries(db, now, limit))

    async def next_due(self, after: float) -> float | None:
        return await self._run(lambda db: records.next_due(db, after))

    async def pending_deliveries(self) -> int:
        return await self._run(records.pending_deliveries)

    # -- routes and bindings (SQL in server/sqlite_routes.py) -------------------

    async def routing(self) -> RoutingTable:
        return await self._run(routes.routing)

    async def replace_routing(self, table: RoutingTable) -> RoutingTable:
        return await self._run(lambda db: routes.replace_routing(db, table))

    async def bind_flow(self, name: str, url: str) -> FlowBinding:
        return await self._run(lambda db: routes.bind_flow(db, name, url))

    async def binding(self, name: str) -> FlowBinding:
        return await self._run(lambda db: routes.binding(db, name))

    async def bindings(self) -> list[FlowBinding]:
        return await self._run(routes.bindings)

    async def unbind_flow(self, name: str) -> None:
        await self._run(lambda db: routes.unbind_flow(db, name))


# -- on the worker thread ------------------------------------------------------

def _connect(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; `_transaction` says
        # exactly where each one begins and ends.
        db = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
    except (OSError, sqlite3.Error) as error:
        raise StoreError(f"cannot open the store at {path}: {error}") from error
    try:
        db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA foreign_keys = ON")
        mode = _enter_wal(db)
        if mode != "wal":
            raise StoreError(f"the store at {path} cannot use a WAL journal (got {mode!r})")
        db.execute("PRAGMA synchronous = FULL")
        migrate(db, MIGRATIONS, path)
    except BaseException as error:
        db.close()
        if isinstance(error, sqlite3.Error):
            raise StoreError(f"cannot open the store at {path}: {error}") from error
        raise
    return db


def _enter_wal(db: sqlite3.Connection) -> str:
    """Switch the file to WAL; the journal mode it ends in.

    The switch takes an exclusive lock without consulting the busy handler,
    so a second process opening a new file at the same moment is told
    "locked" at once: wait for it as busy_timeout would."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            (mode,) = db.execute("PRAGMA journal_mode = WAL").fetchone()
            return str(mode).lower()
        except sqlite3.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _close_if_connected(connecting: Future[sqlite3.Connection]) -> None:
    if not connecting.cancelled() and connecting.exception() is None:
        connecting.result().close()


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration], path: Path) -> int:
    """Bring the schema up to the last of `migrations`; the version it ends at.

    Each step runs in its own `BEGIN IMMEDIATE` transaction that re-reads the
    version, so two processes opening one old file migrate it once."""
    known = migrations[-1].version if migrations else 0
    db.execute("CREATE TABLE IF NOT EXISTS schema_version"
               " (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    current = _schema_version(db)
    if current > known:
        raise StoreError(
            f"the store at {path} has schema version {current}, newer than the {known}"
            " this callkernel knows; it was written by a newer callkernel — upgrade"
            " callkernel (or use a copy of the data from before the upgrade)")
    for step in migrations:
        if step.version <= current:
            continue
        with transaction(db, immediate=True):
            if _schema_version(db) >= step.version:
                continue  # another process applied it while we waited
            for statement in step.statements:
                db.execute(statement)
            db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                       (step.version, time.time()))
        current = step.version
    return current


def _schema_version(db: sqlite3.Connection) -> int:
    (version,) = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(version)


def _guarded(work: Callable[[sqlite3.Connection], _T], db: sqlite3.Connection) -> _T:
    try:
        return work(db)
    except sqlite3.IntegrityError as error:
        # A trigger's refusal that is the port's Conflict (sqlite_routes.py).
        if str(error).startswith(routes.CONFLICT_MARK):
            raise Conflict(str(error).removeprefix(routes.CONFLICT_MARK)) from error
        raise StoreError(f"store failure: {error}") from error
    except sqlite3.Error as error:
        raise StoreError(f"store failure: {error}") from error


_SUMMARY_SELECT = (
    "SELECT f.name, COUNT(v.version), COALESCE(MAX(v.version), 0), f.live_version,"
    " f.updated_at FROM flows f LEFT JOIN versions v ON v.name = f.name")
_VERSION_SELECT = (
    "SELECT name, version, content_hash, source, media_type, created_at, warnings FROM versions")
# A version without its source: listing never reads the blobs.
_INFO_SELECT = ("SELECT name, version, content_hash, media_type, length(source), created_at, "
                "warnings FROM versions")
_TOKEN_SELECT = "SELECT token_id, name, scopes, created_at, revoked FROM tokens"


def _require_flow(db: sqlite3.Connection, name: str) -> int | None:
    """The flow's live version (None when none is live); NotFound without it."""
    row = db.execute("SELECT live_version FROM flows WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no flow {name!r}")
    live: int | None = row[0]
    return live


def _flow_summary(db: sqlite3.Connection, name: str) -> FlowSummary:
    row = db.execute(_SUMMARY_SELECT + " WHERE f.name = ? GROUP BY f.name", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no flow {name!r}")
    return _summary(row)


# Row shapes of the SELECTs above, as SQLite returns them.
_SummaryRow = tuple[str, int, int, int | None, float]
_VersionRow = tuple[str, int, str, bytes, str, float, str]
_TokenRow = tuple[str, str, str, float, int]


def _summary(row: _SummaryRow) -> FlowSummary:
    name, count, latest, live, updated_at = row
    return FlowSummary(name=name, versions=count, latest=latest, live=live,
                       updated_at=updated_at)


def _flow_version(row: _VersionRow) -> FlowVersion:
    name, version, content_hash, source, media_type, created_at, warnings = row
    return FlowVersion(name=name, version=version, content_hash=content_hash,
                       source=source, media_type=media_type, created_at=created_at,
                       warnings=tuple(json.loads(warnings)))


def _token(row: _TokenRow) -> Token:
    token_id, name, scopes, created_at, revoked = row
    return Token(token_id=token_id, name=name,
                 scopes=frozenset(Scope(s) for s in json.loads(scopes)),
                 created_at=created_at, revoked=bool(revoked))


def _scopes_json(scopes: frozenset[Scope]) -> str:
    return json.dumps(sorted(scope.value for scope in scopes))


def _live_text(live: int | None) -> str:
    return "none" if live is None else str(live)


if TYPE_CHECKING:
    # mypy proves the class keeps the port's protocol, signature for signature.
    _IS_A_STORE: type[Store] = SqliteStore
