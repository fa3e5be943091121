"""Store methods for the job folders, the durable record of the jobs table
(see `sugo.daemon.store.jobrecords`): ids reserved past the folders on disk, and
jobs put back from their folders. A mixin of `sugo.daemon.store.Store`."""

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from sugo.daemon.store import jobrecords
from sugo.daemon.store.base import StoreBase
from sugo.daemon.store.rows import JobRow, TaskRow
from sugo.daemon.store.tasks import restore_tasks
from sugo.errors import StoreError


def reserve_ids(conn: sqlite3.Connection, root: Path, reserved: set[Path]) -> None:
    """Once per job folder root (``reserved`` holds those done): new ids start
    after every job folder on disk, so that a lost database never makes a job
    reuse one."""
    if root in reserved:
        return
    highest = jobrecords.highest_id(root)
    if highest:
        # sqlite_sequence is where AUTOINCREMENT keeps the highest id given out.
        done = conn.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'jobs'", (highest,)
        ).rowcount
        if not done:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('jobs', ?)", (highest,))
    reserved.add(root)


class JobFolderTables(StoreBase):
    def count_jobs(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM jobs").fetchone()[0])

    def job_ids(self) -> list[int]:
        return [r[0] for r in self._conn.execute("SELECT id FROM jobs ORDER BY id")]

    def restore_jobs(self, rows: Sequence[JobRow], tasks: Sequence[TaskRow]) -> None:
        """Put jobs back as they were recorded (`sugo db rebuild`), with their
        ids, and their tasks; one transaction. Jobs and tasks keep the state
        they were recorded with (a restore, not a move)."""
        cols = JobRow.__struct_fields__
        marks = ", ".join("?" * len(cols))
        quoted = ", ".join(f'"{c}"' for c in cols)
        with self._write("rebuild jobs") as conn:
            for row in rows:
                values = [getattr(row, c) for c in cols]
                values[cols.index("status")] = row.status.value
                values[cols.index("unlock_when_done")] = int(row.unlock_when_done)
                conn.execute(f"INSERT INTO jobs ({quoted}) VALUES ({marks})", values)
            restore_tasks(conn, tasks)
        self._reserved.clear()  # reserved again (past the restored ids) at the next add_job


def new_folder(path: Path) -> bool:
    """Create a job folder (owner-only); False if it exists already."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.mkdir(mode=0o700)
    except FileExistsError:
        return False
    except OSError as e:
        raise StoreError(f"cannot create the job folder {path}: {e.strerror or e}") from e
    return True
