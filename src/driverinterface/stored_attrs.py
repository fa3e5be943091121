"""StoredAttrsManager: a DeviceManager that keeps the values of its attrs.

Most drivers keep what was set: a simulated instrument has nowhere else to
keep it, and a real one often cannot read a setting back. This is the
`set_attr` / `get_attr` pair they would otherwise each write.
"""

from typing import TYPE_CHECKING, Any

from sugo.driverinterface.attr import is_quantity
from sugo.driverinterface.device import DeviceManager

if TYPE_CHECKING:
    from sugo.driverinterface.model import ModelInterface


class StoredAttrsManager(DeviceManager):
    """A DeviceManager whose attrs are values it keeps.

    `set_attr` validates a value (`check_attr`) and stores it; `get_attr`
    returns it. ``self.values[name]`` is the value as set (a pint Quantity for
    attrs with units), ``self.plain[name]`` a plain number in the attr's units,
    ready to record in a point. Every writable attr with a default starts at
    it (`reset_attrs` at the end of `__init__`): a driver that must open its
    instrument first does so before calling ``super().__init__``.

    A real instrument overrides `set_attr` to send the value, then calls
    ``super().set_attr(attr, value)``; and `get_attr` for the attrs it reads
    back (a status attr), calling ``super().get_attr(attr)`` for the others.
    Drivers still implement `attrs`, `capabilities` and `do_task`.
    """

    def __init__(self, driver: "ModelInterface", key: tuple[str, str], **kwargs: Any) -> None:
        self.values: dict[str, Any] = {}
        self.plain: dict[str, Any] = {}
        super().__init__(driver, key, **kwargs)
        self.reset_attrs()

    def set_attr(self, attr: str, val: Any, **kwargs: Any) -> None:
        value = self.check_attr(attr, val)
        self.values[attr] = value
        self.plain[attr] = float(value.magnitude) if is_quantity(value) else value

    def get_attr(self, attr: str, **kwargs: Any) -> Any:
        if attr not in self.attrs():
            raise ValueError(f"unknown attr {attr!r} for component {self.name}")
        if attr not in self.values:
            raise ValueError(
                f"attr {attr!r} of component {self.name} has no value: it has no default"
                " and was never set (a driver reads such an attr in its own get_attr)"
            )
        return self.values[attr]
