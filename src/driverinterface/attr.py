"""Attr: the description of one device attribute, and the validation of new values.

pint is only imported when a value has to be converted to units, so that
describing attributes stays cheap.
"""

import math
from dataclasses import dataclass
from typing import Any

from sugo.driverinterface.units import quantity, registry

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def is_quantity(value: Any) -> bool:
    """True for a pint Quantity (duck-typed, so pint need not be imported)."""
    return hasattr(value, "magnitude") and hasattr(value, "units") and hasattr(value, "to")


@dataclass(frozen=True)
class Attr:
    """One attribute of a component.

    `type` is the Python type of the value (float, int, str, bool...); `rw`
    whether it may be set; `status` whether it belongs in status reports;
    `units` a pint unit string; `minimum`/`maximum` numbers (in `units`) or
    strings with units ("0.1 s"); `options` the allowed values; `default` the
    value a reset restores (None: the driver keeps whatever it has).
    """

    type: type
    rw: bool = False
    status: bool = False
    units: str | None = None
    minimum: float | str | None = None
    maximum: float | str | None = None
    options: tuple[Any, ...] | list[Any] | set[Any] | None = None
    default: Any = None

    def coerce(self, value: Any, name: str) -> Any:
        """Validate `value` for attr `name` and convert it: to `type`, or to a
        pint Quantity in `units` when the attr has units.

        Raises ValueError with a one-line message naming the attr and the reason.
        """
        if value is None:
            raise ValueError(f"attr {name!r}: value None is not allowed")
        if self.units is not None:
            out = self._to_quantity(value, name, self.units)
        else:
            out = self._to_type(value, name)
        magnitude = getattr(out, "magnitude", out)
        if isinstance(magnitude, float) and not math.isfinite(magnitude):
            # JSON has no inf or nan: the value would read back as null.
            raise ValueError(f"attr {name!r} value {value!r} is not a finite number")
        self._check_range(out, value, name)
        if self.options is not None and out not in self.options:
            allowed = ", ".join(repr(o) for o in self.options)
            raise ValueError(f"attr {name!r} value {value!r} is not one of {allowed}")
        return out

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly description (type by name, options as a list)."""
        return {
            "type": self.type.__name__,
            "rw": self.rw,
            "status": self.status,
            "units": self.units,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "options": None if self.options is None else list(self.options),
            "default": self.default,
        }

    def _to_type(self, value: Any, name: str) -> Any:
        kind = self.type
        wrong = ValueError(
            f"attr {name!r} value {value!r} has the wrong type (expected {kind.__name__})"
        )
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise wrong
        if isinstance(value, bool):
            # bool is an int subclass; True is never meant as a number here.
            raise wrong
        if kind is float:
            if isinstance(value, int | float) or hasattr(value, "__float__"):
                try:
                    return float(value)
                except (TypeError, ValueError):
                    raise wrong from None
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    raise wrong from None
            raise wrong
        if kind is int:
            return _to_int(value, wrong)
        if isinstance(value, kind):
            return value
        raise wrong

    def _to_quantity(self, value: Any, name: str, units: str) -> Any:
        ureg = registry()
        if isinstance(value, bool):
            raise ValueError(
                f"attr {name!r} value {value!r} has the wrong type (expected a number)"
            )
        if isinstance(value, int | float):
            q = ureg.Quantity(value, units)
        elif is_quantity(value):
            q = ureg.Quantity(value.magnitude, str(value.units))
        elif isinstance(value, str):
            q = _parse_quantity(value, units, name)
        else:
            raise ValueError(
                f"attr {name!r} value {value!r} has the wrong type (expected a quantity in {units})"
            )
        target = ureg.Unit(units)
        if q.dimensionality != target.dimensionality:
            raise ValueError(
                f"attr {name!r} value {value!r} has the wrong dimension "
                f"({q.dimensionality}, expected {units})"
            )
        q = q.to(target)
        if self.type is int:
            wrong = ValueError(f"attr {name!r} value {value!r} is not a whole number of {units}")
            return ureg.Quantity(_to_int(q.magnitude, wrong), target)
        if self.type is float:
            return ureg.Quantity(float(q.magnitude), target)
        return q

    def _check_range(self, out: Any, value: Any, name: str) -> None:
        if self.minimum is not None and out < self._bound(self.minimum):
            raise ValueError(f"attr {name!r} value {value!r} is below minimum {self.minimum}")
        if self.maximum is not None and out > self._bound(self.maximum):
            raise ValueError(f"attr {name!r} value {value!r} is above maximum {self.maximum}")

    def _bound(self, bound: float | str) -> Any:
        if self.units is None:
            return bound
        ureg = registry()
        if isinstance(bound, str):
            return quantity(bound).to(self.units)
        return ureg.Quantity(bound, self.units)


def _parse_quantity(text: str, units: str, name: str) -> Any:
    """Parse "1.5", "2 min"; a bare number is taken in the attr's units."""
    ureg = registry()
    try:
        return ureg.Quantity(float(text), units)
    except ValueError:
        pass
    try:
        q = quantity(text)
    except ValueError:
        raise ValueError(
            f"attr {name!r} value {text!r} has the wrong type (expected a quantity in {units})"
        ) from None
    if not is_quantity(q):
        raise ValueError(
            f"attr {name!r} value {text!r} has the wrong type (expected a quantity in {units})"
        )
    return q


def _to_int(value: Any, wrong: ValueError) -> int:
    if isinstance(value, bool):
        raise wrong
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            value = float(value)
        except ValueError:
            raise wrong from None
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise wrong from None
    if not as_float.is_integer():
        raise wrong
    return int(as_float)
