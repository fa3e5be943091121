"""Store methods for the jobs table: queue a job, read and list jobs, move a
job's status (the one door for job statuses), change its other fields, prune.
A mixin of `sugo.daemon.store.Store`.

Every job row written here is also saved to its job folder
(`sugo.daemon.store.jobrecords`), the durable record a lost database is rebuilt from.
"""

import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sugo.daemon.store import jobrecords
from sugo.daemon.store.base import StoreBase, must, update
from sugo.daemon.store.folders import new_folder, reserve_ids
from sugo.daemon.store.rows import JOB_COLS, UPDATABLE_JOB_FIELDS, JobRow, job_row
from sugo.errors import StoreError
from sugo.protocol.states import FINAL, JOB, QUEUED, RUNNING, JobStatus

log = logging.getLogger("sugo.daemon.store")

_NEW_STATUS = JOB.born("new job", JobStatus.Q)  # the status add_job writes


class JobTables(StoreBase):
    # Rows whose job.json waits for the end of `records_held` (None: written at once).
    _held_records: dict[int, JobRow] | None = None

    @contextmanager
    def records_held(self) -> Iterator[None]:
        """Within it, each job's ``job.json`` is written once, with the job's
        last row, when it ends (however it ends), instead of after every
        change: a scheduling pass changes a job it starts four times (``qw``,
        ``r``, its pipeline, its runner), and a write costs 0.2-2 ms of the
        loop (the rename over the old file starts its write-back). Nothing
        reads the folders while the daemon runs; the database has each change
        at once. Nested: the outermost one writes."""
        if self._held_records is not None:
            yield
            return
        self._held_records = {}
        try:
            yield
        finally:
            held, self._held_records = self._held_records, None
            for row in held.values():
                jobrecords.save(row, self.records.write)

    def _record(self, row: JobRow) -> None:
        """Save ``row`` to its job folder, now or at the end of `records_held`."""
        if self._held_records is None:
            jobrecords.save(row, self.records.write)
        else:
            self._held_records[row.id] = row

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
            reserve_ids(conn, root, self._reserved)
            while True:
                cur = conn.execute(
                    'INSERT INTO jobs (jobname, status, payload, sample, "user", submitted_at,'
                    " output_dir, prefix, jobdir, unlock_when_done)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?)",
                    (jobname, _NEW_STATUS.value, payload_json, sample, user, submitted,
                     os.fspath(output_dir), prefix, int(unlock_when_done)),
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
        self._record(row)
        jobrecords.note_last_id(root, job_id)
        log.info("job %d: queued", job_id)
        return row

    def get_job(self, job_id: int) -> JobRow | None:
        """The job with this id, or None."""
        return self._one("jobs", JOB_COLS, "id", job_id, job_row)

    def _job_or_raise(self, job_id: int) -> JobRow:
        return must(self.get_job(job_id), f"job {job_id}")

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
            params.append(json.dumps([JOB.state("jobs", s).value for s in statuses]))
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
        stores ``error`` when given. Moves the job lifecycle (`JOB`) does not
        allow raise StoreError; repeating the current (non-final) status
        changes nothing.
        """
        what = f"job {job_id}"
        status = JOB.state(what, new)
        stamp = time.time() if now is None else now
        changes: dict[str, object] = {"status": status.value}
        if status == JobStatus.R:
            changes["started_at"] = stamp
        if status in FINAL:
            changes["completed_at"] = stamp
        if error is not None:
            changes["error"] = error
        with self._write(what) as conn:
            old = self._job_or_raise(job_id)
            JOB.check(what, old.status, status)
            if old.status == status:
                return old
            update(conn, "jobs", "id", job_id, changes)
            row = self._job_or_raise(job_id)
        self._record(row)
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
            update(conn, "jobs", "id", job_id, changes)
            row = self._job_or_raise(job_id)
        self._record(row)
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


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
