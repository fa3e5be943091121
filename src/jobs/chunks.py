"""Staged chunks as numpy arrays: columns encoded into a record
(`sugo.jobs.records` describes the layout), and records read back as arrays."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sugo.jobs.records import ALLOWED_KINDS, StagingError, frame, iter_frames, record_header

log = logging.getLogger("sugo.jobs.staging")


@dataclass
class Chunk:
    """One polled chunk of one role. Arrays read back from disk are read-only."""

    role: str
    task_index: int
    seq: int
    columns: dict[str, np.ndarray]
    units: dict[str, str]
    dims: dict[str, list[str]] = field(default_factory=dict)  # declared dimension names
    coords: dict[str, np.ndarray] = field(default_factory=dict)  # by dimension name
    coord_units: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Number of points in the chunk."""
        return len(self.columns["uts"])


def _normalise(name: str, col: Any) -> np.ndarray:
    arr = np.asarray(col)
    if arr.dtype.kind == "O":
        if not all(isinstance(v, str) for v in arr.flat):
            raise StagingError(f"column {name!r}: object arrays must hold only str")
        arr = arr.astype(str)
    if arr.dtype.kind not in ALLOWED_KINDS:
        raise StagingError(f"column {name!r}: unsupported dtype {arr.dtype}")
    if arr.ndim < 1:
        raise StagingError(f"column {name!r}: must be an array, got a scalar")
    return np.ascontiguousarray(arr)


def encode_record(
    role: str,
    task_index: int,
    seq: int,
    columns: Mapping[str, Any],
    units: Mapping[str, str],
    dims: Mapping[str, Sequence[str]] | None = None,
    coords: Mapping[str, Any] | None = None,
    coord_units: Mapping[str, str] | None = None,
) -> bytes:
    """One framed record for ``columns`` (validated: ``uts`` present, equal lengths).

    ``dims``: declared names of array columns' dimensions; ``coords``: 1-D
    values of such dimensions, with ``coord_units``."""
    if not role:
        raise StagingError("role must be a non-empty string")
    if "uts" not in columns:
        raise StagingError(f"role {role!r}: chunk has no 'uts' column")
    arrays = {str(k): _normalise(str(k), v) for k, v in columns.items()}
    uts = arrays["uts"]
    if uts.dtype.kind == "U" or uts.ndim != 1:
        raise StagingError(f"role {role!r}: 'uts' must be a 1-D numeric array")
    arrays["uts"] = np.ascontiguousarray(uts, dtype=np.float64)
    rows = len(uts)
    for name, arr in arrays.items():
        if len(arr) != rows:
            raise StagingError(
                f"role {role!r}: column {name!r} has {len(arr)} points, 'uts' has {rows}"
            )
    bodies = [arr.reshape(-1).view(np.uint8) for arr in arrays.values()]
    named = {}
    for name, names in (dims or {}).items():
        col = arrays.get(str(name))
        if col is None or col.ndim - 1 != len(names):
            raise StagingError(f"role {role!r}: dimension names {list(names)} do not fit {name!r}")
        named[str(name)] = [str(n) for n in names]
    coord_list: list[list[Any]] = []
    if coords:
        values = {str(k): _normalise(str(k), v) for k, v in coords.items()}
        if any(v.ndim != 1 for v in values.values()):
            raise StagingError(f"role {role!r}: coordinates must be 1-D arrays")
        coord_list = [[n, v.dtype.str, list(v.shape)] for n, v in values.items()]
        bodies += [v.reshape(-1).view(np.uint8) for v in values.values()]
    header = record_header(
        role,
        task_index,
        seq,
        rows,
        [[n, a.dtype.str, list(a.shape[1:])] for n, a in arrays.items()],
        {str(k): str(v) for k, v in units.items() if v},
        named,
        coord_list,
        {str(k): str(v) for k, v in (coord_units or {}).items() if v},
    )
    return frame(header, bodies)


def _decode(header: dict[str, Any], buf: bytes, offset: int) -> Chunk:
    columns: dict[str, np.ndarray] = {}
    rows = int(header["rows"])
    for name, dtype_str, trailing in header["columns"]:
        columns[name], offset = _frombuffer(buf, offset, dtype_str, (rows, *trailing))
    coords: dict[str, np.ndarray] = {}
    for name, dtype_str, shape in header.get("coords", ()):
        coords[name], offset = _frombuffer(buf, offset, dtype_str, tuple(shape))
    dims = header.get("dims") or {}
    for name, names in dims.items():
        if name not in columns or columns[name].ndim - 1 != len(names):
            raise ValueError(f"dimension names {names} do not fit {name!r}")
    return Chunk(
        header["role"],
        int(header["task"]),
        int(header["seq"]),
        columns,
        header["units"],
        dims,
        coords,
        header.get("coord_units") or {},
    )


def _frombuffer(buf: bytes, offset: int, dtype_str: str, shape: tuple[int, ...]) -> Any:
    dtype = np.dtype(dtype_str)
    count = math.prod(shape)
    arr = np.frombuffer(buf, dtype=dtype, count=count, offset=offset).reshape(shape)
    nbytes = count * dtype.itemsize
    return arr, offset + nbytes + -nbytes % 8


def iter_records(
    path: Path, limit: int | None = None, offset: int = 0
) -> Iterator[tuple[Chunk, int]]:
    """(chunk, end offset) for each complete record of ``path`` from byte
    ``offset`` (the end of an earlier record) up to ``limit``.

    Stops quietly at the first torn or corrupt record (see `records.iter_frames`):
    a live writer may be mid-append, and the next call reads that record.
    """
    for header, rest, hlen, end in iter_frames(path, limit, offset):
        try:
            chunk = _decode(header, rest, hlen)
        except (KeyError, TypeError, ValueError):
            log.warning("%s: ignoring the records from the one ending at %d (unusable)", path, end)
            return
        yield chunk, end
