"""The task watchdog and the forced stop of DeviceManager (issue 13, items 7
and 8): a hung do_task ends its task with its data and keeps the component
off tasks until the call returns; a stop the driver ignores is forced."""

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sugo.driverinterface import Task
from sugo.driverinterface.health import StatusCode
from sugo.drivers.counter import CounterManager, DriverInterface


def task(duration: float, interval: float = 0.05) -> Task:
    return Task(
        component_role="r", technique_name="count", max_duration=duration,
        sampling_interval=interval,
    )  # fmt: skip


class Hanging(CounterManager):
    """Takes `good` points, then its do_task blocks until `unblock` is set."""

    task_grace = 0.3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.good = 2
        self.unblock = threading.Event()
        self.blocked = threading.Event()

    def do_task(self, task: Task, t_start: float, t_now: float, **kwargs: Any):
        if self.points >= self.good:
            self.blocked.set()
            self.unblock.wait(30)
        return super().do_task(task, t_start, t_now)


class IgnoresStop(CounterManager):
    """An instrument that does not stop when asked."""

    def stop_task(self, timeout: float | None = None, **kwargs: Any) -> bool:
        return False


class Driver(DriverInterface):
    DeviceManager = Hanging


@pytest.fixture
def make() -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def build(cls: type = Hanging) -> Any:
        dm = cls(Driver(), ("sim", str(len(made))))
        made.append(dm)
        return dm

    yield build
    for dm in made:
        if isinstance(dm, Hanging):
            dm.unblock.set()
        assert dm.teardown(timeout=5.0)


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    return got


def test_a_hung_do_task_is_ended_by_the_watchdog_with_its_data(make) -> None:
    dm = make()
    t0 = time.monotonic()
    dm.submit(task(0.3), grace=0.2)
    until(lambda: not dm.status()["running"], 5, "the watchdog")
    status = dm.status()
    took = time.monotonic() - t0
    assert 0.45 <= took < 2.0, f"ended after {took:.2f} s (max_duration 0.3 s + grace 0.2 s)"
    assert status["hung"] and "hangs" in status["error"]
    assert len(dm.get_data()["uts"]) == 2  # the points taken before the hang
    health = dm.check_health()  # no ping while hung: the status stays
    assert (health["code"], health["label"]) == (330, "task hung")
    with pytest.raises(ValueError, match="takes no task"):
        dm.submit(task(0.1))
    # A reset and a teardown need not wait for the stuck call.
    t1 = time.monotonic()
    dm.reset()
    assert time.monotonic() - t1 < 1.0
    # The call returns after all: its late point is dropped, the component answers again.
    dm.unblock.set()
    until(lambda: not dm.status()["hung"], 5, "the stuck call to return")
    assert dm.get_data() == {}
    assert dm.check_health()["code"] == StatusCode.CONNECTED
    dm.good = 100
    seq = dm.submit(task(0.2))
    assert dm.wait_task(seq, 5)
    assert len(dm.get_data()["uts"]) == 4


def test_the_drivers_grace_applies_when_none_is_given(make) -> None:
    dm = make()
    dm.good = 0
    t0 = time.monotonic()
    dm.submit(task(0.1))
    until(lambda: dm.status()["hung"], 5, "the watchdog")
    assert 0.35 <= time.monotonic() - t0 < 2.0  # 0.1 s + Hanging.task_grace (0.3 s)


def test_a_stop_the_driver_ignores_is_forced(make) -> None:
    dm = make(IgnoresStop)
    seq = dm.submit(task(60, 0.02))
    until(lambda: dm.points >= 3, 5, "some points")
    assert dm.stop_task(timeout=0.2) is False and dm.status()["running"]
    t0 = time.monotonic()
    assert dm.abort_task(2.0)
    assert time.monotonic() - t0 < 1.5 and dm.wait_task(seq, 0)  # not the task's 60 s
    assert len(dm.get_data()["uts"]) >= 3  # a forced stop keeps the data
    # A reset escalates the same way: it does not wait out the max_duration.
    dm.submit(task(60, 0.02))
    until(lambda: dm.points >= 1, 5, "the second task")
    t1 = time.monotonic()
    dm.reset()
    assert time.monotonic() - t1 < 1.0 and not dm.status()["running"]


def test_a_forced_stop_that_cannot_end_a_hung_call_marks_it_hung(make) -> None:
    dm = make()
    dm.submit(task(60))
    assert dm.blocked.wait(5)
    assert dm.abort_task(0.2) is False
    status = dm.status()
    assert status["hung"] and not status["running"] and "forced stop" in status["error"]
    assert dm.health.code == StatusCode.TASK_HUNG
