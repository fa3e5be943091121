"""The results NetCDF4 file, streamed from the staging store and written atomically.

Two passes over the staging files, memory bounded by one staged record plus
one block of points (``BLOCK_BYTES``, at least one point, at most
``BLOCK_ROWS``): ``summarise`` fixes each role's length, variables, dtypes
and array shapes; then every role's group is filled block by block with
``h5netcdf`` (xarray would hold everything in memory). Points that came out
of order (stragglers) need a third pass for their ``uts`` and O(points)
memory for the order; their array variables are written straight to their
sorted places. `sugo.jobs.layout` decides names, dtypes, dimensions and
chunk shapes. The file is written to a temporary
name in the target folder, fsynced, then renamed over the target.

What readers see (``xarray.open_datatree(path, engine="h5netcdf")``):

- root attrs as given (``sugo_version`` added if missing);
- one group per role. HDF5 cannot have ``/`` in a name, so group and variable
  names are percent-encoded for ``%`` and ``/`` only (``a/b`` -> ``a%2Fb``;
  ``.``/``..`` -> ``%2E``...); ordinary names such as ``counter-1`` are
  unchanged, and the group attr ``role`` always holds the real role name;
- coordinate ``uts``: float64 unix seconds, strictly increasing, with CF attrs
  ``units = "seconds since 1970-01-01T00:00:00Z"`` and ``calendar = "standard"``.
  Because of those attrs xarray decodes it to ``datetime64[ns]`` by default;
  open with ``decode_times=False`` to get the float seconds. Points come in
  append order, sorted by ``uts`` only if they were not already; points with
  equal ``uts`` keep their order and are nudged up by one ulp each (~0.2 us)
  so ``uts`` is strictly increasing without dropping data;
- ``task`` (int32 along ``uts``): the index in the payload's method of the task
  that produced each point; attrs ``task_indices``, ``task_names`` and
  ``techniques`` are JSON lists, item i describing task ``task_indices[i]``;
- one variable per measured quantity, with ``units`` where every task that
  recorded it gave the same ones (else ``task_units``: JSON, task index ->
  units). Gaps (points
  of a task that did not record the variable) hold NaN for floats; ints and
  bools with gaps become float64 with NaN; strings (variable-length UTF-8)
  hold ``""``. Bools without gaps are int8 with attr ``dtype = "bool"``, which
  xarray decodes back to bool. A measured quantity named ``task`` is stored as
  ``task_measured``. Array variables get one more dimension per axis: the
  driver's names (``spectrum(uts, wavelength)``, with a ``wavelength``
  coordinate when it gives one), else ``<name>_dim_0``...; shorter arrays
  are padded with NaN (attr ``sugo_padding``).

Duplicate records (same task index and seq) are written once; records
appended while this runs are not read (a snapshot holds the complete records
present at its first pass).
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5netcdf
import h5py
import numpy as np

from sugo import __version__
from sugo.jobs.layout import Column, h5_name, plan
from sugo.jobs.staging import Chunk, RoleSummary, StagingError, summarise, unique_chunks

log = logging.getLogger("sugo.jobs.writer")

BLOCK_ROWS = 65536  # at most, per block
# Bytes of one block over all of a role's columns: what bounds the memory for
# array data (a 4096-value spectrum: 127 points a block; a 500,000-value trace: 1).
BLOCK_BYTES = 4 * 1024 * 1024
UTS_ATTRS = {"units": "seconds since 1970-01-01T00:00:00Z", "calendar": "standard"}


@dataclass
class GroupInfo:
    """What the results file says about one role besides its data.

    ``attrs``: group attrs (e.g. ``sugo_component`` JSON); ``role`` is added.
    ``tasks``: one dict per task of the role, with keys ``index`` (the task's
    index in the payload's method), ``task_name`` and ``technique_name``.
    """

    attrs: dict[str, str] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)


def write_results(
    jobdir: Path,
    path: Path,
    *,
    root_attrs: Mapping[str, str],
    groups: Mapping[str, GroupInfo],
) -> Path:
    """Write the results file of ``jobdir`` to ``path`` atomically; return ``path``.

    Roles in ``groups`` always get a group (zero-length if they have no data);
    staged roles missing from ``groups`` get one too, with only the ``role``
    attr. On any error the target is left as it was and the temp file removed.
    """
    path = Path(path)
    summaries = summarise(Path(jobdir))
    roles = list(groups) + sorted(r for r in summaries if r not in groups)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 mode would end up on the results file; this honours the umask.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        with h5netcdf.File(tmp, "w") as f:
            f.attrs["sugo_version"] = __version__
            for key, value in root_attrs.items():
                f.attrs[key] = value
            for role in roles:
                _write_group(f, role, summaries.get(role), groups.get(role, GroupInfo()))
        _fsync_path(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_path(path.parent, os.O_RDONLY)
    points = sum(x.points for x in summaries.values())
    peak = peak_rss_mib()
    log.info(
        "%s written: %d points in %d groups%s",
        path,
        points,
        len(roles),
        f" (peak memory of this process {peak:.0f} MiB)" if peak is not None else "",
    )
    return path


def peak_rss_mib() -> float | None:
    """This process's peak resident memory in MiB, where the OS says it."""
    try:  # Linux: this process's own peak (ru_maxrss keeps a parent's across exec)
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _task_attrs(tasks: list[dict[str, Any]]) -> dict[str, str]:
    return {
        "long_name": "index in the payload method of the task that produced the point",
        "task_indices": json.dumps([int(t.get("index", i)) for i, t in enumerate(tasks)]),
        "task_names": json.dumps([t.get("task_name") for t in tasks]),
        "techniques": json.dumps([t.get("technique_name") for t in tasks]),
    }


def _write_group(f: h5netcdf.File, role: str, summary: RoleSummary | None, info: GroupInfo) -> None:
    g = f.create_group(h5_name(role))
    for key, value in info.attrs.items():
        g.attrs[key] = value
    g.attrs["role"] = role
    n = summary.points if summary else 0
    g.dimensions["uts"] = n
    # fill_time="never": every point is written explicitly, so HDF5 need not
    # pre-fill the datasets (that would double the bytes written).
    uts = g.create_variable("uts", ("uts",), np.float64, fill_time="never")
    uts.attrs.update(UTS_ATTRS)
    task = g.create_variable("task", ("uts",), np.int32, fill_time="never")
    task.attrs.update(_task_attrs(info.tasks))
    rows = block_rows(summary)
    layout = plan(summary, rows)
    for dim, size in layout.dims.items():
        g.dimensions[dim] = size
    for coord in layout.coords:
        var = g.create_variable(coord.name, (coord.name,), data=_on_disk(coord.values))
        var.attrs.update(coord.attrs)
    for col in layout.columns:
        dims = ("uts", *col.dims)
        chunks = {"chunks": col.chunks} if col.chunks and n else {}
        if col.dtype.kind == "O":
            var = g.create_variable(col.name, dims, h5py.string_dtype(), **chunks)
        elif col.dtype.kind == "f":
            var = g.create_variable(
                col.name, dims, col.dtype, fillvalue=np.nan, fill_time="never", **chunks
            )
        else:
            var = g.create_variable(col.name, dims, col.dtype, fill_time="never", **chunks)
        var.attrs.update(col.attrs)
    if summary is None or n == 0:
        return
    rank = None if summary.ordered else _ranks(summary)
    block = _Block(g, role, layout.columns, rows, rank)
    block.add_all(unique_chunks(summary))
    if block.written != n:
        raise StagingError(f"role {role!r}: staging changed while writing ({block.written}/{n})")
    if rank is not None:
        _sort_group(g, ["uts", "task", *(c.name for c in layout.columns if not c.shape)])


def _on_disk(values: np.ndarray) -> np.ndarray:
    return values.astype(object) if values.dtype.kind == "U" else values


def block_rows(summary: RoleSummary | None) -> int:
    """Points per block: BLOCK_BYTES of them (at least one), at most BLOCK_ROWS."""
    if summary is None:
        return BLOCK_ROWS
    row = 12  # uts and task
    for var in summary.variables.values():
        item = var.dtype.itemsize + (8 if var.dtype.kind == "U" else 0)
        row += max(item, 8) * math.prod(var.shape)
    return max(1, min(BLOCK_ROWS, BLOCK_BYTES // row))


def _ranks(summary: RoleSummary) -> np.ndarray:
    """For points in append order, their place once sorted by ``uts``: array
    points are written straight there, so sorting never holds them all."""
    parts = [chunk.columns["uts"].copy() for chunk in unique_chunks(summary)]
    uts = np.concatenate(parts) if parts else np.empty(0)
    order = np.argsort(uts, kind="stable")
    rank = np.empty(len(uts), np.int64)
    rank[order] = np.arange(len(uts))
    return rank


class _Block:
    """Buffers up to ``rows`` points of one group and writes them as slices."""

    def __init__(
        self, g: Any, role: str, columns: list[Column], rows: int, rank: np.ndarray | None
    ) -> None:
        self.g, self.role, self.columns, self.rows, self.rank = g, role, columns, rows, rank
        self.uts = np.empty(rows, np.float64)
        self.task = np.empty(rows, np.int32)
        self.bufs = {c.source: np.full((rows, *c.shape), c.fill, c.dtype) for c in columns}
        self.filled = 0
        self.written = 0
        self.prev = -np.inf

    def add_all(self, chunks: Iterable[Chunk]) -> None:
        for chunk in chunks:
            self.add(chunk)
        self.flush()

    def add(self, chunk: Chunk) -> None:
        uts = chunk.columns["uts"]
        if self.rank is None and len(uts):
            uts = strictly_increasing(uts, self.prev)
            self.prev = float(uts[-1])
        data = {c.source: self._convert(chunk, c) for c in self.columns}
        i = 0
        while i < len(uts):
            k = min(self.rows - self.filled, len(uts) - i)
            a, b = self.filled, self.filled + k
            self.uts[a:b] = uts[i : i + k]
            self.task[a:b] = chunk.task_index
            for source, col in data.items():
                if col is not None:
                    # a shorter array fills the start of its row; the rest keeps the fill
                    self.bufs[source][(slice(a, b), *(slice(0, m) for m in col.shape[1:]))] = col[
                        i : i + k
                    ]
            self.filled += k
            i += k
            if self.filled == self.rows:
                self.flush()

    def _convert(self, chunk: Chunk, c: Column) -> np.ndarray | None:
        col = chunk.columns.get(c.source)
        if col is None or col.ndim != len(c.shape) + 1:
            return None  # not recorded here, or left out (see VarSummary.skipped)
        if c.dtype.kind == "O" and col.dtype.kind != "U":
            return col.astype(str)
        return col

    def flush(self) -> None:
        if not self.filled:
            return
        a, b = self.written, self.written + self.filled
        variables = self.g.variables
        variables["uts"][a:b] = self.uts[: self.filled]
        variables["task"][a:b] = self.task[: self.filled]
        for c in self.columns:
            buf = self.bufs[c.source]
            if c.shape and self.rank is not None:
                # straight to their sorted places (h5py wants them increasing)
                places = self.rank[a:b]
                order = np.argsort(places)
                variables[c.name][places[order]] = buf[: self.filled][order]
            else:
                variables[c.name][a:b] = buf[: self.filled]
            buf[: self.filled] = c.fill  # the next block's gaps
        self.written = b
        self.filled = 0


def _sort_group(g: Any, names: list[str]) -> None:
    """Reorder the 1-D variables by ``uts``: only for stragglers, O(points) memory."""
    uts = g.variables["uts"]
    order = np.argsort(uts[:], kind="stable")
    for name in names:
        var = g.variables[name]
        var[...] = var[...][order]
    uts[:] = strictly_increasing(uts[:], -np.inf)


def strictly_increasing(uts: np.ndarray, prev: float) -> np.ndarray:
    """``uts`` (non-decreasing, after ``prev``) with ties nudged up by one ulp each.

    Returns ``uts`` itself when nothing needs fixing; cost is proportional to
    the length plus the number of fixed points.
    """
    if not len(uts) or (uts[0] > prev and bool(np.all(uts[1:] > uts[:-1]))):
        return uts
    bad = np.flatnonzero(uts <= np.concatenate(([prev], uts[:-1])))
    out = np.array(uts, dtype=np.float64)
    done = 0
    for start in bad:
        j = max(int(start), done)
        while j < len(out):
            low = out[j - 1] if j else prev
            if out[j] > low:
                break
            out[j] = np.nextafter(low, np.inf)
            j += 1
        done = j
    return out
