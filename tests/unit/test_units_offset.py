"""Temperatures with an offset (issue 13, item 11): a rate or a difference in
degC converts as a delta ("5 degC/min" is 5 K/min, not 278.15 K/min); a
temperature on its own stays absolute ("25 degC" is 298.15 K)."""

from typing import Any

import pytest

from sugo.config.payload import parse_payload
from sugo.driverinterface import Attr, DeviceManager, ModelInterface, Task
from sugo.driverinterface.units import quantity, to_seconds
from sugo.testing import DriverTester

RATE = Attr(type=float, rw=True, units="K/min", maximum=100, default=1.0)


@pytest.mark.parametrize(
    ("text", "kelvin_per_minute"),
    [
        ("5 degC/min", 5.0),
        ("1 degC/s", 60.0),
        ("9 degF/min", 5.0),
        ("5 K/min", 5.0),
        ("0.5 delta_degC/min", 0.5),
        ("5 * degC/min", 5.0),
    ],
)
def test_a_rate_in_degrees_converts_as_a_delta(text: str, kelvin_per_minute: float) -> None:
    assert quantity(text).to("K/min").magnitude == pytest.approx(kelvin_per_minute)
    assert RATE.coerce(text, "rate").magnitude == pytest.approx(kelvin_per_minute)


def test_a_rate_limit_applies_to_the_delta() -> None:
    assert RATE.coerce("1 degC/s", "rate").magnitude == pytest.approx(60.0)  # under 100 K/min
    with pytest.raises(ValueError, match="above maximum 100"):
        RATE.coerce("2 degC/s", "rate")  # 120 K/min
    # A limit written in degrees is a delta too.
    in_degrees = Attr(type=float, rw=True, units="degC/min", maximum="100 K/min")
    assert in_degrees.coerce("90 K/min", "rate").magnitude == pytest.approx(90.0)
    with pytest.raises(ValueError, match="above maximum"):
        in_degrees.coerce("2 K/s", "rate")


def test_an_absolute_temperature_stays_absolute() -> None:
    assert quantity("25 degC").to("K").magnitude == pytest.approx(298.15)
    kelvin = Attr(type=float, rw=True, units="K")
    assert kelvin.coerce("25 degC", "t").magnitude == pytest.approx(298.15)
    assert kelvin.coerce("77 degF", "t").magnitude == pytest.approx(298.15)
    celsius = Attr(type=float, rw=True, units="degC", minimum="-10 degC", maximum=1000)
    assert celsius.coerce("300 K", "t").magnitude == pytest.approx(26.85)
    assert celsius.coerce(25, "t").magnitude == pytest.approx(25.0)
    with pytest.raises(ValueError, match="below minimum -10 degC"):
        celsius.coerce("-20 degC", "t")
    with pytest.raises(ValueError, match="above maximum 1000"):
        celsius.coerce("1300 K", "t")


def test_durations_and_plain_quantities_are_unchanged() -> None:
    assert to_seconds("2 min") == 120.0
    assert to_seconds("1.5e1 s") == 15.0
    assert to_seconds("90") == 90.0
    assert quantity("-3.5e-2 mV").to("V").magnitude == pytest.approx(-3.5e-5)
    assert quantity("min").to("s").magnitude == 60
    # Expressions that are not a number and units still parse as pint parses them.
    assert quantity("5 / min").to("1/s").magnitude == pytest.approx(5 / 60)
    assert quantity("2 h + 30 min").to("min").magnitude == pytest.approx(150)
    with pytest.raises(ValueError, match="cannot parse '5 blargh' as a quantity"):
        quantity("5 blargh")
    with pytest.raises(ValueError, match="is not a time"):
        to_seconds("5 degC/min")


# -- through a payload, as a driver host validates and runs its tasks ----------------


class FurnaceManager(DeviceManager):
    """A furnace that ramps at `rate` towards `setpoint` (records both as set)."""

    ATTRS = {
        "rate": RATE,
        "setpoint": Attr(type=float, rw=True, units="degC", maximum=1000, default=20.0),
    }

    def __init__(self, driver: ModelInterface, key: tuple[str, str], **kwargs: Any) -> None:
        super().__init__(driver, key, **kwargs)
        self.values: dict[str, Any] = {}
        self.reset_attrs()

    def capabilities(self, **kwargs: Any) -> set[str]:
        return {"ramp"}

    def attrs(self, **kwargs: Any) -> dict[str, Attr]:
        return self.ATTRS

    def set_attr(self, attr: str, val: Any, **kwargs: Any) -> None:
        self.values[attr] = self.check_attr(attr, val)

    def get_attr(self, attr: str, **kwargs: Any) -> Any:
        return self.values[attr]

    def do_task(self, task: Task, t_start: float, t_now: float, **kwargs: Any) -> dict[str, Any]:
        return {
            "rate": float(self.values["rate"].to("K/min").magnitude),
            "setpoint": float(self.values["setpoint"].to("degC").magnitude),
        }


class Furnace(ModelInterface):
    DeviceManager = FurnaceManager


def payload_task(params: str) -> Task:
    payload = parse_payload(
        "sample: {identifier: s}\n"
        "method: [{component_role: furnace, technique_name: ramp, max_duration: 0.2,"
        f" sampling_interval: 0.1, task_params: {params}}}]\n",
        "yaml",
        "furnace.yml",
    )
    return payload.method[0]


def test_a_payload_heating_rate_in_degrees_per_minute_reaches_the_driver_as_a_rate() -> None:
    task = payload_task("{rate: 5 degC/min, setpoint: 25 degC}")
    with DriverTester(Furnace) as driver:
        furnace = driver.register()
        reply = furnace.validate("ramp", task_params=task.task_params)
        assert reply.success, reply.msg
        result = furnace.run_task(
            "ramp", max_duration=0.2, sampling_interval=0.1, task_params=task.task_params
        )
        result.assert_ok()
        assert set(result.column("rate")) == {5.0}  # not 278.15
        assert set(result.column("setpoint")) == {25.0}  # still absolute


def test_a_payload_rate_above_the_maximum_is_refused_by_validation() -> None:
    fast = payload_task("{rate: 2 degC/s}")  # 120 K/min
    ok = payload_task("{rate: 1 degC/s}")  # 60 K/min: was refused as 33,000 K/min
    with DriverTester(Furnace) as driver:
        furnace = driver.register()
        assert furnace.validate("ramp", task_params=ok.task_params).success
        reply = furnace.validate("ramp", task_params=fast.task_params)
        assert not reply.success
        assert "attr 'rate' value '2 degC/s' is above maximum 100" in reply.msg
