"""The psutil driver: memory and CPU figures of the machine sugo runs on.

Techniques (each point records the technique's quantities, plain numbers in
the units of the attrs of the same name):
- ``mem_info``: `mem_total`, `mem_avail` (MiB), `mem_usage` (percent).
- ``cpu_info``: `cpu_count`, `cpu_freq` (MHz), `cpu_usage` (percent).
- ``all_info``: both.

All attrs are read-only; the usage attrs are status attrs. CPU usage is the
non-blocking `psutil.cpu_percent(interval=None)`: usage since the last call.
"""

import math
from typing import Any

import psutil

from sugo.driverinterface import Attr, DeviceManager, ModelInterface, Task
from sugo.driverinterface.units import registry

MIB = 1024 * 1024

MEM = ("mem_total", "mem_avail", "mem_usage")
CPU = ("cpu_count", "cpu_freq", "cpu_usage")
TECHNIQUES = {"mem_info": MEM, "cpu_info": CPU, "all_info": MEM + CPU}

ATTRS = {
    "mem_total": Attr(type=float, units="MiB"),
    "mem_avail": Attr(type=float, units="MiB"),
    "mem_usage": Attr(type=float, units="percent", status=True),
    "cpu_count": Attr(type=int, units="1"),
    "cpu_freq": Attr(type=float, units="MHz"),
    "cpu_usage": Attr(type=float, units="percent", status=True),
}


def _memory() -> dict[str, float]:
    vm = psutil.virtual_memory()
    return {
        "mem_total": vm.total / MIB,
        "mem_avail": vm.available / MIB,
        "mem_usage": float(vm.percent),
    }


def _cpu(count: int) -> dict[str, float]:
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError):  # absent on some VMs and containers
        freq = None
    return {
        "cpu_count": count,
        "cpu_freq": float(freq.current) if freq is not None else math.nan,
        "cpu_usage": float(psutil.cpu_percent(interval=None)),
    }


class PsutilManager(DeviceManager):
    """The host machine as a component."""

    def __init__(self, driver: ModelInterface, key: tuple[str, str], **kwargs: Any) -> None:
        super().__init__(driver, key, **kwargs)
        self.cpu_count = psutil.cpu_count() or 1
        psutil.cpu_percent(interval=None)  # primes the counter: the first call says 0.0

    def capabilities(self, **kwargs: Any) -> set[str]:
        return set(TECHNIQUES)

    def attrs(self, **kwargs: Any) -> dict[str, Attr]:
        return ATTRS

    def set_attr(self, attr: str, val: Any, **kwargs: Any) -> None:
        self.check_attr(attr, val)  # raises: unknown or read-only
        raise ValueError(f"attr {attr!r} of component {self.name} is read-only")

    def get_attr(self, attr: str, **kwargs: Any) -> Any:
        if attr not in ATTRS:
            raise ValueError(f"unknown attr {attr!r} for component {self.name}")
        values = self._read(MEM if attr in MEM else CPU)
        return registry().Quantity(values[attr], ATTRS[attr].units)

    def _read(self, names: tuple[str, ...]) -> dict[str, float]:
        values: dict[str, float] = {}
        if any(n in MEM for n in names):
            values.update(_memory())
        if any(n in CPU for n in names):
            values.update(_cpu(self.cpu_count))
        return values

    def do_task(
        self, task: Task, t_start: float, t_now: float, **kwargs: Any
    ) -> dict[str, Any] | None:
        return self._read(TECHNIQUES[task.technique_name])


class DriverInterface(ModelInterface):
    """The psutil driver."""

    DeviceManager = PsutilManager
