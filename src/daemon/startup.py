"""The daemon's store at start: open and check it, restore a lost jobs table
from the job folders, and free what ended jobs still hold.

Everything here runs once, before the daemon serves; what it had to do is
logged, kept as a notice for `sugo status`, and recorded as an event.
"""

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sugo.daemon.store import (
    DamagedDatabase,
    Store,
    jobrecords,
    pipelinerecords,
    retryable,
    taskrecords,
)
from sugo.errors import StoreError
from sugo.platform import oslock
from sugo.protocol.states import ComponentState, JobStatus

if TYPE_CHECKING:
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Runtime

log = logging.getLogger("sugo.daemon")


class DatabaseInUse(StoreError):
    """Another daemon (of another appdir) holds the database's lock."""


def lock_database(dbpath: Path, port: int | None) -> oslock.HeldLock:
    """The lock beside the database, held for the daemon's life (as the
    appdir's lock: a second appdir may name the same database file)."""
    try:
        return oslock.acquire(oslock.db_lock_path(dbpath), os.getpid(), port)
    except oslock.LockHeld as e:
        raise DatabaseInUse(
            f"the database {dbpath} is in use by another daemon ({e.holder.describe()});"
            " stop it first, or give this appdir its own jobs.dbpath"
        ) from None
    except OSError as e:
        raise StoreError(f"cannot lock the database {dbpath}: {e}") from e


class DatabaseRefused(StoreError):
    """The database refuses writes at start: a full disk, a read-only file
    system, an I/O error. Said in one line; the start changes nothing."""


def refused(dbpath: Path, exc: StoreError) -> DatabaseRefused:
    reason = exc.__cause__ or exc
    return DatabaseRefused(
        f"the database {dbpath} refuses writes ({reason}): free space or fix its file"
        " system, then start again (running jobs and driver hosts are left as they are)"
    )


def open_store(dbpath: Path, storage: Path) -> Store:
    """The daemon's store, checked; a damaged file is refused with what to do."""
    try:
        return Store(dbpath, check=True, storage=storage, background_records=True)
    except DamagedDatabase as e:
        raise DamagedDatabase(
            f"{e}: run 'sugo db rebuild' (it moves the damaged file aside and"
            f" restores the jobs from their folders in {storage}), then start again"
        ) from e
    except StoreError as e:
        if retryable(e):
            raise refused(dbpath, e) from e
        raise


def first_write(d: "Runtime") -> None:
    """The daemon's first write (its pid and port): a database that refuses it
    is said in one line before anything is started (`DatabaseRefused`)."""
    try:
        d.store.set_meta("pid", os.getpid())
        d.store.set_meta("port", d.port)
    except StoreError as e:
        if retryable(e):
            raise refused(d.settings.jobs.dbpath, e) from e
        raise


def rebuild(store: Store, storage: Path) -> jobrecords.Rebuilt:
    """Put back every job recorded in a folder of ``storage`` that the jobs
    table lacks, with its tasks, and what the pipelines held when the
    pipelines table is empty (`sugo db rebuild`, or a start with an empty
    jobs or pipelines table). A record that cannot be used is reported, not
    fatal."""
    rows, report = jobrecords.read_missing(storage, store.job_ids())
    if rows:
        tasks = []
        for row in rows:
            recorded, problem = taskrecords.recorded(row)
            tasks += recorded
            if problem:
                log.warning("job %d: tasks not restored: %s", row.id, problem)
                report.partial[row.id] = problem
        store.restore_jobs(rows, tasks)
    if not store.list_pipelines():
        _restore_pipelines(store, storage, report)
    return report


def _restore_pipelines(store: Store, storage: Path, report: jobrecords.Rebuilt) -> None:
    try:
        recorded = pipelinerecords.load(storage)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        aside = pipelinerecords.move_aside(storage)
        where = f" (moved to {aside})" if aside else ""
        report.pipelines_problem = f"unreadable {pipelinerecords.path_in(storage)}{where}: {e}"
        log.warning("rebuild: pipelines not restored: %s", report.pipelines_problem)
        return
    rows, changed = pipelinerecords.restorable(recorded, store.get_job)
    for line in changed:
        log.warning("rebuild: %s", line)
    store.restore_pipelines(rows)
    report.pipelines = [p.name for p in rows]


def restore_if_lost(d: "Runtime", events: "Events") -> str | None:
    """When the jobs table is empty but job folders exist, or the pipelines
    table is empty but their record is not (a lost or replaced database),
    restore them; returns the notice, if any."""
    storage, store = d.settings.jobs.storage, d.store
    jobs_lost = not store.count_jobs() and bool(jobrecords.job_folders(storage))
    if not jobs_lost and (store.list_pipelines() or not pipelinerecords.worth_restoring(storage)):
        return None
    report = rebuild(store, storage)
    if jobs_lost:
        lost = f"the jobs table of {store.path} was empty but job folders exist in {storage}"
    else:
        lost = f"the pipelines table of {store.path} was empty but {storage} records them"
    notice = f"{lost} (database lost?): {report.summary()}"
    log.warning("daemon: %s", notice)
    events.emit(
        "database.rebuilt", str(store.path), restored=len(report.restored),
        skipped=sorted(report.skipped), partial=sorted(report.partial),
        pipelines=report.pipelines, at=time.time(),
    )  # fmt: skip
    return notice


def repair_holds(d: "Runtime", events: "Events") -> list[str]:
    """Free pipelines (and their components) still held by a job that has
    ended or is gone, which a database write lost at the job's end would
    leave for good; hold again the pipeline of a running job that lost its
    hold (a rebuilt database). Returns what was repaired."""
    store = d.store
    running = {j.id: j for j in store.running_jobs()}
    held: set[str] = set()
    repaired = []
    for job in running.values():
        p = store.get_pipeline(job.pipeline) if job.pipeline else None
        if p is not None and p.jobid is None:
            store.set_pipeline(p.name, jobid=job.id, ready=False)
            repaired.append(f"pipeline {p.name} held again by running job {job.id}")
    for p in store.list_pipelines():
        if p.jobid is None:
            continue
        if p.jobid in running:
            held.update(p.components.values())
            continue
        ended = store.get_job(p.jobid)
        ready = bool(ended and ended.unlock_when_done and ended.status == JobStatus.C)
        store.set_pipeline(p.name, jobid=None, ready=ready)
        why = f"job {p.jobid} has ended ({ended.status})" if ended else f"job {p.jobid} is gone"
        repaired.append(f"pipeline {p.name} freed: {why}")
        events.emit("pipeline.freed", p.name, jobid=p.jobid, ready=ready, repaired=True)
    for c in store.list_components():
        if c.state == ComponentState.BUSY and c.name not in held:
            store.set_component_state(c.name, ComponentState.IDLE)
            repaired.append(f"component {c.name} freed")
    for line in repaired:
        log.warning("daemon: start-up repair: %s", line)
    return repaired


class Offline(NamedTuple):
    """What `rebuild_offline` did."""

    report: jobrecords.Rebuilt
    moved: list[Path]  # the damaged database's files, moved aside


def rebuild_offline(appdir: Path, dbpath: Path, storage: Path) -> Offline:
    """`sugo db rebuild`: with no daemon running (its lock is taken for the
    while), restore the jobs table from the job folders. A damaged database
    is moved aside first (with its -wal and -shm files: SQLite would replay
    an old WAL into a new file) and a new one made."""
    with oslock.acquire(oslock.lock_path(appdir), os.getpid(), None), lock_database(dbpath, None):
        moved: list[Path] = []
        try:
            store = Store(dbpath, check=True, storage=storage)
        except DamagedDatabase as e:
            log.info("%s; moving it aside", e)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for suffix in ("", "-wal", "-shm"):
                old = Path(f"{dbpath}{suffix}")
                if old.exists():
                    new = old.with_name(f"{dbpath.name}.damaged-{stamp}{suffix}")
                    os.replace(old, new)
                    moved.append(new)
            store = Store(dbpath, check=True, storage=storage)
        with store:
            return Offline(rebuild(store, storage), moved)
