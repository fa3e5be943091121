"""The store's one door for states: every entry of the task, driver and
component tables is a move the store makes, every other move is refused by
the store (naming the row and the move, the row left as it was), on every
write path, upserts included. (Jobs: test_store.test_every_job_transition_in_the_store.)"""

import itertools
import json
import re
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path

import pytest

from sugo.daemon.store import Store
from sugo.daemon.store.rows import TaskRow
from sugo.errors import StoreError
from sugo.protocol.states import (
    COMPONENT,
    DRIVER,
    TASK,
    ComponentState,
    DriverState,
    Lifecycle,
    TaskState,
)

PAYLOAD = json.dumps({"method": [{"component_role": "r", "technique_name": "t"}]})
COMP = "counter:(sim,1)"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "sugo.db") as s:
        yield s


def path_to(lifecycle: Lifecycle[StrEnum], target: StrEnum) -> list[StrEnum]:
    """The shortest list of legal moves from a new row's state to ``target``."""
    (first,) = lifecycle.starts
    paths: dict[StrEnum, list[StrEnum]] = {first: []}
    todo = [first]
    while todo:
        state = todo.pop(0)
        for nxt in sorted(lifecycle.moves[state]):
            if nxt not in paths:
                paths[nxt] = [*paths[state], nxt]
                todo.append(nxt)
    return paths[target]


def pairs(kind: type[StrEnum]) -> list[tuple[StrEnum, StrEnum]]:
    return list(itertools.product(kind, kind))


def expect_move(
    lifecycle: Lifecycle[StrEnum],
    what: str,
    current: StrEnum,
    new: StrEnum,
    move: Callable[[StrEnum], None],
    state: Callable[[], str],
) -> None:
    if new in lifecycle.moves[current] or new == current:
        move(new)
        assert state() == new
    else:
        refused = f"^{re.escape(what)}: cannot go from {current} to {new}$"
        with pytest.raises(StoreError, match=refused):
            move(new)
        assert state() == current


# -- tasks ------------------------------------------------------------------------


def add_job_with_task(store: Store, tmp_path: Path) -> int:
    job = store.add_job(
        payload_json=PAYLOAD, jobname=None, sample="s", user="u", output_dir=tmp_path,
        prefix=None, unlock_when_done=False, jobdir_root=tmp_path / "jobs",
    )  # fmt: skip
    store.add_tasks([TaskRow(job.id, 0, "r", "t", "pending")])
    return job.id


@pytest.mark.parametrize(("current", "new"), pairs(TaskState))
def test_every_task_move_through_the_store(
    store: Store, tmp_path: Path, current: TaskState, new: TaskState
) -> None:
    jobid = add_job_with_task(store, tmp_path)
    for step in path_to(TASK, current):
        store.update_task(jobid, 0, state=step)

    def move(state: StrEnum) -> None:
        store.update_task(jobid, 0, state=state, points=5)

    expect_move(TASK, f"job {jobid} task 0", current, new, move,
                lambda: store.tasks_of(jobid)[0].state)  # fmt: skip


def test_an_illegal_task_move_changes_nothing(store: Store, tmp_path: Path) -> None:
    jobid = add_job_with_task(store, tmp_path)
    store.update_task(jobid, 0, state="completed", points=3, ended_at=10.0)
    with pytest.raises(StoreError, match=f"^job {jobid} task 0: cannot go from completed to run"):
        store.update_task(jobid, 0, state="running", started_at=20.0, points=0)
    task = store.tasks_of(jobid)[0]
    assert (task.state, task.points, task.started_at, task.ended_at) == ("completed", 3, None, 10.0)
    # The resent end of a task is written again (a runner that lost its reply).
    store.update_task(jobid, 0, state="completed", points=4, ended_at=11.0)
    assert store.tasks_of(jobid)[0].points == 4
    with pytest.raises(StoreError, match="unknown TaskState 'done'"):
        store.update_task(jobid, 0, state="done")
    store.update_task(jobid, 5, state="running")  # no such task: nothing to change


def test_a_new_task_starts_pending(store: Store, tmp_path: Path) -> None:
    jobid = add_job_with_task(store, tmp_path)
    with pytest.raises(StoreError, match=f"^job {jobid} task 1: cannot start as running "):
        store.add_tasks([TaskRow(jobid, 1, "r", "t", "running")])
    assert [t.index for t in store.tasks_of(jobid)] == [0]


# -- drivers ----------------------------------------------------------------------


def driver_in(store: Store, state: DriverState) -> None:
    store.upsert_driver("counter", pid=1)
    for step in path_to(DRIVER, state):
        store.set_driver_state("counter", step)


@pytest.mark.parametrize(("current", "new"), pairs(DriverState))
def test_every_driver_move_through_set_driver_state(
    store: Store, current: DriverState, new: DriverState
) -> None:
    driver_in(store, current)
    expect_move(DRIVER, "driver counter", current, new,
                lambda s: store.set_driver_state("counter", s),
                lambda: store.get_driver("counter").state)  # type: ignore[union-attr]  # fmt: skip


@pytest.mark.parametrize(("current", "new"), pairs(DriverState))
def test_every_driver_move_through_upsert_driver(
    store: Store, current: DriverState, new: DriverState
) -> None:
    driver_in(store, current)
    expect_move(DRIVER, "driver counter", current, new,
                lambda s: store.upsert_driver("counter", state=s, pid=2),
                lambda: store.get_driver("counter").state)  # type: ignore[union-attr]  # fmt: skip
    legal = new in DRIVER.moves[current] or new == current
    assert store.get_driver("counter").pid == (2 if legal else 1)  # type: ignore[union-attr]


def test_a_new_driver_starts_starting(store: Store) -> None:
    with pytest.raises(StoreError, match=r"^driver counter: cannot start as ready "):
        store.upsert_driver("counter", state="ready")
    assert store.get_driver("counter") is None
    with pytest.raises(StoreError, match=r"^driver nope: not found$"):
        store.set_driver_state("nope", "starting")


# -- components -------------------------------------------------------------------


def component_in(store: Store, state: ComponentState) -> None:
    store.upsert_driver("counter")
    upsert_component(store, ComponentState.REGISTERING, caps=["count"])
    for step in path_to(COMPONENT, state):
        store.set_component_state(COMP, step)


def upsert_component(store: Store, state: str, caps: list[str]) -> None:
    store.upsert_component(COMP, driver="counter", device="sim", address="sim", channel="1",
                           pollrate=1.0, capabilities=caps, state=state)  # fmt: skip


def comp_state() -> Callable[[Store], str]:
    return lambda s: s.get_component(COMP).state  # type: ignore[union-attr]


@pytest.mark.parametrize(("current", "new"), pairs(ComponentState))
def test_every_component_move_through_set_component_state(
    store: Store, current: ComponentState, new: ComponentState
) -> None:
    component_in(store, current)
    expect_move(COMPONENT, f"component {COMP}", current, new,
                lambda s: store.set_component_state(COMP, s),
                lambda: comp_state()(store))  # fmt: skip


@pytest.mark.parametrize(("current", "new"), pairs(ComponentState))
def test_every_component_move_through_upsert_component(
    store: Store, current: ComponentState, new: ComponentState
) -> None:
    component_in(store, current)
    expect_move(COMPONENT, f"component {COMP}", current, new,
                lambda s: upsert_component(store, s, caps=["random"]),
                lambda: comp_state()(store))  # fmt: skip
    legal = new in COMPONENT.moves[current] or new == current
    caps = store.get_component(COMP).capabilities  # type: ignore[union-attr]
    assert caps == (("random",) if legal else ("count",))


def test_a_new_component_starts_registering(store: Store) -> None:
    store.upsert_driver("counter")
    with pytest.raises(StoreError, match=r"^component counter:\(sim,1\): cannot start as idle "):
        upsert_component(store, "idle", caps=[])
    assert store.get_component(COMP) is None
    with pytest.raises(StoreError, match=r"^component nope: not found$"):
        store.set_component_state("nope", "idle")
