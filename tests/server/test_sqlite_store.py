"""The SQLite store: the port's contract on real files, plus what only an
embedded database has to prove — its pragmas and thread, durability across a
kill -9, and schema migrations."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

from interpreter.server.sqlite_store import MIGRATIONS, SCHEMA_VERSION, SqliteStore, migrate
from interpreter.server.store import Conflict, NotFound, Store, StoreError
from tests.server.store_contract import CONTRACT, ODD_BYTES, Check, add

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__)
async def test_sqlite_store_keeps_the_store_contract(check: Check, tmp_path: Path) -> None:
    path = tmp_path / "data" / "callkernel.db"

    async def open_store() -> Store:
        return await SqliteStore.open(path)

    await check(open_store)


async def test_open_creates_the_folder_and_a_wal_file_with_full_sync(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "store.db"
    store = await SqliteStore.open(path)
    try:
        pragmas = await store._run(lambda db: tuple(
            db.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous", "foreign_keys")))
        assert pragmas == ("wal", 2, 1)  # synchronous 2 is FULL
    finally:
        await store.close()
    assert path.is_file()


async def test_all_database_work_runs_on_one_thread_off_the_loop(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        threads = await asyncio.gather(
            *(store._run(lambda db: threading.get_ident()) for _ in range(10)))
    finally:
        await store.close()
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()


async def test_two_stores_on_one_file_still_number_versions_distinctly(
        tmp_path: Path) -> None:
    # Two connections (as two server processes would have) race through
    # SQLite's write lock, not this process's one worker thread.
    path = tmp_path / "store.db"
    first, second = await asyncio.gather(SqliteStore.open(path), SqliteStore.open(path))
    try:
        added = await asyncio.gather(*(add(store, "f") for store in (first, second) * 10))
        await first.publish("f", 1)
        outcomes = await asyncio.gather(first.publish("f", 2, expected_live=1),
                                        second.publish("f", 3, expected_live=1),
                                        return_exceptions=True)
    finally:
        await first.close()
        await second.close()
    assert sorted(v.version for v in added) == list(range(1, 21))
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "FlowSummary"]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version ORDER BY version").fetchall() \
            == [(m.version,) for m in MIGRATIONS]  # migrated once, not twice


async def test_stores_opened_at_once_on_a_new_file_all_open(tmp_path: Path) -> None:
    # Switching a new file to WAL is refused at once ("locked") to a second
    # opener rather than waited for; open must wait. Several rounds, because
    # the openers only sometimes collide.
    for round_ in range(30):
        path = tmp_path / f"new-{round_}.db"
        stores = await asyncio.gather(*(SqliteStore.open(path) for _ in range(3)),
                                      return_exceptions=True)
        for store in stores:
            assert isinstance(store, SqliteStore), store
            await store.close()
        assert _schema_version(path) == SCHEMA_VERSION


# The child opens the store, adds a version and says "ok" only once
# add_version has returned; then it waits to be killed, never closing.
_WRITE_THEN_WAIT = """
import asyncio, sys
from pathlib import Path
from interpreter.server.sqlite_store import SqliteStore

async def main():
    store = await SqliteStore.open(Path(sys.argv[1]))
    added = await store.add_version("durable", bytes.fromhex(sys.argv[2]),
                                    "application/yaml", "sha256:kill", ("W kept",))
    print("ok", added.version, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_an_acknowledged_version_survives_a_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WRITE_THEN_WAIT, str(path), ODD_BYTES.hex(),
        cwd=REPO, stdout=asyncio.subprocess.PIPE)
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert line == b"ok 1\n"
    assert child.returncode == -signal.SIGKILL
    # Uncheckpointed: the version is in the write-ahead log, so reopening
    # exercises SQLite's recovery, not just a read of the main file.
    assert Path(f"{path}-wal").stat().st_size > 0
    store = await SqliteStore.open(path)
    try:
        kept = await store.version("durable", 1)
    finally:
        await store.close()
    assert (kept.source, kept.warnings, kept.content_hash) == (ODD_BYTES, ("W kept",),
                                                              "sha256:kill")


def _schema_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        (version,) = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(version)


def _write_old_store(path: Path, version: int) -> None:
    """A file as a callkernel knowing only the first `version` migrations left it."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        assert migrate(db, MIGRATIONS[:version], path) == version
        if version >= 1:
            db.execute("INSERT INTO flows VALUES ('old', NULL, 1.0, 1.0)")
            db.execute("INSERT INTO versions VALUES ('old', 1, 'sha256:o', ?, 'application/yaml',"
                       " '[]', 1.0)", (b"old: \xff",))
    finally:
        db.close()


@pytest.mark.parametrize("old_version", range(SCHEMA_VERSION))
async def test_opening_an_older_store_migrates_it_and_keeps_its_data(
        tmp_path: Path, old_version: int) -> None:
    path = tmp_path / "old.db"
    _write_old_store(path, old_version)
    store = await SqliteStore.open(path)
    try:
        if old_version >= 1:
            assert (await store.version("old", 1)).source == b"old: \xff"
            assert (await add(store, "old")).version == 2
        token = await store.add_token("new", frozenset(), "9" * 64)
        assert await store.token_by_hash("9" * 64) == token
    finally:
        await store.close()
    assert _schema_version(path) == SCHEMA_VERSION


async def test_a_store_from_a_newer_callkernel_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    store = await SqliteStore.open(path)
    await add(store, "f")
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_version VALUES (?, 2.0)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer callkernel") as refused:
        await SqliteStore.open(path)
    assert not isinstance(refused.value, NotFound | Conflict)
    assert _schema_version(path) == SCHEMA_VERSION + 1


async def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, just some notes\n" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        await SqliteStore.open(path)
    assert path.read_bytes().startswith(b"this is not a database")


def test_migrations_are_numbered_one_by_one_from_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1].version == SCHEMA_VERSION
