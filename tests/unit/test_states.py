"""Lifecycle tables: every job transition, and the driver/component tables."""

import itertools

import pytest

from sugo.errors import StoreError
from sugo.protocol.states import (
    COMPONENT_TRANSITIONS,
    DRIVER_TRANSITIONS,
    FINAL,
    JOB_TRANSITIONS,
    ComponentState,
    DriverState,
    JobStatus,
    check_component_transition,
    check_driver_transition,
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
    with pytest.raises(StoreError, match="job 3: unknown job status"):
        check_transition("q", "x", job_id=3)


def test_message_without_job_id() -> None:
    with pytest.raises(StoreError, match=r"^cannot go from c to r$"):
        check_transition(JobStatus.C, JobStatus.R)


def test_simple_tables_cover_every_state() -> None:
    assert set(DRIVER_TRANSITIONS) == set(DriverState)
    assert set(COMPONENT_TRANSITIONS) == set(ComponentState)


@pytest.mark.parametrize(
    ("current", "new", "legal"),
    [
        ("starting", "ready", True),
        ("ready", "restarting", True),
        ("restarting", "starting", True),
        ("failed", "restarting", True),
        ("ready", "ready", True),  # same state: a no-op
        ("stopped", "starting", True),
        ("stopped", "ready", False),
        ("starting", "restarting", False),
    ],
)
def test_driver_transitions(current: str, new: str, legal: bool) -> None:
    if legal:
        check_driver_transition("counter", current, new)
    else:
        with pytest.raises(StoreError, match=f"^driver counter: cannot go from {current}"):
            check_driver_transition("counter", current, new)


@pytest.mark.parametrize(
    ("current", "new", "legal"),
    [
        ("registering", "idle", True),
        ("idle", "busy", True),
        ("busy", "idle", True),
        ("busy", "registering", True),  # its driver restarted
        ("failed", "registering", True),
        ("removed", "registering", True),
        ("registering", "busy", False),
        ("removed", "idle", False),
        ("failed", "busy", False),
    ],
)
def test_component_transitions(current: str, new: str, legal: bool) -> None:
    if legal:
        check_component_transition("c1", current, new)
    else:
        with pytest.raises(StoreError, match=f"^component c1: cannot go from {current}"):
            check_component_transition("c1", current, new)


def test_unknown_component_state_is_refused() -> None:
    with pytest.raises(StoreError, match="component c1: unknown state"):
        check_component_transition("c1", "idle", "asleep")
