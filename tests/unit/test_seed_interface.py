"""The seed driver interface (shared/reference/driverinterface-1.0.md) as
written: a driver written from that text alone runs, code that calls drivers
as the text says works, and every driver (built-in, seed, tomato package)
passes the same contract checks of `sugo.testing`."""

import threading
from typing import Any

import pytest

from sugo.driverinterface import ModelInterface, Reply, Task
from sugo.driverinterface.host import DriverHost
from sugo.driverinterface.loader import check_driver
from sugo.drivers import counter, faulty, psutil_driver
from sugo.protocol import host_api
from sugo.protocol.client import Client
from sugo.testing import DriverTester, check_contract
from tests.drivers import seed_counter
from tests.integration.harness import wait_for

KEY = ("sim", "1")
SEED = seed_counter.DriverInterface


def task(duration: float = 0.3, interval: float = 0.1, **params: Any) -> Task:
    return Task(
        component_role="r",
        technique_name="count",
        max_duration=duration,
        sampling_interval=interval,
        task_params=params,
    )


@pytest.mark.parametrize(
    ("driver", "techniques"),
    [
        (counter.DriverInterface, {"count", "random"}),
        (counter.ExampleCounterInterface, {"count", "random"}),
        (psutil_driver.DriverInterface, {"all_info", "cpu_info", "mem_info"}),
        (faulty.DriverInterface, {"count"}),
        (SEED, {"count", "random"}),
        ("example_counter", {"count", "random"}),  # the tomato package, adapted
        ("psutil", {"all_info", "cpu_info", "mem_info"}),  # the tomato package, adapted
    ],
    ids=["counter", "example_counter-fallback", "psutil", "faulty", "seed", "tomato-counter",
         "tomato-psutil"],
)  # fmt: skip
def test_every_driver_passes_the_same_contract(driver: Any, techniques: set[str]) -> None:
    assert set(check_contract(driver)) == techniques
    with DriverTester(driver) as tester:
        comp = tester.register()
        result = comp.run_task(sorted(techniques)[0], max_duration=0.3, sampling_interval=0.1)
    result.assert_ok()
    result.assert_points(3, tolerance=1 if isinstance(driver, str) else 0)
    result.assert_increasing_time()


def test_the_seed_driver_loads_and_records_through_sugo_testing() -> None:
    check_driver("seed", SEED)
    with DriverTester(SEED) as tester:
        comp = tester.register()
        comp.set_attr("max", "3")
        result = comp.run_task("count", max_duration=0.5, sampling_interval=0.1)
    result.assert_points(5)
    result.assert_variables("val", "max")
    assert result.column("max") == [3.0] * 5


def test_verbs_take_the_key_as_the_seed_text_says() -> None:
    drv = SEED()
    try:
        assert drv.dev_register("sim", "1").success
        assert drv.capabilities(KEY).data == ["count", "random"]
        assert drv.capabilities(key=KEY).success  # was a TypeError
        assert drv.attrs(KEY).success
        assert drv.dev_set_attr("max", 5.0, KEY).success
        assert drv.dev_set_attr(attr="min", val=1.0, key=KEY).success
        assert drv.dev_get_attr("max", KEY).data == 5.0
        assert drv.task_start(KEY, task()).success
        assert drv.task_status(KEY).data["running"] is True
        wait_for(lambda: not drv.task_status(key=KEY).data["running"], 10, "the task to end")
        ds = drv.task_data(KEY).data
        assert ds["uts"].size == 3 and set(ds.data_vars) == {"val", "max"}
        assert drv.task_data(key=KEY).data is None  # cleared
        status = drv.dev_status(KEY).data
        assert set(status["attrs"]) == {"val"}  # the status=True attrs
        # sugo's own calling convention keeps working alongside
        assert drv.dev_get_attr("max", "sim", "1").data == 5.0
        assert drv.dev_get_attr("max", address="sim", channel="1").data == 5.0
        assert drv.task_start(task(), "sim", "1").success
        assert drv.task_stop(KEY).success
        assert drv.dev_reset(KEY).success
        assert drv.status().success
    finally:
        assert drv.dev_teardown(KEY).success


def test_device_manager_as_the_seed_text_describes_it() -> None:
    drv = SEED()
    drv.dev_register("sim", "1")
    dm = drv.devmap[KEY]
    try:
        assert isinstance(dm, SEED.DeviceManager) and isinstance(dm, ModelInterface.DeviceManager)
        assert dm.driver is drv and dm.key == KEY
        assert isinstance(dm.data, dict) and isinstance(dm.datalock, type(threading.RLock()))
        # run() starts the worker thread (already running: it is not doubled)
        thread = dm.thread
        dm.run()
        assert dm.thread is thread and thread.is_alive()
        # task_runner is the thread's loop: a queued Task runs
        dm.task_list.put(task(0.2, 0.1))
        wait_for(lambda: len(dm.data.get("uts", ())) == 2, 10, "two points in self.data")
        wait_for(lambda: not dm.running, 10, "the task to end")
        data = dm.get_data()
        assert set(data) == {"uts", "val", "max"} and len(data["uts"]) == 2
        assert dm.get_data() == {}
        assert dm.stop_task() is None
        report = dm.status()  # the status=True attrs
        assert report["val"] == data["val"][-1]
        dm.reset()
    finally:
        drv.dev_teardown(KEY)


class _OwnData(seed_counter.DriverInterface):
    """Overrides task_data and task_stop, as the seed text allows."""

    calls: list[str] = []

    def task_data(self, key: Any = None, channel: Any = None, **kw: Any) -> Reply:
        self.calls.append("task_data")
        reply = super().task_data(key, channel, **kw)
        if reply.data is None:
            return reply
        ds = reply.data.assign(doubled=reply.data["val"] * 2)
        return Reply(True, reply.msg, ds)

    def task_stop(self, key: Any = None, channel: Any = None, **kw: Any) -> Reply:
        self.calls.append("task_stop")
        return super().task_stop(key, channel, **kw)


def test_task_data_and_task_stop_overrides_are_honoured_by_the_host() -> None:
    host = DriverHost("own", bind="127.0.0.1", interface=_OwnData())
    thread = threading.Thread(target=host.loop.run, daemon=True)
    thread.start()
    try:
        with Client(f"tcp://127.0.0.1:{host.loop.port}", timeout=5.0) as c:
            c.call(host_api.DevRegister(address="sim", channel="1"))
            start = task(0.3, 0.1).model_dump(mode="json")
            c.call(host_api.TaskStart(address="sim", channel="1", task=start))
            wait_for(
                lambda: not c.call(host_api.TaskStatus(address="sim", channel="1"))["running"],
                10,
                "the task to end",
            )
            reply, frames = c.request(host_api.TaskData(address="sim", channel="1"))
            names = {v["name"] for h in reply.data["chunks"] for v in h["variables"]}
            assert "doubled" in names and frames
            c.call(host_api.TaskStart(address="sim", channel="1", task=start))
            c.call(host_api.TaskStop(address="sim", channel="1"))
        assert "task_data" in _OwnData.calls and "task_stop" in _OwnData.calls
    finally:
        host.teardown_all()
        host.loop.stop()
        thread.join(5)
        host.close()


def test_a_plain_driver_keeps_the_fast_data_path() -> None:
    """Only drivers that override task_data lose the host's inline answer."""
    assert counter.DriverInterface.task_data_columns is ModelInterface.task_data_columns
    assert SEED.task_data_columns is ModelInterface.task_data_columns
    assert _OwnData.task_data_columns is not ModelInterface.task_data_columns


# -- constants, last data, measure (tomato 2.1) -----------------------------------------


@pytest.mark.parametrize("driver", [counter.ExampleCounterInterface, SEED, "example_counter"])
def test_constants_measure_and_last_data(driver: Any) -> None:
    with DriverTester(driver) as tester:
        tester.register()
        drv = tester.interface
        drv.constants["site"] = "lab 1"
        drv.devmap[KEY].constants["serial"] = "A-7"
        assert drv.dev_constants(KEY).data == {"site": "lab 1", "serial": "A-7"} | (
            {"example_meta": "example string"} if driver == "example_counter" else {}
        )
        if driver != "example_counter":  # tomato's last_data starts as None too
            assert drv.dev_last_data(KEY).data is None
        point = drv.dev_measure(KEY).data
        assert len(point["columns"]["uts"]) == 1 and point["columns"]["val"]
        assert drv.dev_last_data(KEY).data["columns"]["uts"] == point["columns"]["uts"]
        assert drv.task_status(KEY).data["running"] is False
        # the last point of a task, still there once the task has ended
        result = tester._components[0].run_task("count", max_duration=0.3, sampling_interval=0.1)
        last = drv.dev_last_data(KEY).data["columns"]
        assert last["uts"] == result.columns["uts"][-1:]


def test_measure_is_refused_while_a_task_runs() -> None:
    with DriverTester(SEED) as tester:
        tester.register()
        drv = tester.interface
        assert drv.task_start(KEY, task(5.0, 0.1)).success
        reply = drv.dev_measure(KEY)
        assert not reply.success and "running a task" in reply.msg
