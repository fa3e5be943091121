"""A job's tasks in its folder (``tasks.json``): the durable record of the
job's rows of the tasks table, as ``job.json`` is of its row in the jobs table
(`sugo.daemon.store.jobrecords`).

The store rewrites the file after every task change it commits (a task
starts or ends: a few writes in a job's life, none at submit, since a queued
job's tasks follow from its payload). A rebuild reads it back (`recorded`).

Also the rule that ends the tasks still open when their job ends (`closing`),
shared by the daemon (`JobLifecycle`) and a rebuild (a job whose end only its
runner's ``final.json`` recorded).
"""

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from sugo.daemon.store.jobrecords import pending_tasks, write_record
from sugo.daemon.store.rows import JobRow, TaskRow
from sugo.jobs.folder import FINAL_FILE, TASKS_FILE
from sugo.protocol import daemon_api as api
from sugo.protocol.states import FINAL, JobStatus, TaskState

log = logging.getLogger(__name__)

TASK_END_STATES = ("completed", "cancelled", "error")
_OPEN = (TaskState.PENDING, TaskState.RUNNING)
_STATES = frozenset(s.value for s in TaskState)


def save(
    jobdir: Path, rows: Sequence[TaskRow], write: Callable[[Path, bytes], None] = write_record
) -> None:
    """Write the job's tasks into its folder (through ``write``: the store's
    `RecordWriter`); a folder that is gone stays gone."""
    write(jobdir / TASKS_FILE, msgspec.json.encode(list(rows)))


def load(folder: Path, jobid: int) -> list[TaskRow]:
    """The tasks recorded in ``folder``; OSError or ValueError when unusable
    (a half-written, damaged or foreign file: a rebuild must not trust it)."""
    try:
        rows = msgspec.json.decode((folder / TASKS_FILE).read_bytes(), type=list[TaskRow])
    except msgspec.MsgspecError as e:
        raise ValueError(str(e)) from e
    for i, row in enumerate(rows):
        if row.jobid != jobid or row.index != i:
            raise ValueError(f"task {i} is recorded as job {row.jobid} task {row.index}")
        if row.state not in _STATES:
            raise ValueError(f"task {i} has the unknown state {row.state!r}")
    return rows


def recorded(row: JobRow) -> tuple[list[TaskRow], str | None]:
    """The tasks to restore for a job put back from its folder, and what was
    wrong with its record (None: nothing). Without a usable record an
    unfinished job gets its tasks from its payload (all pending), an ended
    one none; an ended job's tasks left open are ended as the daemon would."""
    folder = Path(row.jobdir)
    problem = None
    try:
        tasks = load(folder, row.id)
    except FileNotFoundError:
        # No task of the job ever changed (queued), or a job of an older sugo.
        return pending_tasks(row), None
    except (OSError, ValueError) as e:
        problem = f"unreadable {TASKS_FILE}: {e}"
        tasks = pending_tasks(row)
    if row.status in FINAL:
        _end_open(row, tasks)
    return tasks, problem


def _end_open(row: JobRow, tasks: list[TaskRow]) -> None:
    outcomes = _final_outcomes(Path(row.jobdir))
    now = row.completed_at or 0.0
    for t in tasks:
        change = closing(t, row.status, outcomes.get(t.index), now)
        for name, value in (change or {}).items():
            setattr(t, name, value)


def _final_outcomes(folder: Path) -> dict[int, api.TaskOutcome]:
    """The task outcomes the runner left in its ``final.json`` (none without)."""
    try:
        data = json.loads((folder / FINAL_FILE).read_text(encoding="utf-8")).get("tasks")
        seen = msgspec.convert(data or [], list[api.TaskOutcome])
    except (OSError, ValueError, AttributeError, msgspec.ValidationError):
        return {}
    return {o.index: o for o in seen}


def closing(
    t: TaskRow, status: JobStatus, outcome: api.TaskOutcome | None, now: float
) -> dict[str, Any] | None:
    """The change that ends task ``t``, still open when its job ended with
    ``status``: its end as the runner saw it (``outcome``: its progress
    events may have gone to no daemon), else one from the job's status.
    None if the task had ended already."""
    if t.state not in _OPEN:
        return None
    if outcome is not None and outcome.state in TASK_END_STATES:
        return {
            "state": outcome.state, "points": max(0, outcome.points), "error": outcome.error,
            "ended_at": outcome.ended_at or now,
        }  # fmt: skip
    if t.state == TaskState.PENDING:
        return {"state": TaskState.CANCELLED.value}
    state = TaskState.ERROR if status == JobStatus.CE else TaskState.CANCELLED
    return {"state": state.value, "ended_at": now}
