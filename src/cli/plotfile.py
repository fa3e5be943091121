"""`sugo job plot` without a daemon: a results file given by path (sugo's or
tomato's layout), or a job id looked up in the app folder's job folders.

Both layouts are a NetCDF4 file with one group per role along ``uts`` (unix
seconds); sugo writes the job as JSON in the root attribute ``sugo_job`` and
each component in ``sugo_component``, tomato in ``tomato_Job`` and
``tomato_Component``. A flat file (variables along ``uts`` in the root group)
is read as one role named after the file.
"""

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sugo.cli.output import CliError
from sugo.jobs.folder import FINAL_FILE

if TYPE_CHECKING:
    import h5netcdf

    from sugo.cli.context import Context
    from sugo.cli.plot import RoleSeries

#: Root attributes that hold the job as JSON, and group attributes that hold
#: the component, in sugo's and in tomato's files.
JOB_ATTRS = ("sugo_job", "tomato_Job")
COMPONENT_ATTRS = ("sugo_component", "tomato_Component")


def _json_attr(attrs: Any, names: tuple[str, ...]) -> dict[str, Any]:
    for name in names:
        with contextlib.suppress(TypeError, ValueError):
            value = json.loads(attrs[name]) if name in attrs else None
            if isinstance(value, dict):
                return value
    return {}


def _role(name: str, g: "h5netcdf.Group") -> "RoleSeries":
    from sugo.cli.plot import RoleSeries, plottable

    component = _json_attr(g.attrs, COMPONENT_ATTRS)
    uts = np.asarray(g.variables["uts"][:], dtype=float)
    task = np.asarray(g.variables["task"][:]) if "task" in g.variables else np.zeros(len(uts), int)
    s = RoleSeries(str(g.attrs.get("role", name)), uts, task, component=component.get("name", ""))
    for vname, var in g.variables.items():
        if vname in ("uts", "task") or var.dimensions != ("uts",):
            continue
        values = np.asarray(var[:])
        if plottable(values):
            s.add(vname, values.astype(float), str(var.attrs.get("units") or ""), _task_units(var))
    return s


def _task_units(var: Any) -> dict[int, str]:
    """A variable's units by task (sugo's `task_units`: the units differ between tasks)."""
    units = _json_attr(var.attrs, ("task_units",))
    with contextlib.suppress(TypeError, ValueError):
        return {int(k): str(v) for k, v in units.items()}
    return {}


def read_results(path: Path) -> "list[RoleSeries]":
    """Every role of a results file (h5netcdf: the file need not fit in memory
    as xarray objects)."""
    import h5netcdf

    with h5netcdf.File(path, "r") as f:
        series = [_role(name, g) for name, g in f.groups.items() if "uts" in g.variables]
        if not series and "uts" in f.variables:
            series = [_role(path.stem, f)]
    return series


def job_of(path: Path) -> dict[str, Any]:
    """The job a results file records (its root attribute), or {}."""
    import h5netcdf

    with h5netcdf.File(path, "r") as f:
        return _json_attr(f.attrs, JOB_ATTRS)


def file_title(path: Path) -> str:
    """The plot's title for a results file: the job it records, if it does."""
    job = job_of(path)
    if not job:
        return path.name
    sample = job.get("sample")
    if sample is None:  # tomato: the sample is in the payload
        sample = (job.get("payload") or {}).get("sample", {}).get("name")
    name = f" {job['jobname']!r}" if job.get("jobname") else ""
    parts = [f"job {job.get('id', '?')}{name}"]
    if sample:
        parts.append(f"sample {sample}")
    parts.append(path.name)
    return " - ".join(parts)


def offline_source(ctx: "Context", jobid: int) -> tuple[str, Path]:
    """Where a job's data is when no daemon answers: ("results", file) from
    the job folder's ``final.json``, else ("staging", job folder)."""
    from sugo.config import load_settings
    from sugo.paths import settings_path

    hint = f"no daemon on port {ctx.port}; give the results file instead ('sugo job plot FILE')"
    try:
        settings = load_settings(settings_path(ctx.appdir))
    except Exception as e:  # a missing or bad settings file: it says why
        raise CliError(f"{hint}: cannot find job {jobid}'s folder ({e})") from None
    jobdir = settings.jobs.storage / str(jobid)
    final = jobdir / FINAL_FILE
    with contextlib.suppress(OSError, ValueError, TypeError):
        respath = json.loads(final.read_text(encoding="utf-8")).get("respath")
        if respath and Path(respath).is_file():
            return "results", Path(respath)
    if (jobdir / "staging").is_dir():
        return "staging", jobdir
    raise CliError(f"{hint}: no results file or staged data of job {jobid} in {jobdir}")
