"""Turn whatever a driver returns into JSON-ready builtins for the wire."""

import dataclasses
import enum
import math
from typing import Any


def jsonable(value: Any) -> Any:
    """Convert driver data (Attr, sets, pint quantities, numpy scalars...) to builtins."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, type):
        return value.__name__
    if hasattr(value, "magnitude") and hasattr(value, "units"):  # a pint Quantity
        return {"value": jsonable(value.magnitude), "units": f"{value.units:~}"}
    if hasattr(value, "model_dump"):  # a pydantic model
        return jsonable(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if hasattr(value, "item"):  # a numpy scalar
        return jsonable(value.item())
    if hasattr(value, "tolist"):  # a numpy array
        return jsonable(value.tolist())
    return str(value)
