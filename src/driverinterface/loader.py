"""Find drivers and check them: sugo's entry points and tomato's driver packages.

A driver name from the devices file is looked up, in this order:

1. a `sugo.drivers` entry point of an installed package other than sugo
   itself (a sugo driver someone installed);
2. a tomato driver package: the module `tomato_<name>` with a class
   `DriverInterface` (tomato's own convention: `pip install tomato-jumo`
   gives `tomato_jumo`), run through `sugo.driverinterface.tomato_adapter`;
3. sugo's built-in driver of that name (`counter`, `example_counter`,
   `psutil`...), the fallback when no package provides the name.

So a tomato package the user installed wins over the built-in of the same
name; `SUGO_BUILTIN_DRIVERS` (names, comma-separated, in the daemon's
environment) keeps sugo's built-in for those names all the same. `find_driver`
answers without importing the driver (or tomato): only the driver host, which
runs the driver, imports it.
"""

import difflib
import importlib
import importlib.util
import inspect
import os
import pkgutil
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from sugo.driverinterface.device import DeviceManager
from sugo.driverinterface.model import ModelInterface
from sugo.errors import DriverError

GROUP = "sugo.drivers"
TOMATO_PREFIX = "tomato_"
BUILTIN_ENV = "SUGO_BUILTIN_DRIVERS"
#: The seed driver interface (sugo's) is 1.x. Drivers scaffolded before the
#: version was checked declare their package version there ("0.1.0"): 0.x is
#: accepted too. 2.x and later are other interfaces (tomato's 2.x runs only as
#: a tomato package, through the adapter).
SERVED_MAJORS = ("0", "1")


@dataclass(frozen=True)
class DriverSource:
    """Where driver `name` comes from, found without importing it."""

    name: str
    kind: str  # "sugo" (an installed sugo driver), "tomato" (a tomato package), "builtin"
    target: str  # entry point value, or the tomato module name
    package: str | None = None  # the distribution that provides it
    version: str | None = None

    def describe(self) -> str:
        """One line for `sugo status`: what runs under this name."""
        dist = f"{self.package} {self.version}" if self.package else self.target
        if self.kind == "tomato":
            return f"tomato package {dist} ({self.target})"
        if self.kind == "builtin":
            return f"sugo built-in ({self.target})"
        return f"sugo driver {dist} ({self.target})"


def _entry_points(name: str | None = None) -> list[EntryPoint]:
    eps = entry_points(group=GROUP)
    return [ep for ep in eps if name is None or ep.name == name]


def _is_builtin(ep: EntryPoint) -> bool:
    dist = getattr(ep, "dist", None)
    return (dist is not None and dist.name == "sugo") or ep.value.startswith("sugo.")


def _tomato_module(name: str) -> str | None:
    module = f"{TOMATO_PREFIX}{name}"
    if not module.isidentifier():
        return None
    try:
        return module if importlib.util.find_spec(module) is not None else None
    except (ImportError, ValueError):
        return None


def _tomato_dist(module: str) -> tuple[str | None, str | None]:
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    guess = module.replace("_", "-")  # tomato's packages are named after their module
    try:
        return guess, version(guess)
    except PackageNotFoundError:
        pass
    dists = packages_distributions().get(module) or []  # slow: reads every installed package
    if not dists:
        return None, None
    try:
        return dists[0], version(dists[0])
    except Exception:
        return dists[0], None


def find_driver(name: str) -> DriverSource | None:
    """Which driver runs under `name` (see the module doc); None if none does."""
    eps = _entry_points(name)
    third_party = [ep for ep in eps if not _is_builtin(ep)]
    if third_party:
        ep = third_party[0]
        dist = getattr(ep, "dist", None)
        return DriverSource(
            name, "sugo", ep.value, dist.name if dist else None, dist.version if dist else None
        )
    keep_builtin = name in {n.strip() for n in os.environ.get(BUILTIN_ENV, "").split(",")}
    module = None if keep_builtin and eps else _tomato_module(name)
    if module is not None:
        package, version = _tomato_dist(module)
        return DriverSource(name, "tomato", module, package, version)
    if eps:
        return DriverSource(name, "builtin", eps[0].value)
    return None


def available_drivers() -> list[str]:
    """Names of every installed driver (sugo entry points and tomato packages), sorted."""
    names = {ep.name for ep in _entry_points()}
    for mod in pkgutil.iter_modules():
        if mod.name.startswith(TOMATO_PREFIX) and len(mod.name) > len(TOMATO_PREFIX):
            names.add(mod.name[len(TOMATO_PREFIX) :])
    return sorted(names)


def load_driver(name: str) -> type[ModelInterface]:
    """The class the driver host serves for driver `name`, checked to be complete.

    Raises DriverError when the driver is unknown, fails to import, declares
    an interface version sugo does not serve, or leaves abstract methods
    unimplemented.
    """
    source = find_driver(name)
    if source is None:
        installed = available_drivers()
        near = difflib.get_close_matches(name, installed, n=1)
        guess = f"; did you mean {near[0]!r}?" if near else ""
        raise DriverError(
            f"unknown driver {name!r} (available: {', '.join(installed) or 'none'}{guess})"
        )
    if source.kind == "tomato":
        return _load_tomato(name, source.target)
    ep = next(ep for ep in _entry_points(name) if ep.value == source.target)
    try:
        cls = ep.load()
    except Exception as e:
        raise DriverError(f"driver {name!r} failed to load: {type(e).__name__}: {e}") from e
    check_driver(name, cls)
    return cls


def _load_tomato(name: str, module_name: str) -> type[ModelInterface]:
    try:
        module = importlib.import_module(module_name)
        cls: Any = module.DriverInterface
    except Exception as e:
        raise DriverError(
            f"driver {name!r}: tomato package {module_name} failed to load: {type(e).__name__}: {e}"
        ) from e
    from sugo.driverinterface.tomato_adapter import TOMATO_VERSIONS, adapt

    version = str(getattr(cls, "version", ""))
    if not inspect.isclass(cls) or not hasattr(cls, "DeviceFactory"):
        raise DriverError(
            f"driver {name!r}: {module_name}.DriverInterface is not a tomato ModelInterface"
        )
    if version not in TOMATO_VERSIONS:
        raise DriverError(
            f"driver {name!r}: {module_name} uses tomato driver interface {version!r};"
            f" sugo runs {', '.join(TOMATO_VERSIONS)}"
        )
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise DriverError(f"driver {name!r}: {module_name} does not implement {', '.join(missing)}")
    return adapt(name, cls)


def check_driver(name: str, cls: object) -> None:
    """Raise DriverError unless `cls` is a usable ModelInterface subclass."""
    if not (inspect.isclass(cls) and issubclass(cls, ModelInterface)):
        raise DriverError(f"driver {name!r}: {cls!r} is not a ModelInterface subclass")
    version = str(getattr(cls, "version", ""))
    if version.split(".", maxsplit=1)[0] not in SERVED_MAJORS:
        hint = (
            " (a tomato driver runs as its package, tomato_<name>)" if version[:2] == "2." else ""
        )
        raise DriverError(
            f"driver {name!r}: driver interface version {version!r} is not served:"
            f" sugo drivers are written to 1.x{hint}"
        )
    if getattr(cls, "tomato_class", None) is not None:
        return  # an adapted tomato driver: tomato's ModelDevice is checked at load
    dm = getattr(cls, "DeviceManager", None)
    if dm is DeviceManager:
        raise DriverError(
            f"driver {name!r}: no DeviceManager of its own (set DeviceManager to a subclass)"
        )
    if not (inspect.isclass(dm) and issubclass(dm, DeviceManager)):
        raise DriverError(f"driver {name!r}: DeviceManager {dm!r} is not a DeviceManager subclass")
    missing = sorted(getattr(dm, "__abstractmethods__", ()))
    if missing:
        raise DriverError(
            f"driver {name!r}: DeviceManager {dm.__name__} does not implement {', '.join(missing)}"
        )
