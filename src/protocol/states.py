"""Lifecycles of jobs, drivers and components: the states and the allowed moves.

Each lifecycle is a StrEnum plus a table ``state -> states it may move to``.
The store calls the ``check_*`` functions before every state change, so an
illegal move is refused in one place. Moving to the state a row already has is
allowed (a no-op) except for a final job status, which is never rewritten.
"""

from enum import StrEnum
from typing import TypeVar

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
    JobStatus.Q: frozenset({JobStatus.QW, JobStatus.R, JobStatus.CD}),
    JobStatus.QW: frozenset({JobStatus.Q, JobStatus.R, JobStatus.CD}),
    JobStatus.R: frozenset({JobStatus.RD, JobStatus.C, JobStatus.CE, JobStatus.CD}),
    JobStatus.RD: frozenset({JobStatus.C, JobStatus.CE, JobStatus.CD}),
    JobStatus.C: frozenset(),
    JobStatus.CE: frozenset(),
    JobStatus.CD: frozenset(),
}


def check_transition(current: str, new: str, *, job_id: int | None = None) -> None:
    """Raise StoreError unless a job may go from ``current`` to ``new``.

    Staying in the same non-final status is allowed (the caller treats it as a
    no-op); a final status is never left, not even for itself.
    """
    where = f"job {job_id}: " if job_id is not None else ""
    try:
        cur, nxt = JobStatus(current), JobStatus(new)
    except ValueError as exc:
        raise StoreError(f"{where}unknown job status: {exc}") from None
    if cur == nxt and cur not in FINAL:
        return
    if nxt not in JOB_TRANSITIONS[cur]:
        raise StoreError(f"{where}cannot go from {cur} to {nxt}")


class DriverState(StrEnum):
    """Where a driver host is in its life, as the daemon sees it."""

    STARTING = "starting"
    READY = "ready"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"


DRIVER_TRANSITIONS: dict[DriverState, frozenset[DriverState]] = {
    DriverState.STARTING: frozenset({DriverState.READY, DriverState.FAILED, DriverState.STOPPED}),
    DriverState.READY: frozenset({DriverState.RESTARTING, DriverState.FAILED, DriverState.STOPPED}),
    DriverState.RESTARTING: frozenset(
        {DriverState.STARTING, DriverState.READY, DriverState.FAILED, DriverState.STOPPED}
    ),
    DriverState.FAILED: frozenset(
        {DriverState.RESTARTING, DriverState.STARTING, DriverState.STOPPED}
    ),
    DriverState.STOPPED: frozenset({DriverState.STARTING}),
}


class ComponentState(StrEnum):
    """Where a component (one device channel) is in its life."""

    REGISTERING = "registering"
    IDLE = "idle"
    BUSY = "busy"  # running a task
    FAILED = "failed"
    REMOVED = "removed"


# A driver restart sends every component, busy or not, back to registering.
COMPONENT_TRANSITIONS: dict[ComponentState, frozenset[ComponentState]] = {
    ComponentState.REGISTERING: frozenset(
        {ComponentState.IDLE, ComponentState.FAILED, ComponentState.REMOVED}
    ),
    ComponentState.IDLE: frozenset(
        {
            ComponentState.BUSY,
            ComponentState.REGISTERING,
            ComponentState.FAILED,
            ComponentState.REMOVED,
        }
    ),
    ComponentState.BUSY: frozenset(
        {
            ComponentState.IDLE,
            ComponentState.REGISTERING,
            ComponentState.FAILED,
            ComponentState.REMOVED,
        }
    ),
    ComponentState.FAILED: frozenset({ComponentState.REGISTERING, ComponentState.REMOVED}),
    ComponentState.REMOVED: frozenset({ComponentState.REGISTERING}),
}


def check_driver_transition(name: str, current: str, new: str) -> None:
    """Raise StoreError unless driver ``name`` may go from ``current`` to ``new``."""
    _check_simple(f"driver {name}", DriverState, DRIVER_TRANSITIONS, current, new)


def check_component_transition(name: str, current: str, new: str) -> None:
    """Raise StoreError unless component ``name`` may go from ``current`` to ``new``."""
    _check_simple(f"component {name}", ComponentState, COMPONENT_TRANSITIONS, current, new)


S = TypeVar("S", DriverState, ComponentState)


def _check_simple(
    what: str, kind: type[S], table: dict[S, frozenset[S]], current: str, new: str
) -> None:
    try:
        cur, nxt = kind(current), kind(new)
    except ValueError as exc:
        raise StoreError(f"{what}: unknown state: {exc}") from None
    if cur != nxt and nxt not in table[cur]:
        raise StoreError(f"{what}: cannot go from {cur} to {nxt}")
