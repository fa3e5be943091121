"""How one role's staged variables are laid out in the results file: names,
dtypes, fills, dimensions, coordinates, HDF5 chunk shapes and units.

Kept apart from the writing (`sugo.jobs.writer`), which moves the data.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sugo.jobs.staging import RoleSummary, VarSummary

log = logging.getLogger("sugo.jobs.writer")

# An HDF5 chunk of an array variable stays under this (h5py's chunk cache
# holds 1 MiB per dataset, so a chunk written over two blocks stays cached).
CHUNK_BYTES = 512 * 1024
RESERVED = {"uts", "task"}


def h5_name(name: str) -> str:
    """``name`` made valid as an HDF5 group or variable name (see the writer's doc)."""
    out = name.replace("%", "%25").replace("/", "%2F")
    if out in {"", ".", ".."}:
        out = out.replace(".", "%2E") or "%00"
    return out


@dataclass
class Column:
    """How one measured quantity is laid out in the file."""

    source: str  # name in the chunks
    name: str  # name in the file
    dtype: np.dtype[Any]  # in memory and on disk; object = variable-length str
    fill: Any
    shape: tuple[int, ...]  # trailing shape (the points' axis excluded)
    dims: tuple[str, ...]  # names of the trailing dimensions in the file
    attrs: dict[str, str]
    chunks: tuple[int, ...] | None = None  # HDF5 chunk shape; None: contiguous

    @property
    def row_bytes(self) -> int:
        """Bytes one point of this column takes in a block."""
        per = 8 if self.dtype.kind == "O" else self.dtype.itemsize
        return per * math.prod(self.shape)


@dataclass
class Coord:
    """A coordinate variable of a declared dimension: 1-D, its own dimension."""

    name: str
    values: np.ndarray
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Layout:
    columns: list[Column] = field(default_factory=list)
    dims: dict[str, int] = field(default_factory=dict)  # trailing dimensions and sizes
    coords: list[Coord] = field(default_factory=list)


def plan(summary: RoleSummary | None, block_rows: int) -> Layout:
    """The layout of ``summary``'s variables; ``block_rows`` caps chunk rows."""
    out = Layout()
    if summary is None:
        return out
    names = {"task_measured" if s == "task" else h5_name(s) for s in summary.variables}
    declared = _declared_dims(summary, names | RESERVED)
    for source, var in summary.variables.items():
        name = "task_measured" if source == "task" else h5_name(source)
        dims = declared.get(source) or tuple(f"{name}_dim_{i}" for i in range(len(var.shape)))
        for dim, size in zip(dims, var.shape, strict=True):
            out.dims[dim] = max(out.dims.get(dim, 0), size)
        out.columns.append(_column(source, name, var, summary.points, dims))
    for dim, values in summary.coords.items():
        name = h5_name(dim)
        if name in out.dims:  # arrays shorter than their coordinate are padded to it
            out.dims[name] = max(out.dims[name], len(values))
    for col in out.columns:
        shape = tuple(out.dims[d] for d in col.dims)
        if shape != col.shape:  # a shared dimension is longer elsewhere: pad
            col.shape = shape
            _allow_padding(col)
    for col in out.columns:
        if col.shape and summary.points and all(col.shape):
            col.chunks = _chunks(col, min(block_rows, summary.points))
    for dim, values in summary.coords.items():
        coord = _coord(dim, values, out.dims, summary.coord_units.get(dim))
        if coord is not None:
            out.coords.append(coord)
    return out


def _declared_dims(summary: RoleSummary, taken: set[str]) -> dict[str, tuple[str, ...]]:
    """The driver's dimension names that can be used: not a variable's name
    (xarray would take that variable for the dimension's coordinate) nor
    repeated within one variable; else the defaults, with a warning."""
    out: dict[str, tuple[str, ...]] = {}
    for source, var in summary.variables.items():
        if var.dims is None:
            continue
        dims = tuple(h5_name(d) for d in var.dims)
        clash = sorted(set(dims) & taken)
        if clash or len(set(dims)) != len(dims) or len(dims) != len(var.shape):
            log.warning(
                "role %r: dimension names %s of %r cannot be used (%s); default names instead",
                summary.role,
                list(var.dims),
                source,
                f"also a variable: {clash}" if clash else "repeated or of the wrong number",
            )
            continue
        out[source] = dims
    return out


def _column(source: str, name: str, var: VarSummary, points: int, dims: tuple[str, ...]) -> Column:
    attrs = _units_attrs(var)
    if var.skipped:
        attrs["sugo_note"] = (
            f"{var.skipped} points left out: their arrays had another number of dimensions"
        )
    col = Column(source, name, var.dtype, np.nan, var.shape, dims, attrs)
    kind = var.dtype.kind
    gaps = var.points < points
    if kind == "U":
        col.dtype, col.fill = np.dtype(object), ""
    elif kind == "f":
        pass
    elif gaps or var.ragged:
        col.dtype = np.dtype(np.float64)
    elif kind == "b":
        col.dtype, col.fill = np.dtype(np.int8), 0
        attrs["dtype"] = "bool"  # xarray's convention: decoded back to bool
    else:
        col.fill = 0
    if var.ragged:
        _allow_padding(col)
    return col


def _allow_padding(col: Column) -> None:
    """Padded points need a fill that says "no value": NaN, or "" for text."""
    if col.dtype.kind in "iub":
        col.dtype, col.fill = np.dtype(np.float64), np.nan
        col.attrs.pop("dtype", None)
    col.attrs["sugo_padding"] = "arrays shorter than the longest are padded"


def _units_attrs(var: VarSummary) -> dict[str, str]:
    """CF ``units`` when every task that recorded the variable gave the same;
    else none, and ``task_units`` (JSON: task index -> units, "" for none)."""
    if var.units:
        return {"units": var.units}
    if any(var.task_units.values()):
        return {"task_units": json.dumps({str(k): v for k, v in sorted(var.task_units.items())})}
    return {}


def _chunks(col: Column, block_rows: int) -> tuple[int, ...]:
    """An HDF5 chunk shape of at most CHUNK_BYTES: whole points where they
    fit (a reader takes one spectrum in one read), else a point cut along
    its longest axes (a 500,000-value trace: 64 Ki values a chunk)."""
    item = 16 if col.dtype.kind == "O" else col.dtype.itemsize
    trailing = list(col.shape)
    while trailing and math.prod(trailing) * item > CHUNK_BYTES:
        i = trailing.index(max(trailing))
        trailing[i] = (trailing[i] + 1) // 2
    per_point = max(1, math.prod(trailing) * item)
    rows = max(1, min(block_rows, CHUNK_BYTES // per_point))
    return (rows, *(max(1, t) for t in trailing))


def _coord(dim: str, values: np.ndarray, dims: dict[str, int], units: str | None) -> Coord | None:
    name = h5_name(dim)
    size = dims.get(name)
    if size is None:
        return None  # its dimension fell back to default names
    attrs = {"units": units} if units else {}
    if len(values) == size:
        return Coord(name, values, attrs)
    if len(values) < size and values.dtype.kind == "f":
        padded = np.full(size, np.nan)
        padded[: len(values)] = values
        return Coord(name, padded, attrs)
    log.warning(
        "coordinate %r has %d values for %d points of its dimension; left out",
        dim,
        len(values),
        size,
    )
    return None
