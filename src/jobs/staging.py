"""The per-job staging store, read back: every polled chunk is on disk at once,
append-only (`sugo.jobs.staging_writer`), one file per role in the record
format of `sugo.jobs.records`. This module reads a job's records as arrays
(`sugo.jobs.chunks`), without duplicates, and summarises them in one
streaming pass (`summarise`): what the results writer, ``sugo job plot`` and
the web API need.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sugo.jobs.chunks import Chunk, encode_record, iter_records
from sugo.jobs.folder import staged_files
from sugo.jobs.records import MAGIC, StagingError, role_file
from sugo.jobs.staging_writer import StagingWriter

log = logging.getLogger(__name__)

__all__ = [
    "MAGIC",
    "Chunk",
    "RoleSummary",
    "StagingError",
    "StagingWriter",
    "VarSummary",
    "encode_record",
    "iter_records",
    "read_chunks",
    "role_file",
    "summarise",
    "unique_chunks",
]


@dataclass
class VarSummary:
    """One measured quantity of a role, over all its chunks."""

    dtype: np.dtype[Any]  # common dtype of every chunk's column
    shape: tuple[int, ...]  # trailing shape: the longest of each axis; () for 1-D columns
    points: int = 0  # points that carry this variable
    # units by task index: each task's first chunk that has the variable says
    # them ("" for none); units belong to a task and technique, not to a role
    task_units: dict[int, str] = field(default_factory=dict)
    ragged: bool = False  # some points' arrays are shorter than `shape`: padded
    dims: tuple[str, ...] | None = None  # declared dimension names (first seen)
    skipped: int = 0  # points left out: their arrays had another number of axes

    @property
    def units(self) -> str | None:
        """The units every task gave, or None when they differ or none were given."""
        found = set(self.task_units.values())
        return found.pop() or None if len(found) == 1 else None


@dataclass
class RoleSummary:
    """What one streaming pass over a role's staging file found.

    Counts exclude duplicate records (same task index and seq) and points
    without a finite ``uts``. ``end`` is the byte length of the complete
    records that were counted, so a later pass can read exactly those.
    """

    role: str
    file: Path
    points: int = 0
    variables: dict[str, VarSummary] = field(default_factory=dict)
    tasks: dict[int, int] = field(default_factory=dict)  # task index -> points
    ordered: bool = True  # uts non-decreasing in arrival order
    end: int = 0
    coords: dict[str, np.ndarray] = field(default_factory=dict)  # first seen, by dimension
    coord_units: dict[str, str] = field(default_factory=dict)
    coords_changed: set[str] = field(default_factory=set)  # differed in a later chunk


def read_chunks(jobdir: Path, role: str | None = None) -> Iterator[Chunk]:
    """Every complete record of ``role`` (or of every role) in append order.

    Raw records: duplicates are not removed here. A torn or corrupt tail ends
    the file's records without an error. One chunk in memory at a time.
    """
    files = [role_file(jobdir, role)] if role is not None else staged_files(jobdir)
    for path in files:
        for chunk, _end in iter_records(path):
            if role is None or chunk.role == role:
                yield chunk


class _SeqSet:
    """A set of ints kept as sorted disjoint runs: O(1) memory for consecutive seqs."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, x: int) -> bool:
        """Add ``x``; False if it was already there."""
        starts, ends = self._starts, self._ends
        i = bisect_right(starts, x) - 1
        if i >= 0 and x <= ends[i]:
            return False
        left = i >= 0 and ends[i] == x - 1
        right = i + 1 < len(starts) and starts[i + 1] == x + 1
        if left and right:
            ends[i] = ends[i + 1]
            del starts[i + 1], ends[i + 1]
        elif left:
            ends[i] = x
        elif right:
            starts[i + 1] = x
        else:
            starts.insert(i + 1, x)
            ends.insert(i + 1, x)
        return True


def _finite_rows(chunk: Chunk) -> Chunk:
    uts = chunk.columns["uts"]
    ok = np.isfinite(uts)
    if ok.all():
        return chunk
    columns = {name: col[ok] for name, col in chunk.columns.items()}
    return Chunk(
        chunk.role,
        chunk.task_index,
        chunk.seq,
        columns,
        chunk.units,
        chunk.dims,
        chunk.coords,
        chunk.coord_units,
    )


def _unique(path: Path, limit: int | None) -> Iterator[tuple[Chunk, int]]:
    seen: dict[int, _SeqSet] = {}
    for chunk, end in iter_records(path, limit):
        if seen.setdefault(chunk.task_index, _SeqSet()).add(chunk.seq):
            yield _finite_rows(chunk), end


def unique_chunks(summary: RoleSummary) -> Iterator[Chunk]:
    """The chunks ``summary`` counted, in append order: exactly the records up to
    ``summary.end``, without duplicates (same task index and seq: a re-sent
    chunk) and without points whose ``uts`` is not finite."""
    for chunk, _end in _unique(summary.file, summary.end):
        if chunk.role == summary.role:
            yield chunk


def scalar_series(
    summary: RoleSummary,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """A role's numeric variables of one value per point, duplicates dropped
    and sorted by time: ``uts``, the task index of each point, and each
    variable's values as floats (NaN where a chunk lacks it). What the plots
    and the web API show of a job's staged data."""
    names = [n for n, v in summary.variables.items() if not v.shape and v.dtype.kind in "biuf"]
    uts: list[np.ndarray] = []
    task: list[np.ndarray] = []
    cols: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for chunk in unique_chunks(summary):
        rows = chunk.rows
        uts.append(chunk.columns["uts"])
        task.append(np.full(rows, chunk.task_index))
        for n in names:
            col = chunk.columns.get(n)
            cols[n].append(col.astype(float) if col is not None else np.full(rows, np.nan))
    t = np.concatenate(uts) if uts else np.empty(0)
    order = np.argsort(t, kind="stable")
    tasks = (np.concatenate(task) if task else np.empty(0, int))[order]
    values = {n: np.concatenate(c)[order] if c else np.empty(0) for n, c in cols.items()}
    return t[order], tasks, values


def common_dtype(a: np.dtype[Any], b: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype that holds both: numeric promotion, or str if either is str."""
    if a == b:
        return a
    if a.kind == "U" or b.kind == "U":
        width = max(a.itemsize, b.itemsize) // 4
        return np.dtype(f"<U{max(width, 32)}")
    return np.result_type(a, b)


def summarise(jobdir: Path) -> dict[str, RoleSummary]:
    """Per role: points, variables (dtype, units, trailing shape), points per task.

    One streaming pass over the staging files; see ``RoleSummary`` for what is
    counted. Roles are keyed by the name kept in the records.
    """
    out: dict[str, RoleSummary] = {}
    for path in staged_files(jobdir):
        summary: RoleSummary | None = None
        last = -np.inf
        for chunk, end in _unique(path, None):
            if summary is None:
                if chunk.role in out:
                    log.warning("%s: role %r already staged elsewhere; skipped", path, chunk.role)
                    break
                summary = out[chunk.role] = RoleSummary(chunk.role, path)
            if chunk.role != summary.role:
                continue  # never written by StagingWriter; ignored like unique_chunks does
            summary.end = end
            _add_chunk(summary, chunk)
            uts = chunk.columns["uts"]
            if len(uts):
                if uts[0] < last or (len(uts) > 1 and bool(np.any(np.diff(uts) < 0))):
                    summary.ordered = False
                last = max(last, float(uts[-1]))
    return out


def _add_chunk(summary: RoleSummary, chunk: Chunk) -> None:
    rows = chunk.rows
    summary.points += rows
    task = chunk.task_index
    summary.tasks[task] = summary.tasks.get(task, 0) + rows
    for name, col in chunk.columns.items():
        if name == "uts":
            continue
        shape = tuple(col.shape[1:])
        var = summary.variables.get(name)
        if var is None:
            var = VarSummary(col.dtype, shape)
            summary.variables[name] = var
        elif len(shape) != len(var.shape):
            if not var.skipped:
                log.warning(
                    "%s: %r has %d array axes in seq %d, %d before; such points are left out of it",
                    summary.file,
                    name,
                    len(shape),
                    chunk.seq,
                    len(var.shape),
                )
            var.skipped += rows
            continue
        else:
            var.dtype = common_dtype(var.dtype, col.dtype)
            if shape != var.shape:
                var.ragged = True
                var.shape = tuple(max(a, b) for a, b in zip(shape, var.shape, strict=True))
        if task not in var.task_units:
            var.task_units[task] = chunk.units.get(name) or ""
        if var.dims is None and name in chunk.dims:
            var.dims = tuple(chunk.dims[name])
        var.points += rows
    for dim, values in chunk.coords.items():
        known = summary.coords.get(dim)
        if known is None:
            summary.coords[dim] = np.array(values)  # a copy: the chunk's buffer goes
            if chunk.coord_units.get(dim):
                summary.coord_units[dim] = chunk.coord_units[dim]
        elif dim not in summary.coords_changed and not np.array_equal(known, values):
            summary.coords_changed.add(dim)
            log.warning(
                "%s: coordinate %r changes in seq %d (task %d); the first one is written",
                summary.file,
                dim,
                chunk.seq,
                task,
            )
