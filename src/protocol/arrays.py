"""Numeric arrays on the wire: one raw binary frame per array, no pickle.

numpy is imported on first use, not with this module: a driver host loads
this module at start-up but moves no data until a job runs.

A variable is one array whose first axis is the points; an array quantity (a
spectrum, a trace) has more axes. Points whose arrays differ in length are
padded with NaN to the longest (see `to_array`); a point without the quantity
(NaN or None in its place) becomes a row of NaN.
"""

import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sugo.errors import ProtocolError
from sugo.protocol.host_api import ChunkHeader, VarInfo

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("sugo.protocol.arrays")

_ALLOWED_KINDS = set("biufU")  # bool, int, uint, float, fixed-width unicode


def to_array(values: list[object], name: str = "?") -> "np.ndarray":
    """The points of one variable as one array (the first axis: the points)."""
    import numpy as np

    try:
        arr = np.asarray(values)
    except ValueError:  # arrays of different lengths, or arrays and NaN gaps
        return _ragged(values, name)
    if arr.dtype.kind == "O":
        if any(_is_array(v) for v in values):
            return _ragged(values, name)
        # Mixed or None-holding columns: floats with NaN are the honest encoding.
        arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    return arr


def _is_array(value: object) -> bool:
    return hasattr(value, "__len__") and not isinstance(value, str | bytes)


def _ragged(values: list[object], name: str) -> "np.ndarray":
    """Arrays of differing shapes as one array padded with NaN ("" for text).
    A point without the variable (NaN or None) is a row of NaN; a point whose
    value has another number of axes than the first array (a number among
    spectra) cannot be kept in this variable: it is a row of NaN too, and the
    host's log says so. Never raises: the points were taken from the device."""
    import numpy as np

    rows: list[np.ndarray | None] = []
    for v in values:
        try:
            rows.append(np.asarray(v) if _is_array(v) else None)
        except ValueError:  # nested arrays of differing lengths
            rows.append(np.empty(0, dtype=object))
    ndim = next(r.ndim for r in rows if r is not None)
    lost = 0
    for i, (v, r) in enumerate(zip(values, rows, strict=True)):
        bad = r is None and not _is_gap(v)
        if r is not None and (r.ndim != ndim or r.dtype.kind not in _ALLOWED_KINDS):
            bad, rows[i] = True, None
        lost += bad
    kept = [r for r in rows if r is not None]
    text = any(r.dtype.kind == "U" for r in kept)
    fill: object
    if text:
        kept = [r.astype(str) for r in kept]
        width = max(1, *(r.dtype.itemsize // 4 for r in kept))
        dtype, fill = np.dtype(f"<U{width}"), ""
    else:
        dtype, fill = np.dtype(np.float64), np.nan
    trailing = tuple(max(r.shape[i] for r in kept) for i in range(ndim)) if kept else ()
    out = np.full((len(rows), *trailing), fill, dtype=dtype)
    for i, r in enumerate(rows):
        if r is not None:
            where: tuple[Any, ...] = (i, *(slice(0, n) for n in r.shape))
            out[where] = r
    if lost:
        log.warning(
            "variable %r: %d of %d points left out of it: their value is not a %d-axis array "
            "like the others'",
            name,
            lost,
            len(rows),
            ndim,
        )
    return out


def _is_gap(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def encode_chunk(
    seq: int,
    columns: Mapping[str, "np.ndarray"],
    units: Mapping[str, str],
    dims: Mapping[str, Sequence[str]] | None = None,
    coords: Mapping[str, Any] | None = None,
) -> tuple[ChunkHeader, list[bytes]]:
    """The header and frames of one chunk. ``dims``: declared dimension names
    of array variables; ``coords``: 1-D values of declared dimensions (units
    from ``units`` under the dimension's name)."""
    import numpy as np

    variables: list[VarInfo] = []
    frames: list[bytes] = []
    points = 0
    for name, column in columns.items():
        arr = np.ascontiguousarray(column)
        if arr.dtype.kind not in _ALLOWED_KINDS:
            raise ProtocolError(f"variable {name!r}: dtype {arr.dtype} cannot go on the wire")
        points = len(arr)
        names = dims.get(name) if dims and arr.ndim > 1 else None
        if names is not None and len(names) != arr.ndim - 1:
            raise ProtocolError(
                f"variable {name!r}: {len(names)} dimension names declared "
                f"for {arr.ndim - 1} array dimensions"
            )
        info = VarInfo(name, arr.dtype.str, list(arr.shape), units.get(name))
        if names is not None:
            info.dims = [str(n) for n in names]
        variables.append(info)
        frames.append(arr.tobytes())
    header = ChunkHeader(seq=seq, points=points, variables=variables)
    used = {n for v in variables for n in v.dims or ()}
    for dim, values in (coords or {}).items():
        if dim not in used:
            continue  # a coordinate of a dimension no array of this chunk has
        arr = np.ascontiguousarray(values)
        if arr.ndim != 1 or arr.dtype.kind not in _ALLOWED_KINDS:
            raise ProtocolError(f"coordinate {dim!r}: must be a 1-D array of numbers or str")
        header.coords.append(VarInfo(dim, arr.dtype.str, list(arr.shape), units.get(dim)))
        frames.append(arr.tobytes())
    return header, frames


def decode_chunk(header: ChunkHeader, frames: list[bytes]) -> dict[str, "np.ndarray"]:
    """The variables of one chunk (the coordinates: `decode_coords`)."""
    if len(frames) != len(header.variables) + len(header.coords):
        raise ProtocolError(
            f"chunk {header.seq}: {len(header.variables) + len(header.coords)} arrays "
            f"but {len(frames)} frames"
        )
    return _decode(header.seq, header.variables, frames)


def decode_coords(header: ChunkHeader, frames: list[bytes]) -> dict[str, "np.ndarray"]:
    """The coordinates of one chunk, by dimension name."""
    return _decode(header.seq, header.coords, frames[len(header.variables) :])


def _decode(seq: int, infos: list[VarInfo], frames: list[bytes]) -> dict[str, "np.ndarray"]:
    import numpy as np

    out: dict[str, np.ndarray] = {}
    for var, frame in zip(infos, frames, strict=False):
        dtype = np.dtype(var.dtype)
        if dtype.kind not in _ALLOWED_KINDS:
            raise ProtocolError(f"chunk {seq}: dtype {var.dtype} not allowed")
        arr = np.frombuffer(frame, dtype=dtype)
        try:
            out[var.name] = arr.reshape(var.shape)
        except ValueError:
            raise ProtocolError(
                f"chunk {seq}: {var.name} has {arr.size} values, shape {var.shape}"
            ) from None
    return out
