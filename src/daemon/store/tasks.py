"""Store methods for the tasks of jobs (``sugo jobs ID``): add them, move a
task's state (the one door for task states), read them. A mixin of
`sugo.daemon.store.Store`.

Every task change is also saved to the job's folder (`sugo.daemon.store.taskrecords`),
the durable record a lost database is rebuilt from.
"""

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sugo.daemon.store import taskrecords
from sugo.daemon.store.base import StoreBase
from sugo.daemon.store.rows import TaskRow
from sugo.protocol.states import TASK

_TASK_FIELDS = frozenset({"state", "started_at", "ended_at", "points", "error"})


def insert_tasks(conn: sqlite3.Connection, rows: Iterable[TaskRow]) -> None:
    """Add tasks (a task already there is kept); each must start as a new task does."""
    values = [
        (r.jobid, r.index, r.role, r.technique,
         TASK.born(f"job {r.jobid} task {r.index}", r.state).value)
        for r in rows
    ]  # fmt: skip
    conn.executemany(
        "INSERT OR IGNORE INTO job_tasks (jobid, idx, role, technique, state)"
        " VALUES (?, ?, ?, ?, ?)",
        values,
    )


def restore_tasks(conn: sqlite3.Connection, rows: Iterable[TaskRow]) -> None:
    """Put tasks back as their job's folder recorded them (a rebuild): in any
    state the task lifecycle knows, with their times, points and error."""
    values = [
        (r.jobid, r.index, r.role, r.technique,
         TASK.state(f"job {r.jobid} task {r.index}", r.state).value,
         r.started_at, r.ended_at, r.points, r.error)
        for r in rows
    ]  # fmt: skip
    conn.executemany(
        "INSERT OR IGNORE INTO job_tasks (jobid, idx, role, technique, state, started_at,"
        " ended_at, points, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        values,
    )


class TaskTables(StoreBase):
    def add_tasks(self, rows: list[TaskRow]) -> None:
        """Add a job's tasks, all ``pending``."""
        with self._write("job tasks") as conn:
            insert_tasks(conn, rows)

    def update_task(self, jobid: int, index: int, **fields: Any) -> None:
        """Change a task's fields (state, started_at, ended_at, points, error).

        A new ``state`` must be a move the task lifecycle (`TASK`) allows, or
        StoreError names the task and the move. No such task: nothing changes.
        """
        bad = set(fields) - _TASK_FIELDS
        if bad:
            raise ValueError(f"unknown task fields: {sorted(bad)}")
        if not fields:
            return
        what = f"job {jobid} task {index}"
        sets = ", ".join(f"{k} = ?" for k in fields)  # names from the whitelist above
        with self._write(what) as conn:
            if "state" in fields:
                current = conn.execute(
                    "SELECT state FROM job_tasks WHERE jobid = ? AND idx = ?", (jobid, index)
                ).fetchone()
                if current is None:
                    return
                fields["state"] = TASK.check(what, current[0], fields["state"]).value
            done = conn.execute(
                f"UPDATE job_tasks SET {sets} WHERE jobid = ? AND idx = ?",
                (*fields.values(), jobid, index),
            ).rowcount
        if done:
            self._save_tasks(jobid)

    def _save_tasks(self, jobid: int) -> None:
        found = self._conn.execute("SELECT jobdir FROM jobs WHERE id = ?", (jobid,)).fetchone()
        if found and found[0]:
            taskrecords.save(Path(found[0]), self.tasks_of(jobid), self.records.write)

    def tasks_of(self, jobid: int) -> list[TaskRow]:
        """The tasks of a job, in order."""
        return list(self._tasks("WHERE jobid = ?", (jobid,)))

    def tasks_of_jobs(self, jobids: list[int]) -> dict[int, list[TaskRow]]:
        """The tasks of each of these jobs (an empty list for a job without)."""
        out: dict[int, list[TaskRow]] = {j: [] for j in jobids}
        if not jobids:
            return out
        marks = ", ".join("?" * len(jobids))
        for row in self._tasks(f"WHERE jobid IN ({marks})", tuple(jobids)):
            out[row.jobid].append(row)
        return out

    def _tasks(self, where: str, params: tuple[Any, ...]) -> Iterator[TaskRow]:
        sql = (
            "SELECT jobid, idx, role, technique, state, started_at, ended_at, points, error"
            f" FROM job_tasks {where} ORDER BY jobid, idx"
        )
        for r in self._conn.execute(sql, params).fetchall():
            yield TaskRow(*r)
