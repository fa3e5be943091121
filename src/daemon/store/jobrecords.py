"""The job folders as the durable record of the jobs table.

Every job gets its folder ``<storage>/<id>`` when it is queued, and the store
writes the job's row into ``job.json`` there after every change it commits
(status, times, pipeline, results path, runner pid; a scheduling pass writes
the jobs it starts once, at its end: `Store.records_held`). The runner's own
``final.json`` says how the job ended even when the database could not record
it. So a lost or damaged database loses no history: `rebuild` puts the rows
back from the folders (`sugo db rebuild`, or the daemon's start when its jobs
table is empty).

Ids are never reused: a new job's id comes after the highest job folder on
disk (and after ``last-id``, which survives `sugo jobs prune` removing the
newest folders), and a folder that exists already is never taken over.
"""

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from sugo.daemon.store.rows import JobRow, TaskRow
from sugo.jobs.folder import FINAL_FILE, LAST_ID_FILE, RECORD_FILE, TASKS_FILE
from sugo.protocol.states import FINAL, JobStatus, TaskState

log = logging.getLogger(__name__)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (a reader sees the old or the new file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_record(path: Path, data: bytes) -> None:
    """Replace the record file ``path``; a folder that is gone stays gone (a
    pruned job's), and a write that fails is logged: the database has the
    change, only a rebuild would miss it."""
    if not path.parent.is_dir():
        return
    try:
        write_atomic(path, data)
    except OSError as e:
        log.warning("cannot write %s: %s", path, e)


def save(row: JobRow, write: Callable[[Path, bytes], None] = write_record) -> None:
    """Write the job's row into its folder (through ``write``: the store's
    `RecordWriter`)."""
    write(Path(row.jobdir) / RECORD_FILE, msgspec.json.encode(row))


def note_last_id(storage: Path, job_id: int) -> None:
    try:
        write_atomic(Path(storage) / LAST_ID_FILE, f"{job_id}\n".encode())
    except OSError as e:
        log.warning("cannot write %s: %s", Path(storage) / LAST_ID_FILE, e)


def job_folders(storage: Path) -> dict[int, Path]:
    """The job folders in ``storage`` by id (folders named by a number)."""
    out: dict[int, Path] = {}
    try:
        entries = list(os.scandir(storage))
    except FileNotFoundError:
        return out
    for entry in entries:
        if entry.name.isdigit() and entry.is_dir(follow_symlinks=False):
            out[int(entry.name)] = Path(entry.path)
    return out


def highest_id(storage: Path) -> int:
    """The highest job id ever used in ``storage`` (0 when none)."""
    folders = job_folders(storage)
    highest = max(folders, default=0)
    try:
        text = (Path(storage) / LAST_ID_FILE).read_text(encoding="ascii").strip()
        highest = max(highest, int(text))
    except (OSError, ValueError):
        pass
    return highest


def load(folder: Path) -> JobRow:
    """The job recorded in ``folder``, brought up to date by its ``final.json``.

    Raises OSError or ValueError when there is no usable record."""
    row = msgspec.json.decode((folder / RECORD_FILE).read_bytes(), type=JobRow)
    if row.id != int(folder.name):
        raise ValueError(f"{RECORD_FILE} is of job {row.id}")
    changes: dict[str, object] = {"jobdir": str(folder)}
    final = folder / FINAL_FILE
    if not row.is_final and final.exists():
        # The runner recorded the end; the database (and so job.json) may not have.
        rec = json.loads(final.read_text(encoding="utf-8"))
        changes.update(
            status=JobStatus(rec["status"]),
            error=rec.get("error"),
            respath=rec.get("respath") or row.respath,
            completed_at=final.stat().st_mtime,
        )
    elif row.status == JobStatus.QW:
        changes["status"] = JobStatus.Q  # matched again by the scheduler
    return msgspec.structs.replace(row, **changes)


@dataclass
class Rebuilt:
    """What `rebuild` did."""

    restored: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)  # id -> why
    highest: int = 0
    # Jobs restored without the record of their tasks (id -> why): an
    # unfinished one got its tasks from its payload, an ended one none.
    partial: dict[int, str] = field(default_factory=dict)
    pipelines: list[str] = field(default_factory=list)  # restored with what they hold
    # The pipelines' record could not be used (why; it is moved aside).
    pipelines_problem: str | None = None

    def summary(self) -> str:
        text = f"{len(self.restored)} job(s) restored from their folders"
        if self.skipped:
            text += f"; {len(self.skipped)} folder(s) without a usable {RECORD_FILE}: "
            text += _ids(self.skipped)
        if self.partial:
            text += f"; job(s) restored without their tasks ({TASKS_FILE} unusable): "
            text += _ids(self.partial)
        if self.pipelines:
            text += f"; {len(self.pipelines)} pipeline(s) restored with what they held"
        if self.pipelines_problem:
            text += f"; pipelines not restored: {self.pipelines_problem}"
        return text


def _ids(jobs: dict[int, str]) -> str:
    more = "" if len(jobs) <= 10 else f" (and {len(jobs) - 10} more)"
    return ", ".join(str(i) for i in sorted(jobs)[:10]) + more


def read_missing(storage: Path, known: Iterable[int]) -> tuple[list[JobRow], Rebuilt]:
    """The jobs recorded in folders of ``storage`` that are not in ``known``."""
    folders = job_folders(storage)
    known_ids = set(known)
    out = Rebuilt(highest=highest_id(storage))
    rows = []
    for job_id in sorted(set(folders) - known_ids):
        try:
            rows.append(load(folders[job_id]))
        except FileNotFoundError:
            out.skipped[job_id] = f"no {RECORD_FILE} (a job of an older sugo?)"
        except (OSError, ValueError, KeyError, msgspec.MsgspecError) as e:
            out.skipped[job_id] = f"unreadable {RECORD_FILE}: {e}"
    out.restored = [r.id for r in rows]
    return rows, out


def pending_tasks(row: JobRow) -> list[TaskRow]:
    """The tasks of an unfinished job, all pending, from its payload."""
    if row.status in FINAL:
        return []
    try:
        method = json.loads(row.payload).get("method") or []
        return [
            TaskRow(
                row.id, i, str(t["component_role"]), str(t["technique_name"]), TaskState.PENDING
            )
            for i, t in enumerate(method)
        ]
    except (ValueError, AttributeError, KeyError, TypeError):
        return []
