"""Explicit transactions on a connection opened with `isolation_level=None`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(db: sqlite3.Connection, *, immediate: bool = False) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front: a read-then-write (the next
    # version number, the live pointer's compare-and-set) cannot interleave
    # with another writer's. Plain BEGIN gives reads one consistent snapshot.
    db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
