"""Lifecycle tables: every job, task, driver and component transition."""

import itertools
from enum import StrEnum

import pytest

from sugo.errors import StoreError
from sugo.protocol.states import (
    COMPONENT,
    COMPONENT_TRANSITIONS,
    DRIVER,
    DRIVER_TRANSITIONS,
    FINAL,
    JOB,
    JOB_TRANSITIONS,
    TASK,
    TASK_TRANSITIONS,
    ComponentState,
    DriverState,
    JobStatus,
    Lifecycle,
    TaskState,
    check_component_transition,
    check_driver_transition,
    check_task_transition,
    check_transition,
)

# Written out independently of the module's table, from the design brief.
LEGAL_JOB_MOVES = {
    ("q", "qw"), ("q", "r"), ("q", "cd"),
    ("qw", "q"), ("qw", "r"), ("qw", "cd"),
    ("r", "rd"), ("r", "c"), ("r", "ce"), ("r", "cd"),
    ("rd", "c"), ("rd", "ce"), ("rd", "cd"),
}  # fmt: skip
CODES = ["q", "qw", "r", "rd", "c", "ce", "cd"]


def test_status_codes_and_finals() -> None:
    assert [s.value for s in JobStatus] == CODES
    assert {s.value for s in FINAL} == {"c", "ce", "cd"}
    assert set(JOB_TRANSITIONS) == set(JobStatus)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(CODES, CODES)))
def test_every_job_transition(current: str, new: str) -> None:
    same_non_final = current == new and current not in {"c", "ce", "cd"}
    if (current, new) in LEGAL_JOB_MOVES or same_non_final:
        check_transition(current, new, job_id=12)
    else:
        with pytest.raises(StoreError, match=f"^job 12: cannot go from {current} to {new}$"):
            check_transition(current, new, job_id=12)


def test_unknown_job_status_is_refused() -> None:
    with pytest.raises(StoreError, match=r"^job 3: unknown JobStatus 'x'$"):
        check_transition("q", "x", job_id=3)


def test_message_without_job_id() -> None:
    with pytest.raises(StoreError, match=r"^cannot go from c to r$"):
        check_transition(JobStatus.C, JobStatus.R)


# The moves the daemon makes (see the tables' comments for the code paths),
# written out independently of the module's tables.
LEGAL_TASK_MOVES = {
    ("pending", "running"), ("pending", "completed"), ("pending", "error"),
    ("pending", "cancelled"),
    ("running", "completed"), ("running", "error"), ("running", "cancelled"),
}  # fmt: skip
LEGAL_DRIVER_MOVES = {
    ("starting", "ready"), ("starting", "restarting"), ("starting", "failed"),
    ("ready", "starting"), ("ready", "restarting"), ("ready", "failed"),
    ("restarting", "starting"),
    ("failed", "starting"),
}  # fmt: skip
LEGAL_COMPONENT_MOVES = {
    ("registering", "idle"), ("registering", "busy"), ("registering", "failed"),
    ("idle", "busy"), ("idle", "registering"), ("idle", "failed"),
    ("busy", "idle"), ("busy", "registering"), ("busy", "failed"),
    ("failed", "registering"),
}  # fmt: skip


def test_tables_cover_every_state() -> None:
    assert set(TASK_TRANSITIONS) == set(TaskState)
    assert set(DRIVER_TRANSITIONS) == set(DriverState)
    assert set(COMPONENT_TRANSITIONS) == set(ComponentState)
    assert [s.value for s in TaskState] == ["pending", "running", "completed", "cancelled", "error"]
    assert [s.value for s in DriverState] == ["starting", "ready", "restarting", "failed"]
    assert [s.value for s in ComponentState] == ["registering", "idle", "busy", "failed"]


def _pairs(kind: type[StrEnum]) -> list[tuple[str, str]]:
    return [(a.value, b.value) for a, b in itertools.product(kind, kind)]


@pytest.mark.parametrize(("current", "new"), _pairs(TaskState))
def test_every_task_transition(current: str, new: str) -> None:
    # A task's state may be written again, final or not: a runner resends a
    # report whose reply it lost.
    if (current, new) in LEGAL_TASK_MOVES or current == new:
        check_task_transition(7, 2, current, new)
    else:
        with pytest.raises(StoreError, match=f"^job 7 task 2: cannot go from {current} to {new}$"):
            check_task_transition(7, 2, current, new)


@pytest.mark.parametrize(("current", "new"), _pairs(DriverState))
def test_every_driver_transition(current: str, new: str) -> None:
    if (current, new) in LEGAL_DRIVER_MOVES or current == new:
        check_driver_transition("counter", current, new)
    else:
        with pytest.raises(
            StoreError, match=f"^driver counter: cannot go from {current} to {new}$"
        ):
            check_driver_transition("counter", current, new)


@pytest.mark.parametrize(("current", "new"), _pairs(ComponentState))
def test_every_component_transition(current: str, new: str) -> None:
    if (current, new) in LEGAL_COMPONENT_MOVES or current == new:
        check_component_transition("c1", current, new)
    else:
        with pytest.raises(StoreError, match=f"^component c1: cannot go from {current} to {new}$"):
            check_component_transition("c1", current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        # drivers._lost: a host that dies before it is ready is replaced (the
        # table used to forbid this, and a test asserted it illegal)
        ("starting", "restarting"),
        # drivers._registered: a component a running job holds is registered
        # again after its host was replaced (back to busy, not idle)
        ("registering", "busy"),
    ],
)
def test_moves_the_daemon_makes_are_legal(current: str, new: str) -> None:
    if current in set(DriverState):
        check_driver_transition("counter", current, new)
    else:
        check_component_transition("c1", current, new)


def test_unknown_component_state_is_refused() -> None:
    with pytest.raises(StoreError, match=r"^component c1: unknown ComponentState 'asleep'$"):
        check_component_transition("c1", "idle", "asleep")


@pytest.mark.parametrize("lifecycle", [JOB, TASK, DRIVER, COMPONENT])
def test_every_state_is_reachable_from_a_new_row(lifecycle: Lifecycle[StrEnum]) -> None:
    seen, todo = set(lifecycle.starts), list(lifecycle.starts)
    while todo:
        for nxt in lifecycle.moves[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(lifecycle.kind)


@pytest.mark.parametrize("lifecycle", [TASK, DRIVER, COMPONENT])
def test_a_new_row_starts_in_its_first_state_only(lifecycle: Lifecycle[StrEnum]) -> None:
    (first,) = lifecycle.starts
    assert lifecycle.born("row", first) is first
    for other in set(lifecycle.kind) - {first}:
        with pytest.raises(StoreError, match=f"^row: cannot start as {other} "):
            lifecycle.born("row", other)
