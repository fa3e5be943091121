"""The store's plumbing, shared by its table modules: one write transaction
(`StoreBase._write`), what a refused write means (locked, passing, the
statement's own fault), and small query helpers.

Each table family of `sugo.daemon.store.Store` is a mixin over this base
(same connection, one thread, every public write one transaction).
"""

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sugo.errors import StoreError

if TYPE_CHECKING:
    from sugo.daemon.store.recordwriter import RecordWriter

log = logging.getLogger("sugo.daemon.store")

BUSY_TIMEOUT_MS = 5000
# While another process holds the write lock, writes give up this fast, so the
# daemon's loop keeps serving (each refused write is an error reply, not a stall).
LOCKED_BUSY_TIMEOUT_MS = 100

_R = TypeVar("_R")


class DamagedDatabase(StoreError):
    """The database file is not a database, or its pages are corrupt."""


class StoreBase:
    """The connection and the write transaction; see `sugo.daemon.store.Store`."""

    path: Path
    _conn: sqlite3.Connection
    _busy_ms: int  # the busy timeout set on the connection now
    _patient_ms: int  # ...and the one it goes back to once a write succeeds
    _reserved: set[Path]  # job folder roots whose ids are reserved
    # The job folder root, where what the pipelines hold is kept as well
    # (`sugo.daemon.store.pipelinerecords`); None: not kept (a store of a test).
    storage: Path | None
    records: "RecordWriter"  # writes the record files (job.json, tasks.json, pipelines.json)
    # A write refused for another reason than a lock (a full disk, a read-only
    # file system, an I/O error): what and since when, until a write succeeds
    # again; then ``on_recovered(error, since)`` is called.
    write_problem: tuple[str, float] | None
    on_recovered: Callable[[str, float], None] | None

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on error.

        SQLite errors (a broken constraint, a full disk) become StoreError.
        """
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and _locked(exc):
                self._set_busy_timeout(LOCKED_BUSY_TIMEOUT_MS)
                raise StoreError(
                    f"{what}: the database {self.path} is locked by another process ({exc})"
                ) from exc
            if isinstance(exc, sqlite3.Error):
                if _transient(exc):
                    since = self.write_problem[1] if self.write_problem else time.time()
                    self.write_problem = (str(exc), since)
                raise StoreError(f"{what}: refused by the database: {exc}") from exc
            raise
        self._set_busy_timeout(self._patient_ms)
        if self.write_problem is not None:
            (error, since), self.write_problem = self.write_problem, None
            log.warning("%s: writes go through again (failing since %.0f s: %s)",
                        self.path, time.time() - since, error)  # fmt: skip
            if self.on_recovered is not None:
                self.on_recovered(error, since)

    def _set_busy_timeout(self, ms: int) -> None:
        if ms != self._busy_ms:
            self._conn.execute(f"PRAGMA busy_timeout={ms:d}")
            self._busy_ms = ms

    def _rows(self, sql: str, params: Sequence[object], decode: Callable[[Any], _R]) -> list[_R]:
        return list(map(decode, self._conn.execute(sql, params).fetchall()))

    def _one(
        self, table: str, cols: str, key: str, value: object, decode: Callable[[Any], _R]
    ) -> _R | None:
        r = self._conn.execute(f"SELECT {cols} FROM {table} WHERE {key} = ?", (value,)).fetchone()
        return None if r is None else decode(r)

    def _upsert(self, table: str, cols: tuple[str, ...], values: Sequence[object]) -> None:
        # ON CONFLICT UPDATE, not INSERT OR REPLACE: a replace deletes the old
        # row first, which would cascade (a driver's components) or SET NULL.
        quoted = [f'"{c}"' for c in cols]
        updates = ", ".join(f"{c} = excluded.{c}" for c in quoted[1:])
        marks = ", ".join("?" * len(cols))
        sql = (
            f"INSERT INTO {table} ({', '.join(quoted)}) VALUES ({marks})"
            f" ON CONFLICT({quoted[0]}) DO UPDATE SET {updates}"
        )
        self._conn.execute(sql, values)

    def _delete(self, table: str, name: str) -> bool:
        with self._write(f"{table} {name}") as conn:
            return conn.execute(f"DELETE FROM {table} WHERE name = ?", (name,)).rowcount > 0


def create_private(path: Path) -> None:
    """Create the database file owner-only before SQLite opens it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)


def damaged(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _locked(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # primary code of an extended one
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _transient(exc: sqlite3.Error) -> bool:
    # Not the statement's fault (a constraint, a bad parameter): the same
    # write can succeed once the disk has room, is writable or answers again.
    statement_errors = (
        sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.DataError
    )  # fmt: skip
    return not isinstance(exc, statement_errors)


def retryable(exc: BaseException) -> bool:
    """True if a StoreError came from the database refusing a write for a
    passing reason (locked by another process, disk full, read-only, I/O
    error), so that the same write may go through later: retry it."""
    cause = exc.__cause__
    return isinstance(cause, sqlite3.Error) and _transient(cause)


def is_locked(exc: BaseException) -> bool:
    """True if a StoreError came from another process holding the database's
    lock: the same write can succeed later, so the caller may retry it."""
    cause = exc.__cause__
    return isinstance(cause, sqlite3.Error) and _locked(cause)


def must(row: _R | None, what: str) -> _R:
    """``row``, or StoreError: ``what`` not found."""
    if row is None:
        raise StoreError(f"{what}: not found")
    return row


def update(
    conn: sqlite3.Connection, table: str, key: str, value: object, changes: Mapping[str, object]
) -> None:
    """Set ``changes`` (column -> value) in the row whose ``key`` is ``value``."""
    # Column names come from our own code (whitelisted), values are parameters.
    if changes:
        sets = ", ".join(f"{column} = ?" for column in changes)
        conn.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*changes.values(), value))
