"""The built-in drivers: counter, psutil and the fault-injecting test driver."""

import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

from sugo.driverinterface import ModelInterface
from sugo.drivers import counter, faulty, psutil_driver

A = ("sim", "1")


def task(duration: float, interval: float, technique: str = "count", **params: Any):
    return {
        "component_role": "dev",
        "technique_name": technique,
        "max_duration": duration,
        "sampling_interval": interval,
        "task_params": params,
    }


@pytest.fixture
def make():
    """Builds a driver with component A registered; tears everything down after."""
    made: list[ModelInterface] = []

    def build(cls: type[ModelInterface], settings: dict | None = None, key=A):
        driver = cls(settings)
        made.append(driver)
        reply = driver.dev_register(*key)
        assert reply.success, reply.msg
        return driver

    yield build
    for driver in made:
        managers = list(driver.devmap.values())
        for key in list(driver.devmap):
            assert driver.dev_teardown(*key).success
        assert not any(dm.thread.is_alive() for dm in managers)


def run(driver: ModelInterface, spec: dict, key=A, timeout: float = 5.0) -> Any:
    reply = driver.task_start(spec, *key)
    assert reply.success, reply.msg
    assert driver.devmap[key].wait_idle(timeout)
    return driver.task_data(*key).data


# ----- counter ---------------------------------------------------------------------


def test_counter_count_records_whole_seconds_and_attrs(make):
    driver = make(counter.DriverInterface)
    ds = run(driver, task(1.2, 0.3, choice="green", param="500 ms"))
    assert list(ds["value"].values) == [0.0, 0.0, 0.0, 1.0]
    assert set(ds.data_vars) == {"value", "max", "min", "param", "choice"}
    assert list(ds["param"].values) == [0.5] * 4
    assert list(ds["choice"].values) == ["green"] * 4


def test_counter_random_stays_between_min_and_max(make):
    driver = make(counter.DriverInterface)
    ds = run(driver, task(0.2, 0.005, technique="random", min=5, max="7.5"))
    values = ds["value"].values
    assert len(values) == 40
    assert ((values >= 5.0) & (values <= 7.5)).all()
    assert len(set(values)) > 30
    assert "units" not in ds["value"].attrs


def test_counter_reset_delay_setting_makes_reset_slow(make):
    driver = make(counter.DriverInterface, {"reset_delay": 0.2})
    t0 = time.monotonic()
    assert driver.dev_reset(*A).success
    assert time.monotonic() - t0 >= 0.2


# ----- psutil ----------------------------------------------------------------------


def test_psutil_all_info_values_are_plausible_and_have_units(make):
    key = ("host", "10")
    driver = make(psutil_driver.DriverInterface, key=key)
    ds = run(driver, task(0.3, 0.1, technique="all_info"), key=key)
    assert ds.sizes["uts"] == 3
    assert set(ds.data_vars) == {
        "mem_total",
        "mem_avail",
        "mem_usage",
        "cpu_count",
        "cpu_freq",
        "cpu_usage",
    }
    for name, var in ds.data_vars.items():
        assert var.attrs.get("units"), f"{name} has no units"
    assert ds["mem_total"].attrs["units"] == "MiB"
    assert ((ds["mem_usage"] >= 0) & (ds["mem_usage"] <= 100)).all()
    assert ((ds["cpu_usage"] >= 0) & (ds["cpu_usage"] <= 100)).all()
    assert (ds["mem_total"] > ds["mem_avail"]).all()
    assert (ds["mem_avail"] > 0).all()
    assert (ds["cpu_count"] >= 1).all()


@pytest.mark.parametrize(
    ("technique", "names"),
    [
        ("mem_info", {"mem_total", "mem_avail", "mem_usage"}),
        ("cpu_info", {"cpu_count", "cpu_freq", "cpu_usage"}),
    ],
)
def test_psutil_techniques_record_their_quantities(make, technique, names):
    key = ("host", "10")
    driver = make(psutil_driver.DriverInterface, key=key)
    ds = run(driver, task(0.1, 0.05, technique=technique), key=key)
    assert set(ds.data_vars) == names


def test_psutil_attrs_are_read_only_quantities(make):
    key = ("host", "10")
    driver = make(psutil_driver.DriverInterface, key=key)
    attrs = driver.attrs(*key).data
    assert not any(a.rw for a in attrs.values())
    assert {k for k, a in attrs.items() if a.status} == {"mem_usage", "cpu_usage"}
    total = driver.dev_get_attr("mem_total", *key).data
    assert str(total.units) == "mebibyte" and total.magnitude > 0
    status = driver.dev_status(*key).data["attrs"]
    assert 0 <= status["cpu_usage"].magnitude <= 100
    reply = driver.task_validate(task(0.1, 0.05, technique="mem_info", mem_total=1), *key)
    assert not reply.success and "read-only" in reply.msg


# ----- faulty ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "kwargs", "refused"),
    [
        ({"fail_register": True}, {}, True),
        ({}, {"fail_register": True}, True),
        ({"fail_register": ["2"]}, {}, False),
        ({"fail_register": ["1"]}, {}, True),
    ],
)
def test_faulty_fail_register(settings, kwargs, refused):
    before = threading.active_count()
    driver = faulty.DriverInterface(settings)
    reply = driver.dev_register(*A, **kwargs)
    assert reply.success is not refused
    if refused:
        assert reply.msg == (
            "registering component (sim,1) failed: "
            "RuntimeError: component (sim,1) refuses to register (fail_register)"
        )
        assert threading.active_count() == before
    else:
        assert driver.dev_teardown(*A).success


def test_faulty_fail_after_ends_the_task_with_an_error(make):
    driver = make(faulty.DriverInterface)
    ds = run(driver, task(1.0, 0.02, fail_after=3))
    assert ds.sizes["uts"] == 3
    assert ds["value"].attrs["units"] == "s"
    status = driver.task_status(*A).data
    assert status["error"] == "RuntimeError: simulated failure after 3 points (fail_after)"
    # the worker carries on with the next task
    assert driver.dev_set_attr("fail_after", -1, *A).success
    assert run(driver, task(0.1, 0.05)).sizes["uts"] == 2
    assert driver.task_status(*A).data["error"] is None


def test_faulty_settings_are_the_defaults_that_reset_restores(make):
    driver = make(faulty.DriverInterface, {"fail_after": 1, "hang_verb": "task_status"})
    assert driver.dev_set_attr("fail_after", 5, *A).success
    assert driver.dev_set_attr("hang_verb", "", *A).success
    assert driver.dev_reset(*A).success
    assert driver.devmap[A].values["fail_after"] == 1
    assert driver.devmap[A].values["hang_verb"] == "task_status"
    driver.devmap[A].set_attr("hang_verb", "")  # so teardown's checks do not hang


def test_faulty_hang_verb_blocks_only_that_verb(make):
    driver = make(faulty.DriverInterface)
    driver.dev_set_attr("hang_verb", "task_status", *A)
    driver.dev_set_attr("hang_seconds", "300 ms", *A)
    t0 = time.monotonic()
    assert driver.dev_status(*A).success
    assert time.monotonic() - t0 < 0.2
    assert driver.task_status(*A).success
    assert time.monotonic() - t0 >= 0.3
    reply = driver.dev_set_attr("hang_verb", "no_such_verb", *A)
    assert not reply.success and "is not one of" in reply.msg


def test_faulty_reset_delay(make):
    driver = make(faulty.DriverInterface)
    driver.dev_set_attr("reset_delay", 0.3, *A)
    t0 = time.monotonic()
    assert driver.dev_reset(*A).success
    assert time.monotonic() - t0 >= 0.3


def test_faulty_ignore_stop_runs_to_the_end(make):
    driver = make(faulty.DriverInterface)
    assert driver.dev_set_attr("ignore_stop", "true", *A).success
    assert driver.task_start(task(0.4, 0.05), *A).success
    reply = driver.task_stop(*A)
    assert reply.success and "still running" in reply.msg
    assert driver.devmap[A].wait_idle(5.0)
    assert driver.task_status(*A).data["points"] == 8


def test_faulty_kill_after_kills_the_process():
    script = textwrap.dedent(
        """
        from sugo.drivers.faulty import DriverInterface
        d = DriverInterface()
        d.dev_register("sim", "1")
        d.task_start({"component_role": "x", "technique_name": "count", "max_duration": 5,
                      "sampling_interval": 0.01, "task_params": {"kill_after": 2}}, "sim", "1")
        d.devmap[("sim", "1")].wait_idle(10)
        print("survived")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == -signal.SIGKILL, out.stderr
    assert "survived" not in out.stdout
