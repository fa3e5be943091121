"""The counter: a simulated instrument for demos and tests.

Techniques:
- ``count``: `value` is the whole seconds since the task started (units s).
- ``random``: `value` is uniform between attrs `min` and `max`.

Every point records `uts`, `value` and the current value of every attr
(numbers as plain floats in the attr's units).

Driver settings (optional): ``reset_delay`` (seconds) makes every reset that
slow, to simulate a slow instrument in scale tests.

``example_counter`` is the fallback for tomato's `tomato-example-counter`
package when that is not installed (when it is, the package itself runs):
the same techniques, attrs, defaults, variable names and units as the
package's output (`val` without units, `param` in seconds).
"""

import math
import random
import time
from typing import Any, ClassVar

from sugo.driverinterface import Attr, DeviceManager, ModelInterface, StoredAttrsManager, Task
from sugo.driverinterface.settings import Setting

ATTRS = {
    "max": Attr(type=float, rw=True, default=1.0),
    "min": Attr(type=float, rw=True, default=0.0),
    "param": Attr(type=float, rw=True, units="s", minimum="0.1 s", default=1.0),
    "choice": Attr(type=str, rw=True, options=("red", "green", "blue"), default="red"),
}


class CounterManager(StoredAttrsManager):
    """One simulated counter channel. `self.plain` (the attrs as plain
    numbers) is what each point records, kept ready so do_task stays cheap."""

    def capabilities(self, **kwargs: Any) -> set[str]:
        return {"count", "random"}

    def attrs(self, **kwargs: Any) -> dict[str, Attr]:
        return ATTRS

    def do_task(
        self, task: Task, t_start: float, t_now: float, **kwargs: Any
    ) -> dict[str, Any] | None:
        if task.technique_name == "count":
            value = float(math.floor(t_now - t_start))
        else:
            value = random.uniform(self.plain["min"], self.plain["max"])
        return {"value": value, **self.plain}

    def variable_units(self) -> dict[str, str]:
        units = super().variable_units()
        if self.technique == "count":
            units["value"] = "s"
        return units

    def reset(self, **kwargs: Any) -> None:
        delay = float(self.driver.settings.get("reset_delay", 0.0))
        super().reset()
        if delay > 0:
            time.sleep(delay)  # a slow instrument, on purpose


EXAMPLE_ATTRS = {
    "max": Attr(type=float, rw=True, default=10.0),
    "min": Attr(type=float, rw=True, default=0.0),
    "param": Attr(type=float, rw=True, units="second", minimum="0.1 s", default=1.0),
    "choice": Attr(type=str, rw=True, options=("red", "green", "blue"), default="green"),
}


class ExampleCounterManager(CounterManager):
    """The counter as tomato's example_counter records it."""

    def attrs(self, **kwargs: Any) -> dict[str, Attr]:
        return EXAMPLE_ATTRS

    def do_task(
        self, task: Task, t_start: float, t_now: float, **kwargs: Any
    ) -> dict[str, Any] | None:
        if task.technique_name == "count":
            value = float(math.floor(t_now - t_start))
        else:
            value = random.uniform(self.plain["min"], self.plain["max"])
        return {"val": value, **self.plain}

    def variable_units(self) -> dict[str, str]:
        return DeviceManager.variable_units(self)


class DriverInterface(ModelInterface):
    """The counter driver."""

    DeviceManager = CounterManager
    settings_spec: ClassVar[dict[str, Setting]] = {
        "reset_delay": Setting(float, 0.0, description="seconds every reset takes"),
    }


class ExampleCounterInterface(DriverInterface):
    """`example_counter`: the fallback for tomato's example counter package."""

    DeviceManager = ExampleCounterManager
