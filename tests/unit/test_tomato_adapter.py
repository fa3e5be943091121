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


def test_the_builtin_fallback_records_what_the_package_records() -> None:
    from sugo.drivers.counter import ExampleCounterInterface

    results = {}
    for name, driver in (
        ("package", adapt("example_counter", tomato_example_counter.DriverInterface)),
        ("fallback", ExampleCounterInterface),
    ):
        with DriverTester(driver) as tester:
            comp = tester.register()
            results[name] = comp.run_task("count", max_duration=0.3, sampling_interval=0.1)
    package, fallback = results["package"], results["fallback"]
    assert set(fallback.variables) == set(package.variables) == {
        "val", "max", "min", "param", "choice"
    }  # fmt: skip
    assert fallback.units == package.units  # param in seconds, val without units
    assert fallback.column("choice")[0] == package.column("choice")[0] == "green"
