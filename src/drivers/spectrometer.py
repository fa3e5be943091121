"""The spectrometer: a simulated instrument whose points are arrays, for
demos, tests and the array benchmark.

Techniques:
- ``spectrum``: `spectrum` is `length` float64 counts (units "count") along
  the declared dimension `wavelength`, whose coordinate runs from `start`
  in steps of `step` (units nm).
- ``trace``: `trace` is `length` float64 volts (units V) with no declared
  dimension (the results file names it `trace_dim_0`).

With attr `ragged`, each point's array has a random length between half of
`length` and `length` (the results file pads the shorter ones with NaN).
Every point also records `total`, the sum of its array (a scalar beside it).
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from sugo.driverinterface import Attr, ModelInterface, StoredAttrsManager, Task

ATTRS = {
    "length": Attr(type=int, rw=True, minimum=1, maximum=10_000_000, default=4096),
    "start": Attr(type=float, rw=True, units="nm", default=200.0),
    "step": Attr(type=float, rw=True, units="nm", minimum="0.001 nm", default=0.25),
    "ragged": Attr(type=bool, rw=True, default=False),
}


class SpectrometerManager(StoredAttrsManager):
    """One simulated spectrometer channel."""

    def __init__(self, driver: ModelInterface, key: tuple[str, str], **kwargs: Any) -> None:
        self.rng = np.random.default_rng()
        super().__init__(driver, key, **kwargs)

    def capabilities(self, **kwargs: Any) -> set[str]:
        return {"spectrum", "trace"}

    def attrs(self, **kwargs: Any) -> dict[str, Attr]:
        return ATTRS

    def do_task(
        self, task: Task, t_start: float, t_now: float, **kwargs: Any
    ) -> dict[str, Any] | None:
        n = int(self.plain["length"])
        if self.plain["ragged"]:
            n = int(self.rng.integers(max(1, n // 2), n + 1))
        data = self.rng.random(n)
        name = "spectrum" if task.technique_name == "spectrum" else "trace"
        return {name: data, "total": float(data.sum())}

    def variable_units(self) -> dict[str, str]:
        if self.technique == "trace":
            return {"trace": "V", "total": "V"}
        return {"spectrum": "count", "total": "count", "wavelength": "nm"}

    def variable_dims(self) -> dict[str, Sequence[str]]:
        return {"spectrum": ("wavelength",)}

    def variable_coords(self) -> dict[str, Any]:
        if self.technique != "spectrum":
            return {}
        start, step, n = self.plain["start"], self.plain["step"], int(self.plain["length"])
        return {"wavelength": start + step * np.arange(n)}


class DriverInterface(ModelInterface):
    """The spectrometer driver."""

    DeviceManager = SpectrometerManager
