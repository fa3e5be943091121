"""The daemon's SQLite store: jobs, pipelines, drivers, components, events, meta.

Only the daemon writes it, from its main thread. Every public write method is
one transaction that commits before it returns. Rows come back as frozen
msgspec Structs (cheap to build: ``list_jobs`` of 10,000 rows stays fast);
``to_json()`` gives the ``--json`` shape. This module must import fast: no
pydantic, numpy or xarray here.
"""

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

from sugo.daemon import jobrecords
from sugo.daemon.migrations import migrate
from sugo.daemon.registry_tables import RegistryTables
from sugo.daemon.rows import (
    COMPONENT_COLS,
    DRIVER_COLS,
    EVENT_COLS,
    JOB_COLS,
    PIPELINE_COLS,
    UNSET,
    UPDATABLE_JOB_FIELDS,
    ComponentRow,
    DriverRow,
    EventRow,
    JobRow,
    PipelineRow,
    Unset,
    component_row,
    driver_row,
    event_row,
    job_row,
    pipeline_row,
)
from sugo.daemon.store_folders import JobFolderTables, new_folder
from sugo.errors import StoreError
from sugo.protocol.states import (
    FINAL,
    QUEUED,
    RUNNING,
    ComponentState,
    DriverState,
    JobStatus,
    check_component_transition,
    check_driver_transition,
    check_transition,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
# While another process holds the write lock, writes give up this fast, so the
# daemon's loop keeps serving (each refused write is an error reply, not a stall).
LOCKED_BUSY_TIMEOUT_MS = 100


_E = TypeVar("_E", JobStatus, DriverState, ComponentState)
_R = TypeVar("_R")


def _enum(kind: type[_E], value: str, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise StoreError(f"{what}: unknown {kind.__name__} {value!r}") from None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _create_private(path: Path) -> None:
    """Create the database file owner-only before SQLite opens it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)


class DamagedDatabase(StoreError):
    """The database file is not a database, or its pages are corrupt."""


def _damaged(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


class Store(RegistryTables, JobFolderTables):
    """The daemon's SQLite database. Use it from one thread only.

    ``check`` runs SQLite's quick_check first (the daemon's start): a damaged
    file is refused with DamagedDatabase instead of failing later, half-way."""

    def __init__(self, path: Path, check: bool = False) -> None:
        self.path = Path(path)
        self._busy_ms = BUSY_TIMEOUT_MS
        self._reserved: set[Path] = set()  # job folder roots whose ids are reserved
        # A write refused for another reason than a lock (a full disk, a
        # read-only file system, an I/O error): what and since when, until a
        # write succeeds again; then ``on_recovered(error, since)`` is called.
        self.write_problem: tuple[str, float] | None = None
        self.on_recovered: Callable[[str, float], None] | None = None
        try:
            _create_private(self.path)
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
            if _damaged(exc):
                raise DamagedDatabase(f"{self.path} is damaged ({exc})") from exc
            raise StoreError(f"{self.path}: not a usable database: {exc}") from exc
        if problems != ["ok"]:
            raise DamagedDatabase(f"{self.path} is damaged ({'; '.join(map(str, problems))})")
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot switch to WAL mode (got {mode!r})")
        migrate(conn, str(self.path))

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------

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
        self._set_busy_timeout(BUSY_TIMEOUT_MS)
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

    # -- jobs ---------------------------------------------------------------

    def add_job(
        self,
        *,
        payload_json: str,
        jobname: str | None,
        sample: str,
        user: str,
        output_dir: str | os.PathLike[str],
        prefix: str | None,
        unlock_when_done: bool,
        jobdir_root: Path,
        now: float | None = None,
    ) -> JobRow:
        """Queue a new job (status ``q``); its folder is ``jobdir_root / id``."""
        submitted = time.time() if now is None else now
        root = Path(jobdir_root)
        with self._write("new job") as conn:
            self._reserve_ids(conn, root)
            while True:
                cur = conn.execute(
                    'INSERT INTO jobs (jobname, status, payload, sample, "user", submitted_at,'
                    " output_dir, prefix, jobdir, unlock_when_done)"
                    " VALUES (?, 'q', ?, ?, ?, ?, ?, ?, '', ?)",
                    (jobname, payload_json, sample, user, submitted, os.fspath(output_dir),
                     prefix, int(unlock_when_done)),
                )  # fmt: skip
                job_id = cur.lastrowid
                assert job_id is not None
                jobdir = root / str(job_id)
                if new_folder(jobdir):
                    break
                # A folder of a job the database does not know (it was lost):
                # never reuse it. AUTOINCREMENT keeps the id used; take the next.
                log.warning("job folder %s exists already: skipping id %d", jobdir, job_id)
                conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            conn.execute("UPDATE jobs SET jobdir = ? WHERE id = ?", (os.fspath(jobdir), job_id))
            row = self._job_or_raise(job_id)
        jobrecords.save(row)
        jobrecords.note_last_id(root, job_id)
        log.info("job %d: queued", job_id)
        return row

    def get_job(self, job_id: int) -> JobRow | None:
        """The job with this id, or None."""
        return self._one("jobs", JOB_COLS, "id", job_id, job_row)

    def _job_or_raise(self, job_id: int) -> JobRow:
        return _must(self.get_job(job_id), f"job {job_id}")

    def list_jobs(
        self,
        ids: Iterable[int] | None = None,
        statuses: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[JobRow]:
        """Jobs in id order, filtered by ``ids`` and/or ``statuses``.

        ``limit`` keeps the newest (highest-id) matches, still in id order.
        """
        where: list[str] = []
        params: list[object] = []
        # One JSON array parameter instead of N placeholders: no limit on N.
        if ids is not None:
            where.append("id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps([int(i) for i in ids]))
        if statuses is not None:
            where.append("status IN (SELECT value FROM json_each(?))")
            params.append(json.dumps([_enum(JobStatus, s, "jobs").value for s in statuses]))
        sql = f"SELECT {JOB_COLS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if limit is None:
            return self._rows(sql + " ORDER BY id", params, job_row)
        return self._rows(sql + " ORDER BY id DESC LIMIT ?", [*params, limit], job_row)[::-1]

    def search_jobs(self, text: str) -> list[JobRow]:
        """Jobs whose name contains ``text`` (ASCII case-insensitive), in id order."""
        sql = f"SELECT {JOB_COLS} FROM jobs WHERE jobname LIKE ? ESCAPE '\\' ORDER BY id"
        return self._rows(sql, (f"%{_escape_like(text)}%",), job_row)

    def queued_jobs(self) -> list[JobRow]:
        """Jobs waiting to run (``q`` or ``qw``), first come first served."""
        return self.list_jobs(statuses=QUEUED)

    def running_jobs(self) -> list[JobRow]:
        """Jobs with a runner (``r`` or ``rd``), in id order."""
        return self.list_jobs(statuses=RUNNING)

    def set_job_status(
        self, job_id: int, new: str, *, error: str | None = None, now: float | None = None
    ) -> JobRow:
        """Move a job to status ``new``: the one place job statuses change.

        Sets ``started_at`` on ``r`` and ``completed_at`` on a final status, and
        stores ``error`` when given. Illegal moves raise StoreError; repeating
        the current (non-final) status changes nothing.
        """
        status = _enum(JobStatus, new, f"job {job_id}")
        stamp = time.time() if now is None else now
        changes: dict[str, object] = {"status": status.value}
        if status == JobStatus.R:
            changes["started_at"] = stamp
        if status in FINAL:
            changes["completed_at"] = stamp
        if error is not None:
            changes["error"] = error
        with self._write(f"job {job_id}") as conn:
            old = self._job_or_raise(job_id)
            check_transition(old.status, status, job_id=job_id)
            if old.status == status:
                return old
            _update(conn, "jobs", "id", job_id, changes)
            row = self._job_or_raise(job_id)
        jobrecords.save(row)
        log.info("job %d: %s -> %s", job_id, old.status, status)
        return row

    def update_job(self, job_id: int, **fields: object) -> JobRow:
        """Change non-status fields: pipeline, respath, snappath, runner_pid,
        runner_started, error. Unknown field names raise StoreError."""
        unknown = set(fields) - UPDATABLE_JOB_FIELDS
        if unknown:
            raise StoreError(f"job {job_id}: cannot update field(s) {', '.join(sorted(unknown))}")
        changes = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in fields.items()}
        with self._write(f"job {job_id}") as conn:
            self._job_or_raise(job_id)
            _update(conn, "jobs", "id", job_id, changes)
            row = self._job_or_raise(job_id)
        jobrecords.save(row)
        return row

    def prune_jobs(self, older_than: float) -> list[int]:
        """Delete final jobs completed before ``older_than``; returns their ids."""
        finals = json.dumps([s.value for s in FINAL])
        with self._write("prune") as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM jobs WHERE status IN (SELECT value FROM json_each(?))"
                    " AND completed_at < ? ORDER BY id",
                    (finals, older_than),
                )
            ]
            conn.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in ids])
        return ids

    # -- pipelines ----------------------------------------------------------

    def upsert_pipeline(self, name: str, components: dict[str, str]) -> PipelineRow:
        """Create a pipeline or replace its components, keeping sample/ready/jobid."""
        with self._write(f"pipeline {name}") as conn:
            conn.execute(
                "INSERT INTO pipelines (name, components) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET components = excluded.components",
                (name, json.dumps(dict(components))),
            )
            return self._pipeline_or_raise(name)

    def get_pipeline(self, name: str) -> PipelineRow | None:
        """The pipeline of that name, or None."""
        return self._one("pipelines", PIPELINE_COLS, "name", name, pipeline_row)

    def _pipeline_or_raise(self, name: str) -> PipelineRow:
        return _must(self.get_pipeline(name), f"pipeline {name}")

    def list_pipelines(self) -> list[PipelineRow]:
        """All pipelines, by name."""
        return self._rows(f"SELECT {PIPELINE_COLS} FROM pipelines ORDER BY name", (), pipeline_row)

    def set_pipeline(
        self,
        name: str,
        *,
        sample: str | Unset | None = UNSET,
        ready: bool | Unset = UNSET,
        jobid: int | Unset | None = UNSET,
    ) -> PipelineRow:
        """Change only the given fields of a pipeline (None is a value: it clears)."""
        given = {"sample": sample, "ready": ready, "jobid": jobid}
        changes = {k: v for k, v in given.items() if v is not UNSET}
        if "ready" in changes:
            changes["ready"] = int(bool(changes["ready"]))
        with self._write(f"pipeline {name}") as conn:
            self._pipeline_or_raise(name)
            _update(conn, "pipelines", "name", name, changes)
            return self._pipeline_or_raise(name)

    def delete_pipeline(self, name: str) -> bool:
        """Remove a pipeline; False if there was none."""
        return self._delete("pipelines", name)

    # -- drivers ------------------------------------------------------------

    def upsert_driver(
        self,
        name: str,
        *,
        state: str = DriverState.STARTING,
        pid: int | None = None,
        port: int | None = None,
        version: str | None = None,
        settings: dict[str, Any] | None = None,
        started_at: float | None = None,
        create_time: float | None = None,
    ) -> DriverRow:
        """Create or fully overwrite a driver row (its components are kept)."""
        state_ = _enum(DriverState, state, f"driver {name}").value
        values = (name, pid, port, state_, version, json.dumps(settings or {}), started_at,
                  create_time)  # fmt: skip
        with self._write(f"driver {name}"):
            self._upsert("drivers", DriverRow.__struct_fields__, values)
            return self._driver_or_raise(name)

    def set_driver_state(self, name: str, state: str) -> DriverRow:
        """Move a driver to ``state`` if its lifecycle table allows it."""
        with self._write(f"driver {name}") as conn:
            check_driver_transition(name, self._driver_or_raise(name).state, state)
            _update(conn, "drivers", "name", name, {"state": DriverState(state).value})
            return self._driver_or_raise(name)

    def get_driver(self, name: str) -> DriverRow | None:
        """The driver of that name, or None."""
        return self._one("drivers", DRIVER_COLS, "name", name, driver_row)

    def _driver_or_raise(self, name: str) -> DriverRow:
        return _must(self.get_driver(name), f"driver {name}")

    def list_drivers(self) -> list[DriverRow]:
        """All drivers, by name."""
        return self._rows(f"SELECT {DRIVER_COLS} FROM drivers ORDER BY name", (), driver_row)

    def delete_driver(self, name: str) -> bool:
        """Remove a driver and its components; False if there was none."""
        return self._delete("drivers", name)

    # -- components ---------------------------------------------------------

    def upsert_component(
        self,
        name: str,
        *,
        driver: str,
        device: str,
        address: str,
        channel: str,
        pollrate: float,
        capabilities: Iterable[str] = (),
        state: str = ComponentState.REGISTERING,
    ) -> ComponentRow:
        """Create or fully overwrite a component; its driver must exist."""
        state_ = _enum(ComponentState, state, f"component {name}").value
        values = (name, driver, device, str(address), str(channel), float(pollrate),
                  json.dumps(list(capabilities)), state_)  # fmt: skip
        with self._write(f"component {name}"):
            if self.get_driver(driver) is None:
                raise StoreError(f"component {name}: unknown driver {driver}")
            self._upsert("components", ComponentRow.__struct_fields__, values)
            return self._component_or_raise(name)

    def set_component_state(self, name: str, state: str) -> ComponentRow:
        """Move a component to ``state`` if its lifecycle table allows it."""
        with self._write(f"component {name}") as conn:
            check_component_transition(name, self._component_or_raise(name).state, state)
            _update(conn, "components", "name", name, {"state": ComponentState(state).value})
            return self._component_or_raise(name)

    def get_component(self, name: str) -> ComponentRow | None:
        """The component of that name, or None."""
        return self._one("components", COMPONENT_COLS, "name", name, component_row)

    def _component_or_raise(self, name: str) -> ComponentRow:
        return _must(self.get_component(name), f"component {name}")

    def list_components(self, driver: str | None = None) -> list[ComponentRow]:
        """All components (or those of one driver), by name."""
        params: tuple[str, ...] = ()
        if driver is None:
            sql = f"SELECT {COMPONENT_COLS} FROM components ORDER BY name"
        else:
            sql = f"SELECT {COMPONENT_COLS} FROM components WHERE driver = ? ORDER BY name"
            params = (driver,)
        return self._rows(sql, params, component_row)

    def delete_component(self, name: str) -> bool:
        """Remove a component; False if there was none."""
        return self._delete("components", name)

    # -- events -------------------------------------------------------------

    def add_event(
        self,
        kind: str,
        subject: str,
        data: dict[str, Any] | None = None,
        *,
        now: float | None = None,
    ) -> int:
        """Append an event (e.g. kind ``job.queued``, subject ``job 3``); returns its id."""
        stamp = time.time() if now is None else now
        with self._write(f"event {kind}") as conn:
            cur = conn.execute(
                "INSERT INTO events (time, kind, subject, data) VALUES (?, ?, ?, ?)",
                (stamp, kind, subject, json.dumps(data or {})),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def list_events(self, after_id: int = 0, limit: int = 1000) -> list[EventRow]:
        """Events with id greater than ``after_id``, oldest first, at most ``limit``."""
        sql = f"SELECT {EVENT_COLS} FROM events WHERE id > ? ORDER BY id LIMIT ?"
        return self._rows(sql, (after_id, limit), event_row)

    def prune_events(self, older_than: float) -> int:
        """Delete events logged before ``older_than``; returns how many."""
        with self._write("prune events") as conn:
            return conn.execute("DELETE FROM events WHERE time < ?", (older_than,)).rowcount

    # -- meta ---------------------------------------------------------------

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` (e.g. the daemon's port)."""
        with self._write(f"meta {key}"):
            self._upsert("meta", ("key", "value"), (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""
        value = self._one("meta", "value", "key", key, lambda r: json.loads(r[0]))
        return default if value is None else value

    def delete_meta(self, key: str) -> None:
        """Forget ``key`` (no error if absent)."""
        with self._write(f"meta {key}") as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))


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


def _must(row: _R | None, what: str) -> _R:
    if row is None:
        raise StoreError(f"{what}: not found")
    return row


def _update(
    conn: sqlite3.Connection, table: str, key: str, value: object, changes: Mapping[str, object]
) -> None:
    # Column names come from our own code (whitelisted), values are parameters.
    if changes:
        sets = ", ".join(f"{column} = ?" for column in changes)
        conn.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*changes.values(), value))
