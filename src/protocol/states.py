"""Lifecycles of jobs, tasks, drivers and components: states and allowed moves.

Each lifecycle is a StrEnum, the states a new row may be born in, and a table
``state -> states it may move to``. The tables describe the moves the daemon
really makes (each entry says which code path makes it), no more: the store
checks every state it writes against them (`Lifecycle.check`, `Lifecycle.born`),
so an illegal move is refused in one place, naming the row and the move.

Moving to the state a row already has is allowed (the store treats it as a
no-op or a rewrite of the other fields), except for a final job status, which
is never rewritten. A task's final state may be written again: a runner that
lost a reply resends its task's end.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from sugo.errors import StoreError


class JobStatus(StrEnum):
    """Job status codes, as shown by ``sugo jobs``."""

    Q = "q"  # queued
    QW = "qw"  # queued, a matching pipeline exists
    R = "r"  # running
    RD = "rd"  # cancel requested
    C = "c"  # completed
    CE = "ce"  # completed with error
    CD = "cd"  # cancelled


FINAL: frozenset[JobStatus] = frozenset({JobStatus.C, JobStatus.CE, JobStatus.CD})
QUEUED: frozenset[JobStatus] = frozenset({JobStatus.Q, JobStatus.QW})
RUNNING: frozenset[JobStatus] = frozenset({JobStatus.R, JobStatus.RD})

JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    # scheduler: a pipeline that could take it appears; the start (jobs.start);
    # `sugo cancel` of a queued job
    JobStatus.Q: frozenset({JobStatus.QW, JobStatus.R, JobStatus.CD}),
    # scheduler: no matching pipeline any more; the start; `sugo cancel`
    JobStatus.QW: frozenset({JobStatus.Q, JobStatus.R, JobStatus.CD}),
    # `sugo cancel` / daemon stop; the runner's end (job done, final.json), its
    # death (ce) or a failed start (ce)
    JobStatus.R: frozenset({JobStatus.RD, JobStatus.C, JobStatus.CE, JobStatus.CD}),
    # the runner's end after a cancel request (it may finish first: c, ce)
    JobStatus.RD: frozenset({JobStatus.C, JobStatus.CE, JobStatus.CD}),
    JobStatus.C: frozenset(),
    JobStatus.CE: frozenset(),
    JobStatus.CD: frozenset(),
}


class TaskState(StrEnum):
    """Where one task (one step of a job's method) is, as ``sugo jobs ID`` shows."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ERROR = "error"


TASK_ENDS: frozenset[TaskState] = frozenset(
    {TaskState.COMPLETED, TaskState.CANCELLED, TaskState.ERROR}
)

TASK_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    # the runner's task_started; its task_ended/task_cancelled whose start
    # report was lost, or a task it never started (cancelled, start trigger
    # never came); the job's end closing the tasks still open
    TaskState.PENDING: frozenset({TaskState.RUNNING, *TASK_ENDS}),
    # the runner's task_ended (completed or error) or task_cancelled; the job's
    # end closing the tasks still open (error if it ended ce, else cancelled)
    TaskState.RUNNING: TASK_ENDS,
    TaskState.COMPLETED: frozenset(),
    TaskState.CANCELLED: frozenset(),
    TaskState.ERROR: frozenset(),
}


class DriverState(StrEnum):
    """Where a driver host is in its life, as the daemon sees it."""

    STARTING = "starting"
    READY = "ready"
    RESTARTING = "restarting"
    FAILED = "failed"


DRIVER_TRANSITIONS: dict[DriverState, frozenset[DriverState]] = {
    # registration done (drivers._registered); the host lost before it was
    # ready (drivers._lost: it is replaced); the host said it cannot start
    # (host_failed) or the crash-loop guard gave up
    DriverState.STARTING: frozenset(
        {DriverState.READY, DriverState.RESTARTING, DriverState.FAILED}
    ),
    # starting again: a new daemon re-attaches to or replaces the host of the
    # previous one, an agent was lost or its host says hello again; the host
    # lost (restarting) or given up (failed)
    DriverState.READY: frozenset(
        {DriverState.STARTING, DriverState.RESTARTING, DriverState.FAILED}
    ),
    # the replacement host is spawned at once (drivers._spawn)
    DriverState.RESTARTING: frozenset({DriverState.STARTING}),
    # a reload or a new daemon tries again; a remote host says hello again
    DriverState.FAILED: frozenset({DriverState.STARTING}),
}


class ComponentState(StrEnum):
    """Where a component (one device channel) is in its life."""

    REGISTERING = "registering"
    IDLE = "idle"
    BUSY = "busy"  # running a task
    FAILED = "failed"


COMPONENT_TRANSITIONS: dict[ComponentState, frozenset[ComponentState]] = {
    # registered (drivers._registered): idle, or busy if a running job holds
    # it (its host was replaced, or re-registered after a reload, mid-job);
    # registration failed, or its driver was given up
    ComponentState.REGISTERING: frozenset(
        {ComponentState.IDLE, ComponentState.BUSY, ComponentState.FAILED}
    ),
    # a job starts on it (jobs.start); registered again (a host restart or
    # reregistration, `sugo component restart`, its agent lost); driver given up
    ComponentState.IDLE: frozenset(
        {ComponentState.BUSY, ComponentState.REGISTERING, ComponentState.FAILED}
    ),
    # its job ended (jobs._release, start-up repair); registered again; driver
    # given up
    ComponentState.BUSY: frozenset(
        {ComponentState.IDLE, ComponentState.REGISTERING, ComponentState.FAILED}
    ),
    # registered again: its driver restarted, reloaded, or `sugo component
    # restart` (only a registration makes a failed component usable)
    ComponentState.FAILED: frozenset({ComponentState.REGISTERING}),
}

S = TypeVar("S", bound=StrEnum)


class Lifecycle(Generic[S]):
    """One kind's lifecycle: its states, where a new row starts, the moves.

    ``check`` and ``born`` raise StoreError naming the row (``what``, such as
    ``job 3`` or ``driver counter``) and the refused move; they return the
    new state as the enum."""

    def __init__(
        self,
        kind: type[S],
        born: frozenset[S],
        moves: Mapping[S, frozenset[S]],
        repeatable: frozenset[S],
    ) -> None:
        self.kind = kind
        self.starts = born
        self.moves = moves
        self.repeatable = repeatable  # states that may be written again over themselves
        self._by_value = {s.value: s for s in kind}  # a dict lookup is ~10x cheaper

    def state(self, what: str, value: str) -> S:
        """``value`` as the enum, or StoreError naming ``what``."""
        found = self._by_value.get(value)
        if found is None:
            raise _refused(what, f"unknown {self.kind.__name__} {value!r}")
        return found

    def check(self, what: str, current: str, new: str) -> S:
        """The new state, if ``what`` may go from ``current`` to ``new``."""
        cur, nxt = self.state(what, current), self.state(what, new)
        if nxt in self.moves[cur] or (cur == nxt and cur in self.repeatable):
            return nxt
        raise _refused(what, f"cannot go from {cur} to {nxt}")

    def born(self, what: str, state: str) -> S:
        """The state, if a new ``what`` may start in it."""
        first = self.state(what, state)
        if first not in self.starts:
            start = ", ".join(sorted(self.starts))
            raise _refused(what, f"cannot start as {first} (a new one starts as {start})")
        return first


def _refused(what: str, problem: str) -> StoreError:
    return StoreError(f"{what}: {problem}" if what else problem)


JOB = Lifecycle(JobStatus, frozenset({JobStatus.Q}), JOB_TRANSITIONS,
                frozenset(JobStatus) - FINAL)  # fmt: skip
TASK = Lifecycle(TaskState, frozenset({TaskState.PENDING}), TASK_TRANSITIONS,
                 frozenset(TaskState))  # fmt: skip
DRIVER = Lifecycle(DriverState, frozenset({DriverState.STARTING}), DRIVER_TRANSITIONS,
                   frozenset(DriverState))  # fmt: skip
COMPONENT = Lifecycle(ComponentState, frozenset({ComponentState.REGISTERING}),
                      COMPONENT_TRANSITIONS, frozenset(ComponentState))  # fmt: skip


def check_transition(current: str, new: str, *, job_id: int | None = None) -> None:
    """Raise StoreError unless a job may go from ``current`` to ``new``.

    Staying in the same non-final status is allowed (the caller treats it as a
    no-op); a final status is never left, not even for itself.
    """
    JOB.check(f"job {job_id}" if job_id is not None else "", current, new)


def check_task_transition(jobid: int, index: int, current: str, new: str) -> None:
    """Raise StoreError unless a job's task may go from ``current`` to ``new``."""
    TASK.check(f"job {jobid} task {index}", current, new)


def check_driver_transition(name: str, current: str, new: str) -> None:
    """Raise StoreError unless driver ``name`` may go from ``current`` to ``new``."""
    DRIVER.check(f"driver {name}", current, new)


def check_component_transition(name: str, current: str, new: str) -> None:
    """Raise StoreError unless component ``name`` may go from ``current`` to ``new``."""
    COMPONENT.check(f"component {name}", current, new)
