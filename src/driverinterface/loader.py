"""Find drivers through the entry-point group `sugo.drivers` and check them."""

import difflib
import inspect
from importlib.metadata import entry_points

from sugo.driverinterface.device import DeviceManager
from sugo.driverinterface.model import ModelInterface
from sugo.errors import DriverError

GROUP = "sugo.drivers"


def available_drivers() -> list[str]:
    """Names of every installed driver, sorted."""
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def load_driver(name: str) -> type[ModelInterface]:
    """The ModelInterface class of driver `name`, checked to be complete.

    Raises DriverError when the driver is unknown, fails to import, or its
    DeviceManager leaves abstract methods unimplemented.
    """
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not matches:
        installed = available_drivers()
        near = difflib.get_close_matches(name, installed, n=1)
        guess = f"; did you mean {near[0]!r}?" if near else ""
        raise DriverError(
            f"unknown driver {name!r} (available: {', '.join(installed) or 'none'}{guess})"
        )
    try:
        cls = matches[0].load()
    except Exception as e:
        raise DriverError(f"driver {name!r} failed to load: {type(e).__name__}: {e}") from e
    check_driver(name, cls)
    return cls


def check_driver(name: str, cls: object) -> None:
    """Raise DriverError unless `cls` is a usable ModelInterface subclass."""
    if not (inspect.isclass(cls) and issubclass(cls, ModelInterface)):
        raise DriverError(f"driver {name!r}: {cls!r} is not a ModelInterface subclass")
    dm = getattr(cls, "DeviceManager", None)
    if not (inspect.isclass(dm) and issubclass(dm, DeviceManager)):
        raise DriverError(f"driver {name!r}: DeviceManager {dm!r} is not a DeviceManager subclass")
    missing = sorted(getattr(dm, "__abstractmethods__", ()))
    if missing:
        raise DriverError(
            f"driver {name!r}: DeviceManager {dm.__name__} does not implement {', '.join(missing)}"
        )
