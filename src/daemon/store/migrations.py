"""Numbered schema migrations of the daemon's SQLite store.

``MIGRATIONS[i]`` takes a database from schema version ``i`` to ``i + 1``; the
version lives in ``PRAGMA user_version``. Never edit a migration that has been
released: append a new one.
"""

import sqlite3
from collections.abc import Sequence

from sugo.errors import StoreError

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE jobs (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused
        jobname          TEXT,
        status           TEXT NOT NULL,
        payload          TEXT NOT NULL,
        sample           TEXT NOT NULL,
        "user"           TEXT NOT NULL,
        pipeline         TEXT,
        submitted_at     REAL NOT NULL,
        started_at       REAL,
        completed_at     REAL,
        output_dir       TEXT NOT NULL,
        prefix           TEXT,
        jobdir           TEXT NOT NULL,
        respath          TEXT,
        snappath         TEXT,
        error            TEXT,
        runner_pid       INTEGER,
        runner_started   REAL,
        unlock_when_done INTEGER NOT NULL
    );
    CREATE INDEX jobs_status ON jobs(status);

    CREATE TABLE pipelines (
        name       TEXT PRIMARY KEY,
        components TEXT NOT NULL,
        sample     TEXT,
        ready      INTEGER NOT NULL DEFAULT 0,
        jobid      INTEGER REFERENCES jobs(id) ON DELETE SET NULL
    );

    CREATE TABLE drivers (
        name        TEXT PRIMARY KEY,
        pid         INTEGER,
        port        INTEGER,
        state       TEXT NOT NULL,
        version     TEXT,
        settings    TEXT NOT NULL,
        started_at  REAL,
        create_time REAL
    );

    CREATE TABLE components (
        name         TEXT PRIMARY KEY,
        driver       TEXT NOT NULL REFERENCES drivers(name) ON DELETE CASCADE,
        device       TEXT NOT NULL,
        address      TEXT NOT NULL,
        channel      TEXT NOT NULL,
        pollrate     REAL NOT NULL,
        capabilities TEXT NOT NULL,
        state        TEXT NOT NULL
    );
    CREATE INDEX components_driver ON components(driver);

    CREATE TABLE events (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        time    REAL NOT NULL,
        kind    TEXT NOT NULL,
        subject TEXT NOT NULL,
        data    TEXT NOT NULL
    );
    CREATE INDEX events_time ON events(time);

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: the instrument registry: component health, maintenance counters, and
    # the progress of each task of a job (kept across daemon restarts).
    """
    CREATE TABLE component_health (
        name    TEXT PRIMARY KEY,
        health  TEXT NOT NULL,
        updated REAL NOT NULL
    );

    CREATE TABLE maintenance (
        device  TEXT NOT NULL,
        label   TEXT NOT NULL,
        used    REAL NOT NULL DEFAULT 0,
        since   REAL NOT NULL,
        expired INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (device, label)
    );

    CREATE TABLE job_tasks (
        jobid      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        idx        INTEGER NOT NULL,
        role       TEXT NOT NULL,
        technique  TEXT NOT NULL,
        state      TEXT NOT NULL,
        started_at REAL,
        ended_at   REAL,
        points     INTEGER NOT NULL DEFAULT 0,
        error      TEXT,
        PRIMARY KEY (jobid, idx)
    );
    """,
)

LATEST = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection, path: str = "database", migrations: Sequence[str] = MIGRATIONS
) -> int:
    """Apply the missing ``migrations`` in order, each in its own transaction.

    Returns the resulting version. A database newer than the code is refused,
    since writing to it could corrupt data a newer sugo relies on.
    """
    version, latest = schema_version(conn), len(migrations)
    if version > latest:
        raise StoreError(
            f"{path}: schema version {version} is newer than this sugo knows ({latest});"
            " upgrade sugo"
        )
    for number in range(version + 1, latest + 1):
        # user_version lives in the database header, so it commits (or rolls
        # back) together with the schema change. Not parameterisable: an int.
        body = migrations[number - 1]
        script = f"BEGIN IMMEDIATE;\n{body}\nPRAGMA user_version = {number:d};\nCOMMIT;"
        try:
            conn.executescript(script)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"{path}: schema migration {number} failed: {exc}") from exc
    return latest
