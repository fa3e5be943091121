"""The driver contract: Attr, Task, Reply, ModelInterface and DeviceManager
(and StoredAttrsManager, a DeviceManager that keeps its attrs' values).

Drivers import only this package. Importing it stays light (no xarray, no
pint), and its names are loaded on first use: the daemon imports
`sugo.driverinterface.units` and `.health` without the pydantic Task model.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sugo.driverinterface.attr import Attr
    from sugo.driverinterface.device import DeviceManager
    from sugo.driverinterface.model import ModelInterface
    from sugo.driverinterface.reply import Reply
    from sugo.driverinterface.stored_attrs import StoredAttrsManager
    from sugo.driverinterface.task import Task

__all__ = ["Attr", "DeviceManager", "ModelInterface", "Reply", "StoredAttrsManager", "Task"]

_MODULES = {
    "Attr": "attr",
    "DeviceManager": "device",
    "ModelInterface": "model",
    "Reply": "reply",
    "StoredAttrsManager": "stored_attrs",
    "Task": "task",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
