"""ModelInterface verbs: Replies instead of exceptions, validation, data, concurrency."""

import re
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from sugo.driverinterface import DeviceManager, ModelInterface, Reply, Task
from sugo.drivers import counter, faulty, psutil_driver

A = ("sim", "1")
B = ("sim", "2")


def task(duration: float = 0.2, interval: float = 0.05, technique: str = "count", **params: Any):
    return {
        "component_role": "counter",
        "technique_name": technique,
        "max_duration": duration,
        "sampling_interval": interval,
        "task_params": params,
    }


class Probe(counter.CounterManager):
    """A counter that sets `reached` after its third point."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reached = threading.Event()

    def do_task(self, task: Task, t_start: float, t_now: float, **kwargs: Any):
        if self.points >= 2:
            self.reached.set()
        return super().do_task(task, t_start, t_now)


class Broken(counter.CounterManager):
    """get_attr fails the way buggy driver code does."""

    def get_attr(self, attr: str, **kwargs: Any) -> Any:
        raise KeyError(attr)


class ProbeDriver(counter.DriverInterface):
    DeviceManager = Probe


class BrokenDriver(counter.DriverInterface):
    DeviceManager = Broken


@pytest.fixture
def make():
    """Builds drivers; tears down every component they registered."""
    made: list[ModelInterface] = []

    def build(cls: type[ModelInterface] = ProbeDriver, settings: dict | None = None):
        driver = cls(settings)
        made.append(driver)
        return driver

    yield build
    for driver in made:
        managers = list(driver.devmap.values())
        for key in list(driver.devmap):
            assert driver.dev_teardown(*key).success
        assert not any(dm.thread.is_alive() for dm in managers)


@pytest.fixture
def drv(make):
    driver = make()
    assert driver.dev_register(*A).success
    return driver


def wait_done(driver: ModelInterface, key=A, timeout: float = 5.0) -> None:
    assert driver.devmap[key].wait_idle(timeout)


def test_register_is_idempotent_and_replies_capabilities(drv):
    dm = drv.devmap[A]
    again = drv.dev_register(*A)
    assert again == Reply(True, "component (sim,1) already registered", ["count", "random"])
    assert drv.devmap[A] is dm
    assert drv.capabilities(*A).data == ["count", "random"]
    assert set(drv.attrs(*A).data) == {"max", "min", "param", "choice"}


@pytest.mark.parametrize(
    "call",
    [
        lambda d: d.dev_status("sim", "9"),
        lambda d: d.dev_get_attr("max", "sim", "9"),
        lambda d: d.dev_set_attr("max", 1, "sim", "9"),
        lambda d: d.task_start(task(), "sim", "9"),
        lambda d: d.task_data("sim", "9"),
        lambda d: d.dev_teardown("sim", "9"),
    ],
)
def test_unknown_component_is_a_failed_reply(drv, call):
    reply = call(drv)
    assert not reply.success
    assert reply.msg == "unknown component (sim,9) (registered: (sim,1))"


@pytest.mark.parametrize(
    ("attr", "val", "reason"),
    [
        ("max", None, "attr 'max': value None is not allowed"),
        ("nope", 1.0, "unknown attr 'nope' for component (sim,1)"),
        ("max", "wrong type", "attr 'max' value 'wrong type' has the wrong type"),
        ("param", "1 m", "attr 'param' value '1 m' has the wrong dimension"),
        ("param", "1 ms", "attr 'param' value '1 ms' is below minimum 0.1 s"),
        ("choice", "pink", "attr 'choice' value 'pink' is not one of"),
    ],
)
def test_set_attr_rejections(drv, attr, val, reason):
    reply = drv.dev_set_attr(attr, val, *A)
    assert not reply.success
    assert reply.msg.startswith(reason)
    # the DeviceManager refuses the same values when called directly
    with pytest.raises(ValueError, match=re.escape(reason.split(":")[-1].strip())):
        drv.devmap[A].set_attr(attr, val)


def test_read_only_attr_is_refused(make):
    driver = make(psutil_driver.DriverInterface)
    driver.dev_register("host", "10")
    reply = driver.dev_set_attr("mem_total", 1, "host", "10")
    assert reply == Reply(False, "attr 'mem_total' of component (host,10) is read-only")
    with pytest.raises(ValueError, match="read-only"):
        driver.devmap[("host", "10")].set_attr("mem_total", 1)


def test_set_attr_coerces(drv):
    assert drv.dev_set_attr("max", "3", *A).data == 3.0
    assert drv.dev_get_attr("max", *A).data == 3.0
    reply = drv.dev_set_attr("param", "1.0", *A)
    assert reply.success and reply.msg == "attr 'param' of component (sim,1) set to 1.0 s"
    value = drv.dev_get_attr("param", *A).data
    assert (value.magnitude, str(value.units)) == (1.0, "second")
    assert drv.dev_set_attr("param", "2 min", *A).data.magnitude == 120.0


def test_get_attr_of_unknown_attr(drv):
    reply = drv.dev_get_attr("nope", *A)
    assert not reply.success and "unknown attr 'nope'" in reply.msg


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (task(technique="unknown"), "unknown technique 'unknown' for component (sim,1)"),
        (task(param="wrong type"), "attr 'param' value 'wrong type' has the wrong type"),
        (task(param="1 m"), "attr 'param' value '1 m' has the wrong dimension"),
        (task(param="1 ms"), "attr 'param' value '1 ms' is below minimum 0.1 s"),
        (task(unknown="bla"), "unknown task parameter 'unknown' for component (sim,1)"),
        ({**task(), "max_duration": -1}, "invalid task: max_duration"),
        ({**task(), "colour": "red"}, "invalid task: colour"),
    ],
)
def test_task_validate_and_start_refuse_with_the_reason(drv, bad, reason):
    for verb in (drv.task_validate, drv.task_start):
        reply = verb(bad, *A)
        assert not reply.success
        assert reply.msg.startswith(reason), reply.msg
    assert not drv.devmap[A].status()["running"]


def test_task_validate_accepts_a_good_task(drv):
    reply = drv.task_validate(Task(**task(param="0.5 s", choice="blue")), *A)
    assert reply.success
    assert drv.dev_get_attr("choice", *A).data == "red"  # validation changes nothing


def test_task_data_has_units_on_every_variable_with_units(drv):
    assert drv.task_start(task(0.2, 0.05, param="2 s"), *A).success
    assert drv.task_status(*A).data["running"]
    wait_done(drv)
    status = drv.task_status(*A).data
    assert not status["running"] and status["can_submit"] and status["points"] == 4
    ds = drv.task_data(*A).data
    assert ds.sizes["uts"] == 4
    assert ds["uts"].attrs["units"] == "seconds since 1970-01-01T00:00:00Z"
    assert ds["value"].attrs["units"] == "s"
    assert ds["param"].attrs["units"] == "s"
    assert list(ds["param"].values) == [2.0] * 4
    assert "units" not in ds["max"].attrs  # max is a plain number
    # the cache was cleared
    assert drv.task_data(*A) == Reply(True, "0 new points on component (sim,1)", None)


def test_task_data_columns_need_no_xarray(drv):
    drv.task_start(task(0.1, 0.05), *A)
    wait_done(drv)
    data = drv.task_data_columns(*A).data
    assert set(data) == {"columns", "units"}
    assert len(data["columns"]["uts"]) == 2
    assert data["units"] == {
        "uts": "seconds since 1970-01-01T00:00:00Z",
        "value": "s",
        "param": "s",
    }
    assert drv.task_data_columns(*A).data == {"columns": {}, "units": {}}


def test_task_stop_mid_task_returns_the_data_so_far(drv):
    assert drv.task_start(task(30.0, 0.02), *A).success
    assert drv.devmap[A].reached.wait(5.0)
    reply = drv.task_stop(*A)
    assert reply.success and "stopped" in reply.msg
    assert 3 <= reply.data.sizes["uts"] < 1500
    assert not drv.task_status(*A).data["running"]
    assert drv.task_data(*A).data is None


def test_dev_status_and_driver_status(drv):
    assert drv.dev_register(*B).success
    status = drv.dev_status(*A)
    assert status.success and status.msg == "component (sim,1) is idle"
    assert status.data["attrs"] == {}
    everything = drv.status().data["components"]
    assert [(c["address"], c["channel"]) for c in everything] == [A, B]
    assert all(c["running"] is False for c in everything)


def test_driver_reset_resets_every_component(drv):
    drv.dev_register(*B)
    drv.dev_set_attr("choice", "blue", *A)
    drv.dev_set_attr("choice", "green", *B)
    drv.task_start(task(30.0, 0.05), *B)
    reply = drv.reset()
    assert reply == Reply(True, "2 components reset")
    assert drv.dev_get_attr("choice", *A).data == "red"
    assert drv.dev_get_attr("choice", *B).data == "red"
    assert not drv.task_status(*B).data["running"]


def test_driver_code_exceptions_become_failed_replies(make):
    driver = make(BrokenDriver)
    driver.dev_register(*A)
    reply = driver.dev_get_attr("max", *A)
    assert reply == Reply(False, "dev_get_attr failed on component (sim,1): KeyError: 'max'")


def test_abstract_device_manager_fails_registration(make):
    class Incomplete(ModelInterface):
        DeviceManager = DeviceManager

    reply = make(Incomplete).dev_register(*A)
    assert not reply.success
    assert reply.msg.startswith("registering component (sim,1) failed: TypeError")


def test_a_slow_verb_on_one_component_does_not_delay_another(make):
    driver = make(faulty.DriverInterface)
    driver.dev_register(*A)
    driver.dev_register(*B)
    assert driver.dev_set_attr("reset_delay", "0.6 s", *A).success
    assert driver.dev_set_attr("hang_verb", "dev_get_attr", *A).success
    assert driver.dev_set_attr("hang_seconds", 0.6, *A).success
    done: dict[str, float] = {}

    def slow(name: str, call) -> None:
        t0 = time.monotonic()
        assert call().success
        done[name] = time.monotonic() - t0

    threads = [
        threading.Thread(target=slow, args=("get", lambda: driver.dev_get_attr("fail_after", *A))),
        threading.Thread(target=slow, args=("reset", lambda: driver.dev_reset(*A))),
    ]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    for _ in range(20):
        assert driver.dev_get_attr("fail_after", *B).success
        assert driver.task_status(*B).success
        assert driver.status().success
    fast = time.monotonic() - t0
    for t in threads:
        t.join(timeout=10.0)
        assert not t.is_alive()
    assert fast < 0.4
    assert done["get"] >= 0.6 and done["reset"] >= 0.6


def test_importing_the_interface_stays_light():
    code = (
        "import sys, sugo.driverinterface, sugo.driverinterface.loader;"
        "print(sorted(m for m in ('xarray', 'pint', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.strip() == "[]"
