"""Unit handling with pint, loaded lazily (pint costs ~0.2 s to import)."""

from functools import cache
from typing import Any


@cache
def registry() -> Any:
    import pint

    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


def to_seconds(text: str) -> float:
    """Parse "90", "1.5 s", "2 min" into seconds; raise ValueError with the reason."""
    try:
        return float(text)
    except ValueError:
        pass
    ureg = registry()
    try:
        q = ureg.Quantity(text)
    except Exception as e:
        raise ValueError(f"cannot parse duration {text!r}: {e}") from None
    if q.dimensionless:
        return float(q.magnitude)
    if not q.check("[time]"):
        raise ValueError(f"duration {text!r} is not a time (dimension {q.dimensionality})")
    return float(q.to("s").magnitude)

