"""A counter written from the seed driver interface text alone
(shared/reference/driverinterface-1.0.md): a `DriverInterface` whose
`DeviceManager` subclasses `ModelInterface.DeviceManager`, implements the
abstract methods the text names (`do_task`, `set_attr`, `get_attr`, `attrs`,
`capabilities`), and caches its points in `self.data` (a `dict[str, list]`)
under `self.datalock`, as the text says `do_task` should.
"""

import math
import random
import time
from typing import Any

from sugo.driverinterface import Attr, ModelInterface, Task


class DriverInterface(ModelInterface):
    """The seed counter."""

    class DeviceManager(ModelInterface.DeviceManager):
        """One counter channel."""

        def __init__(self, driver: ModelInterface, key: tuple, **kwargs: Any) -> None:
            super().__init__(driver, key, **kwargs)
            self.values: dict[str, Any] = {"max": 10.0, "min": 0.0, "val": 0.0}

        def attrs(self, **kwargs: Any) -> dict[str, Attr]:
            return {
                "max": Attr(type=float, rw=True),
                "min": Attr(type=float, rw=True),
                "val": Attr(type=float, status=True),
            }

        def capabilities(self, **kwargs: Any) -> set:
            return {"count", "random"}

        def set_attr(self, attr: str, val: Any, **kwargs: Any) -> None:
            if attr not in ("max", "min"):
                raise ValueError(f"attr {attr!r} cannot be set")
            self.values[attr] = float(val)

        def get_attr(self, attr: str, **kwargs: Any) -> Any:
            if attr not in self.values:
                raise ValueError(f"unknown attr {attr!r}")
            return self.values[attr]

        def do_task(self, task: Task, **kwargs: Any) -> None:
            # Update the attrs and the cached data together (the text: "It should
            # also update the values of all Attrs, so that the component status
            # is consistent with the cached data").
            now = time.time()
            if task.technique_name == "count":
                started = kwargs.get("t_start", now)
                value = float(math.floor(now - started))
            else:
                value = random.uniform(self.values["min"], self.values["max"])
            with self.datalock:
                self.values["val"] = value
                for name, item in (("uts", now), ("val", value), ("max", self.values["max"])):
                    self.data.setdefault(name, []).append(item)
