"""The adapter of tomato's driver interface, in-process, on the real
`tomato-psutil` and `tomato-example-counter` packages."""

import tomato_example_counter
import tomato_psutil

from sugo.driverinterface.tomato_adapter import adapt
from sugo.testing import DriverTester
from tests.integration.harness import wait_for

KEY = ("sim", "1")


def test_idle_components_are_measured_as_tomato_does() -> None:
    class Quick(tomato_psutil.DriverInterface):
        idle_measurement_interval = 0.05

    with DriverTester(adapt("quick", Quick)) as tester:
        tester.register()
        drv = tester.interface
        last = wait_for(lambda: drv.dev_last_data(KEY).data, 10, "an idle measurement")
        assert {"uts", "cpu_usage", "mem_usage"} <= set(last["columns"])
        assert last["units"]["cpu_usage"] == "percent"


def test_registering_twice_keeps_the_component_and_its_thread() -> None:
    with DriverTester(adapt("example_counter", tomato_example_counter.DriverInterface)) as t:
        t.register()
        drv = t.interface
        device, thread = drv.devmap[KEY], drv.devmap[KEY].thread
        assert drv.dev_register("sim", "1").data == ["count", "random"]
        assert drv.devmap[KEY] is device and device.thread is thread
        unknown = drv.dev_status(("sim", "9"))
        assert not unknown.success and "unknown component (sim,9)" in unknown.msg


def test_the_packages_refusals_name_the_component() -> None:
    with DriverTester(adapt("example_counter", tomato_example_counter.DriverInterface)) as t:
        comp = t.register()
        reply = comp.validate("count", task_params={"choice": "pink"})
        assert not reply.success
        assert reply.msg.startswith("task 'count' refused by component (sim,1): val 'pink'")
        bad = t.interface.dev_set_attr("max", "many", KEY)
        assert not bad.success and "cmp_set_attr failed on component (sim,1)" in bad.msg
