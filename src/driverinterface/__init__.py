"""The driver contract: Attr, Task, Reply, ModelInterface and DeviceManager.

Drivers import only this package. Importing it stays light (no xarray, no
pint): units and datasets are loaded when first needed.
"""

from sugo.driverinterface.attr import Attr
from sugo.driverinterface.device import DeviceManager
from sugo.driverinterface.model import ModelInterface
from sugo.driverinterface.reply import Reply
from sugo.driverinterface.task import Task

__all__ = ["Attr", "DeviceManager", "ModelInterface", "Reply", "Task"]
