"""Build an xarray Dataset from cached columns, and back (the only module importing xarray)."""

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


def to_columns(ds: Any) -> dict[str, Any]:
    """An xarray Dataset on `uts` → `{"columns": {name: list}, "units": {name: str}}`,
    as the column verbs return them (variables and units as recorded)."""
    from sugo.driverinterface.model import UTS_UNITS

    if "uts" not in ds.variables:
        raise ValueError("the dataset has no 'uts' coordinate")
    columns: dict[str, list[Any]] = {"uts": [float(t) for t in ds["uts"].values.tolist()]}
    units: dict[str, str] = {"uts": UTS_UNITS}
    for name, var in ds.data_vars.items():
        columns[str(name)] = var.values.tolist()
        unit = var.attrs.get("units")
        if unit:
            units[str(name)] = str(unit)
    return {"columns": columns, "units": units}
