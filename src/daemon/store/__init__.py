"""The daemon's SQLite store: jobs and their tasks, pipelines, drivers,
components, health, maintenance, events, meta.

Only the daemon writes it, from its main thread. Every public write method is
one transaction that commits before it returns. Rows come back as frozen
msgspec Structs (cheap to build: ``list_jobs`` of 10,000 rows stays fast);
what clients see are the protocol's structs, built from them. This module
must import fast: no pydantic, numpy or xarray here.

`Store` opens the file; each table family is a mixin in its own module of
this package, over one connection (`base`): jobs (`jobs`), the job folders
(`folders`), tasks (`tasks`), pipelines (`pipelines`), drivers and components
(`devices`), health and maintenance (`registry`), events and meta (`events`);
rows in `rows`, the schema's versions in `migrations`. The durable records
outside the database (job folders, tasks.json, pipelines.json) are
`jobrecords`, `taskrecords` and `pipelinerecords`. Every job, task, driver and
component state written passes its lifecycle in `sugo.protocol.states`.
"""

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Self

from sugo.daemon.store.base import (
    BUSY_TIMEOUT_MS,
    LOCKED_BUSY_TIMEOUT_MS,
    DamagedDatabase,
    create_private,
    damaged,
    is_locked,
    retryable,
)
from sugo.daemon.store.devices import DeviceTables
from sugo.daemon.store.events import EventTables
from sugo.daemon.store.folders import JobFolderTables
from sugo.daemon.store.jobs import JobTables
from sugo.daemon.store.migrations import migrate
from sugo.daemon.store.pipelines import PipelineTables
from sugo.daemon.store.recordwriter import RecordWriter
from sugo.daemon.store.registry import RegistryTables
from sugo.daemon.store.rows import (
    ComponentRow,
    DriverRow,
    EventRow,
    JobRow,
    MaintenanceRow,
    PipelineRow,
    TaskRow,
)
from sugo.daemon.store.tasks import TaskTables
from sugo.errors import StoreError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "LOCKED_BUSY_TIMEOUT_MS",
    "ComponentRow",
    "DamagedDatabase",
    "DriverRow",
    "EventRow",
    "JobRow",
    "MaintenanceRow",
    "PipelineRow",
    "Store",
    "TaskRow",
    "is_locked",
    "retryable",
]


class Store(
    JobTables, JobFolderTables, TaskTables, PipelineTables, DeviceTables, RegistryTables,
    EventTables,
):  # fmt: skip
    """The daemon's SQLite database. Use it from one thread only.

    ``check`` runs SQLite's quick_check first (the daemon's start): a damaged
    file is refused with DamagedDatabase instead of failing later, half-way.
    ``storage``, the job folder root, is where the pipelines' record is kept.
    ``background_records`` (the daemon's): the record files are written by a
    thread of their own (`recordwriter`), not in the caller's."""

    def __init__(
        self,
        path: Path,
        check: bool = False,
        storage: Path | None = None,
        background_records: bool = False,
    ) -> None:
        self.path = Path(path)
        self.storage = None if storage is None else Path(storage)
        self.records = RecordWriter(background=background_records)
        # Read here, not imported into the base: tests shorten it on this module.
        self._busy_ms = self._patient_ms = BUSY_TIMEOUT_MS
        self._reserved: set[Path] = set()
        self.write_problem: tuple[str, float] | None = None
        self.on_recovered: Callable[[str, float], None] | None = None
        try:
            create_private(self.path)
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the database: {exc}") from exc
        try:
            self._setup(check)
        except BaseException:
            self._conn.close()
            raise

    def _setup(self, check: bool) -> None:
        conn = self._conn
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS:d}")
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)")] if check else ["ok"]
        except sqlite3.Error as exc:
            if damaged(exc):
                raise DamagedDatabase(f"{self.path} is damaged ({exc})") from exc
            raise StoreError(f"{self.path}: not a usable database: {exc}") from exc
        if problems != ["ok"]:
            raise DamagedDatabase(f"{self.path} is damaged ({'; '.join(map(str, problems))})")
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot switch to WAL mode (got {mode!r})")
        migrate(conn, str(self.path))

    def close(self) -> None:
        """Write the records still pending, close the connection (idempotent)."""
        self.records.close()
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
