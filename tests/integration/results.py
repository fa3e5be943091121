"""Reading results files in tests."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr


def open_results(path: Path | str) -> xr.DataTree:
    return xr.open_datatree(path, engine="h5netcdf", decode_times=False)


def points(path: Path | str) -> dict[str, int]:
    """Points per role of a results file, checking its layout on the way."""
    tree = open_results(path)
    try:
        out = {}
        for name, group in tree.children.items():
            ds = group.to_dataset()
            uts = ds["uts"].values
            assert np.all(np.diff(uts) > 0), f"{name}: uts not strictly increasing"
            assert "task" in ds, f"{name}: no task variable"
            out[str(group.attrs.get("role", name))] = int(uts.size)
        return out
    finally:
        tree.close()


def job_record(path: Path | str) -> dict[str, Any]:
    tree = open_results(path)
    try:
        return dict(json.loads(tree.attrs["sugo_job"]))
    finally:
        tree.close()
