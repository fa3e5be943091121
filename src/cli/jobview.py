"""What `sugo job watch` and `sugo job plot` know about one job: its plan (roles,
components and tasks, from the daemon's ``job_spec`` answer) and its staged data
(read straight from the job's folder).

Reading the staging store directly means these commands run on the daemon's
machine, as the same user: the job folder is private to that user.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sugo.errors import RequestFailed
from sugo.jobs.folder import staged_files
from sugo.protocol import daemon_api as api
from sugo.protocol.client import Client

if TYPE_CHECKING:
    from sugo.client import SugoClient
    from sugo.jobs.staging import Chunk

#: Job status → words, for people.
STATUS_WORDS = {
    "q": "queued",
    "qw": "queued, waiting for its pipeline",
    "r": "running",
    "rd": "stopping",
    "c": "completed",
    "ce": "failed",
    "cd": "cancelled",
}


@dataclass(frozen=True)
class TaskPlan:
    """One task of a role, as the payload says."""

    index: int  # position in the payload's method
    technique: str
    name: str | None
    max_duration: float
    sampling_interval: float

    @property
    def label(self) -> str:
        """The technique, with the task's name when it has one."""
        return f"{self.technique} ({self.name})" if self.name else self.technique


@dataclass(frozen=True)
class RolePlan:
    role: str
    component: str
    tasks: list[TaskPlan]

    @property
    def duration(self) -> float:
        """The longest this role can run: the sum of its tasks' durations."""
        return sum(t.max_duration for t in self.tasks)


@dataclass(frozen=True)
class JobPlan:
    jobid: int
    jobdir: Path
    respath: Path
    roles: list[RolePlan]

    def task_labels(self) -> dict[int, str]:
        """Task index → label, over every role."""
        return {t.index: t.label for r in self.roles for t in r.tasks}


def plan_from_spec(spec: api.JobSpec) -> JobPlan:
    roles = []
    for r in spec.roles:
        tasks = [
            TaskPlan(
                index=t.index,
                technique=str(t.task.get("technique_name", "?")),
                name=t.task.get("task_name"),
                max_duration=float(t.task.get("max_duration", 0.0)),
                sampling_interval=float(t.task.get("sampling_interval", 0.0)),
            )
            for t in r.tasks
        ]
        roles.append(RolePlan(r.role, r.component.name, tasks))
    return JobPlan(spec.jobid, Path(spec.jobdir), Path(spec.respath), roles)


def fetch_plan(client: "SugoClient", jobid: int) -> JobPlan | None:
    """The plan of a started job; None while it has not started (no pipeline
    yet) or when the daemon cannot tell any more (its pipeline was removed).

    Uses the daemon's ``job_spec`` request, the one job runners start from: it
    is read-only and carries every task with its durations.
    """
    with Client(client.endpoint, timeout=client.timeout, curve=client.curve) as c:
        try:
            spec = c.call(api.JobSpecRequest(jobid=jobid), api.JobSpec)
        except RequestFailed:
            return None  # not started yet, or its pipeline was removed since
    return plan_from_spec(spec)


# -- following a running job's staging files ------------------------------------------


@dataclass
class RoleData:
    """What the staged chunks of one role say so far."""

    role: str
    points: int = 0
    task_points: dict[int, int] = field(default_factory=dict)
    latest: dict[str, Any] = field(default_factory=dict)  # variable → last value
    units: dict[str, str] = field(default_factory=dict)
    first_uts: float | None = None
    last_uts: float | None = None
    last_task: int | None = None


class StagingTail:
    """Follows a job's staging files, reading only what was appended since the
    last `poll` (a job may stage millions of points; the view must stay cheap).

    Duplicate records (a re-sent chunk: same task and seq) are counted once.
    """

    def __init__(self, jobdir: Path) -> None:
        self.jobdir = jobdir
        self.roles: dict[str, RoleData] = {}
        self._offsets: dict[Path, int] = {}
        self._seen: set[tuple[str, int, int]] = set()

    def poll(self) -> dict[str, RoleData]:
        """Read new records; returns every role's data so far."""
        for path in staged_files(self.jobdir):
            offset = self._offsets.get(path, 0)
            for chunk, end in records_from(path, offset):
                self._offsets[path] = end
                self._add(chunk)
        return self.roles

    def _add(self, chunk: "Chunk") -> None:
        key = (chunk.role, chunk.task_index, chunk.seq)
        if key in self._seen:
            return
        self._seen.add(key)
        data = self.roles.setdefault(chunk.role, RoleData(chunk.role))
        rows = chunk.rows
        data.points += rows
        data.task_points[chunk.task_index] = data.task_points.get(chunk.task_index, 0) + rows
        for name in chunk.columns:
            # Units of the latest chunk: the same variable may differ between techniques.
            data.units[name] = chunk.units.get(name, "")
        if not rows:
            return
        uts = chunk.columns["uts"]
        if data.first_uts is None:
            data.first_uts = float(uts[0])
        data.last_uts = float(uts[-1])
        data.last_task = chunk.task_index
        for name, col in chunk.columns.items():
            if name != "uts":
                data.latest[name] = col[-1]


def records_from(path: Path, offset: int) -> Iterator[tuple["Chunk", int]]:
    """(chunk, end offset) of each complete record of a staging file after
    ``offset``. Stops at an incomplete record (a writer may be mid-append: the
    next call reads it) and at a corrupt one (the file's reader ignores the
    rest too).
    """
    from sugo.jobs.staging import iter_records

    yield from iter_records(path, offset=offset)
