"""StoredAttrsManager: the attrs a DeviceManager keeps itself (the counter's
and the spectrometer's, and any driver's that uses it)."""

from typing import Any

import pytest

from sugo.driverinterface import Attr, ModelInterface, StoredAttrsManager, Task
from sugo.drivers import counter, spectrometer
from sugo.testing import DriverCallFailed, DriverTester

ATTRS = {
    "voltage": Attr(type=float, rw=True, units="V", maximum="10 V", default=1.5),
    "mode": Attr(type=str, rw=True, options=("precise", "fast"), default="precise"),
    "serial": Attr(type=str),  # read-only, no default: the instrument's to tell
}


class Source(StoredAttrsManager):
    def __init__(self, driver: ModelInterface, key: tuple[str, str], **kwargs: Any) -> None:
        self.sent: list[tuple[str, Any]] = []  # what reached the "instrument"
        super().__init__(driver, key, **kwargs)

    def attrs(self, **kwargs: Any) -> dict[str, Attr]:
        return ATTRS

    def capabilities(self, **kwargs: Any) -> set[str]:
        return {"constant"}

    def set_attr(self, attr: str, val: Any, **kwargs: Any) -> None:
        self.sent.append((attr, val))
        super().set_attr(attr, val)

    def do_task(self, task: Task, t_start: float, t_now: float, **kwargs: Any) -> dict[str, Any]:
        return {"voltage": self.plain["voltage"]}


class SourceDriver(ModelInterface):
    DeviceManager = Source


def test_attrs_start_at_their_defaults_and_keep_what_is_set() -> None:
    with DriverTester(SourceDriver) as driver:
        source = driver.register("sim", "1")
        dm = driver.interface.devmap[("sim", "1")]
        assert isinstance(dm, Source)
        assert [a for a, _ in dm.sent] == ["voltage", "mode"]  # the writable defaults, in order
        assert f"{source.get_attr('voltage'):~}" == "1.5 V" and dm.plain["voltage"] == 1.5
        source.set_attr("voltage", "500 mV")
        assert dm.plain["voltage"] == pytest.approx(0.5)
        assert f"{source.get_attr('voltage'):~}" == "0.5 V"  # in the attr's units
        with pytest.raises(DriverCallFailed, match=r"'voltage'.*10"):
            source.set_attr("voltage", "50 V")  # validated before it is stored
        assert dm.plain["voltage"] == pytest.approx(0.5)
        result = source.run_task("constant", max_duration=0.2, sampling_interval=0.1)
        result.assert_ok()
        assert result.column("voltage") == pytest.approx([0.5, 0.5])
        source.reset()
        assert source.get_attr("mode") == "precise" and dm.plain["voltage"] == 1.5


def test_an_unknown_or_never_set_attr_is_a_clear_error() -> None:
    with DriverTester(SourceDriver) as driver:
        source = driver.register("sim", "1")
        with pytest.raises(DriverCallFailed, match=r"unknown attr 'gain'"):
            source.get_attr("gain")
        dm = driver.interface.devmap[("sim", "1")]
        with pytest.raises(ValueError, match=r"attr 'serial' of component \(sim,1\) has no value"):
            dm.get_attr("serial")


@pytest.mark.parametrize(
    "driver_class", [counter.DriverInterface, counter.ExampleCounterInterface,
                     spectrometer.DriverInterface],
)  # fmt: skip
def test_the_simulated_drivers_keep_their_attrs_this_way(driver_class: type) -> None:
    with DriverTester(driver_class) as driver:
        comp = driver.register("sim", "1")
        dm = driver.interface.devmap[("sim", "1")]
        assert isinstance(dm, StoredAttrsManager)
        for name, spec in dm.attrs().items():
            assert comp.get_attr(name) == spec.coerce(spec.default, name)
        with pytest.raises(DriverCallFailed, match=r"unknown attr 'nope' for component \(sim,1\)"):
            comp.get_attr("nope")
