"""Test helpers for driver authors: run a driver in-process, through the same
ModelInterface verbs the driver host serves, without a daemon.

    from sugo.testing import DriverTester

    def test_ramp_records_voltage():
        with DriverTester(DriverInterface) as driver:
            dev = driver.register("sim", "1")
            dev.set_attr("amplitude", "2 V")
            result = dev.run_task("ramp", max_duration=0.5, sampling_interval=0.1)
            result.assert_points(5)
            result.assert_units(voltage="V")

Every helper checks the verb's `Reply` and raises `DriverCallFailed` with the
driver's own message when it says no, so a failing test tells why. Waits
have deadlines; nothing here sleeps for a fixed time to wait for a state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from sugo.driverinterface import Attr, ModelInterface, Reply, Task
from sugo.driverinterface.attr import is_quantity
from sugo.driverinterface.loader import check_driver, load_driver
from sugo.driverinterface.settings import check_settings

__all__ = [
    "ComponentTester",
    "DriverCallFailed",
    "DriverTester",
    "TaskResult",
    "check_contract",
]


class DriverCallFailed(AssertionError):
    """A verb replied with ``success=False``; the message is the driver's."""


def ok(reply: Reply, verb: str) -> Any:
    """The data of a successful reply; raises `DriverCallFailed` otherwise."""
    if not isinstance(reply, Reply):
        raise DriverCallFailed(f"{verb} returned {reply!r}, not a Reply")
    if not reply.success:
        raise DriverCallFailed(f"{verb} failed: {reply.msg}")
    return reply.data


def same_units(a: str | None, b: str | None) -> bool:
    """Whether two unit strings mean the same unit ("V" and "volt" do)."""
    if not a or not b:
        return not a and not b
    if a == b:
        return True
    from sugo.driverinterface.units import registry

    ureg = registry()
    try:
        return bool(ureg.Unit(a) == ureg.Unit(b))
    except Exception:  # an unknown unit is a mismatch, not a crash
        return False


@dataclass
class TaskResult:
    """What one task recorded: its columns (``uts`` included), their units,
    and how the task ended (``error`` from the component's status)."""

    technique: str
    columns: dict[str, list[Any]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0  # wall time from start to end

    @property
    def points(self) -> int:
        """Number of points (rows)."""
        return len(self.columns.get("uts", ()))

    @property
    def variables(self) -> list[str]:
        """The recorded variables besides ``uts``."""
        return [n for n in self.columns if n != "uts"]

    def column(self, name: str) -> list[Any]:
        """One column; a missing one fails naming the ones there are."""
        if name not in self.columns:
            raise AssertionError(f"no variable {name!r} (recorded: {', '.join(self.columns)})")
        return self.columns[name]

    def assert_points(self, expected: int, tolerance: int = 0) -> None:
        """Exactly ``expected`` points (± ``tolerance``)."""
        if abs(self.points - expected) > tolerance:
            plus = f" ± {tolerance}" if tolerance else ""
            raise AssertionError(
                f"{self.technique}: {self.points} points, expected {expected}{plus}"
            )

    def assert_variables(self, *names: str) -> None:
        """Each of ``names`` was recorded."""
        absent = [n for n in names if n not in self.columns]
        if absent:
            raise AssertionError(
                f"{self.technique}: not recorded: {', '.join(absent)}"
                f" (recorded: {', '.join(self.variables)})"
            )

    def assert_units(self, **expected: str | None) -> None:
        """Each named variable carries these units (``None``: no units);
        equivalent spellings match ("V" and "volt")."""
        self.assert_variables(*expected)
        wrong = [
            f"{name}: {self.units.get(name)!r}, expected {want!r}"
            for name, want in expected.items()
            if not same_units(self.units.get(name), want)
        ]
        if wrong:
            raise AssertionError(f"{self.technique}: wrong units: {'; '.join(wrong)}")

    def assert_ok(self) -> None:
        """The task ended without an error."""
        if self.error:
            raise AssertionError(f"{self.technique}: task failed: {self.error}")

    def assert_increasing_time(self) -> None:
        """``uts`` is strictly increasing, as the results file requires."""
        uts = self.column("uts")
        bad = [i for i in range(1, len(uts)) if not uts[i] > uts[i - 1]]
        if bad:
            raise AssertionError(f"{self.technique}: uts not increasing at points {bad[:5]}")


class _At(TypedDict):
    """A component's keyword arguments to a ModelInterface verb."""

    address: str
    channel: str


class ComponentTester:
    """One registered component of a `DriverTester`, driven through the verbs."""

    def __init__(self, driver: ModelInterface, address: str, channel: str) -> None:
        self.driver = driver
        self.address = address
        self.channel = channel

    def _at(self) -> _At:
        return {"address": self.address, "channel": self.channel}

    def capabilities(self) -> list[str]:
        """The techniques the component reports."""
        return list(ok(self.driver.capabilities(**self._at()), "capabilities"))

    def attrs(self) -> dict[str, Attr]:
        """The component's attrs."""
        return dict(ok(self.driver.attrs(**self._at()), "attrs"))

    def get_attr(self, attr: str) -> Any:
        """An attr's value (a pint Quantity for attrs with units)."""
        return ok(self.driver.dev_get_attr(attr=attr, **self._at()), f"dev_get_attr {attr!r}")

    def set_attr(self, attr: str, value: Any) -> Any:
        """Set an attr as `sugo component set` would; returns the value set."""
        return ok(
            self.driver.dev_set_attr(attr=attr, val=value, **self._at()), f"dev_set_attr {attr!r}"
        )

    def status(self) -> dict[str, Any]:
        """The component's `dev_status` data."""
        return dict(ok(self.driver.dev_status(**self._at()), "dev_status"))

    def reset(self) -> None:
        """`dev_reset`: stop the task, restore attr defaults."""
        ok(self.driver.dev_reset(**self._at()), "dev_reset")

    def validate(self, technique: str, **task: Any) -> Reply:
        """`task_validate` of a task (the Reply, so refusals can be asserted)."""
        return self.driver.task_validate(task=_task(technique, task), **self._at())

    def run_task(self, technique: str, timeout: float | None = None, **task: Any) -> TaskResult:
        """Start a task, collect its data as the job runner does (polling
        `task_data`) until it ends, and return what it recorded.

        ``task`` holds the other Task fields (``max_duration``,
        ``sampling_interval``, ``task_params``...); durations default to 1 s
        and 0.1 s. Fails if the task has not ended ``timeout`` seconds
        (default: its duration + 10 s) after it started.
        """
        spec = _task(technique, task)
        deadline = time.monotonic() + (timeout or spec.max_duration + 10.0)
        result = TaskResult(technique)
        poll = min(0.05, spec.sampling_interval)
        started = time.monotonic()
        ok(self.driver.task_start(task=spec, **self._at()), f"task_start {technique!r}")
        while True:
            status = ok(self.driver.task_status(**self._at()), "task_status")
            self._collect(result)
            if not status["running"]:
                break
            if time.monotonic() > deadline:
                ok(self.driver.task_stop_columns(**self._at()), "task_stop")
                raise AssertionError(
                    f"task {technique!r} still running {time.monotonic() - started:.1f} s"
                    f" after it started (max_duration {spec.max_duration:g} s)"
                )
            time.sleep(poll)  # a poll interval, as the job runner's; not a wait for a state
        self._collect(result)
        result.seconds = time.monotonic() - started
        result.error = status.get("error")
        return result

    def _collect(self, result: TaskResult) -> None:
        data = ok(self.driver.task_data_columns(**self._at()), "task_data")
        columns: Mapping[str, list[Any]] = data["columns"]
        if not columns:
            return
        n_before = result.points
        for name, values in columns.items():
            col = result.columns.get(name)
            if col is None:
                col = result.columns[name] = [math.nan] * n_before
            col.extend(values)
        n_after = result.points
        for col in result.columns.values():
            col.extend([math.nan] * (n_after - len(col)))  # a variable this chunk lacks
        result.units.update(data["units"])


def _task(technique: str, fields: dict[str, Any]) -> Task:
    values = {
        "component_role": "test",
        "technique_name": technique,
        "max_duration": 1.0,
        "sampling_interval": 0.1,
        **fields,
    }
    return Task.model_validate(values)


class DriverTester:
    """A driver instance for a test (a context manager that tears every
    registered component down at exit).

    ``driver``: the driver's ModelInterface subclass, or its installed name
    (found through the ``sugo.drivers`` entry points, as the daemon finds it).
    ``settings``: what ``[drivers.<name>]`` of settings.toml would hold;
    checked against the driver's ``settings_spec`` as the driver host does.
    """

    def __init__(
        self, driver: type[ModelInterface] | str, settings: dict[str, Any] | None = None
    ) -> None:
        if isinstance(driver, str):
            name, cls = driver, load_driver(driver)
        else:
            name = getattr(driver, "__name__", str(driver))
            check_driver(name, driver)
            cls = driver
        # As the driver host does: declared settings are checked, defaults filled in.
        checked = check_settings(name, cls.settings_spec, dict(settings or {}))
        self.interface: ModelInterface = cls(checked)
        self._components: list[ComponentTester] = []

    def register(self, address: str = "sim", channel: str = "1", **kwargs: Any) -> ComponentTester:
        """`dev_register` a component and return its tester."""
        ok(self.interface.dev_register(address=address, channel=channel, **kwargs), "dev_register")
        comp = ComponentTester(self.interface, address, channel)
        self._components.append(comp)
        return comp

    def close(self) -> None:
        """Tear every registered component down (reset, stop its worker)."""
        problems = []
        for comp in self._components:
            reply = self.interface.dev_teardown(address=comp.address, channel=comp.channel)
            if not reply.success and "unknown component" not in reply.msg:
                problems.append(reply.msg)
        self._components.clear()
        if problems:
            raise DriverCallFailed("dev_teardown failed: " + "; ".join(problems))

    def __enter__(self) -> DriverTester:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_contract(
    driver: type[ModelInterface] | str,
    address: str = "sim",
    channel: str = "1",
    settings: dict[str, Any] | None = None,
) -> list[str]:
    """Check what the daemon relies on, for one component of ``driver``:
    registering twice is harmless; capabilities are a non-empty set of names;
    every attr can be read; every writable attr with a default accepts it;
    a reset restores the defaults; teardown ends the worker.

    Returns the techniques; raises AssertionError naming the first problem.
    """
    with DriverTester(driver, settings) as tester:
        comp = tester.register(address, channel)
        again = tester.interface.dev_register(address=address, channel=channel)
        if not again.success:
            raise AssertionError(f"registering the same component twice failed: {again.msg}")
        techniques = comp.capabilities()
        if not techniques or not all(isinstance(t, str) and t for t in techniques):
            raise AssertionError(f"capabilities must be non-empty names, got {techniques!r}")
        attrs = comp.attrs()
        for name, spec in attrs.items():
            if not isinstance(spec, Attr):
                raise AssertionError(f"attr {name!r} is described by {spec!r}, not an Attr")
            comp.get_attr(name)
        defaults = {n: s.default for n, s in attrs.items() if s.rw and s.default is not None}
        for name, value in defaults.items():
            comp.set_attr(name, value)
        comp.reset()
        for name, value in defaults.items():
            got = comp.get_attr(name)
            want = attrs[name].coerce(value, name)
            if is_quantity(want) and not is_quantity(got):
                want = want.magnitude  # a driver may hand out plain numbers in the attr's units
            if got != want:
                raise AssertionError(
                    f"after a reset attr {name!r} is {got!r}, not its default {want!r}"
                )
        comp.status()
    return techniques
