"""Build an xarray Dataset from cached columns (the only module importing xarray)."""

from typing import Any


def to_dataset(columns: dict[str, list[Any]], units: dict[str, str]) -> Any:
    """A Dataset on coordinate `uts`, one variable per other column, with a
    CF `units` attr wherever `units` names one."""
    import numpy as np
    import xarray as xr

    if "uts" not in columns:
        raise ValueError("columns have no 'uts'")
    n = len(columns["uts"])
    data_vars = {}
    for name, values in columns.items():
        if name == "uts":
            continue
        if len(values) != n:
            raise ValueError(f"column {name!r} has {len(values)} values for {n} timestamps")
        attrs = {"units": units[name]} if units.get(name) else {}
        data_vars[name] = ("uts", np.asarray(values), attrs)
    uts_attrs = {"units": units["uts"]} if units.get("uts") else {}
    coords = {"uts": ("uts", np.asarray(columns["uts"], dtype=float), uts_attrs)}
    return xr.Dataset(data_vars=data_vars, coords=coords)
