"""Build an xarray Dataset from cached columns, and back (the only module importing xarray)."""

from collections.abc import Mapping, Sequence
from typing import Any


def to_dataset(
    columns: dict[str, list[Any]],
    units: dict[str, str],
    dims: Mapping[str, Sequence[str]] | None = None,
    coords: Mapping[str, Any] | None = None,
) -> Any:
    """A Dataset on coordinate `uts`, one variable per other column, with a
    CF `units` attr wherever `units` names one. Array variables get one more
    dimension per axis, named as in ``dims`` (else ``<name>_dim_0``...), and
    ``coords`` become coordinates of those dimensions, as in the results file;
    arrays of varying length are padded with NaN."""
    import numpy as np
    import xarray as xr

    from sugo.protocol.arrays import to_array

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
        arr = to_array(values, name)
        names = list((dims or {}).get(name) or [])
        if len(names) != arr.ndim - 1:
            names = [f"{name}_dim_{i}" for i in range(arr.ndim - 1)]
        data_vars[name] = (("uts", *names), arr, attrs)
    uts_attrs = {"units": units["uts"]} if units.get("uts") else {}
    coord_vars: dict[str, Any] = {
        "uts": ("uts", np.asarray(columns["uts"], dtype=float), uts_attrs)
    }
    used = {
        d: arr.shape[i + 1]
        for arr_dims, arr, _ in data_vars.values()
        for i, d in enumerate(arr_dims[1:])
    }
    for dim, given in (coords or {}).items():
        coord = np.asarray(given)
        if dim in used and coord.ndim == 1 and len(coord) == used[dim]:
            coord_vars[dim] = (dim, coord, {"units": units[dim]} if units.get(dim) else {})
    return xr.Dataset(data_vars=data_vars, coords=coord_vars)


def to_columns(ds: Any) -> dict[str, Any]:
    """An xarray Dataset on `uts` → `{"columns": {name: list}, "units": {name: str}}`,
    as the column verbs return them (variables and units as recorded)."""
    from sugo.driverinterface.columns import UTS_UNITS

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
