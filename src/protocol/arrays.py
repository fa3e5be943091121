"""Numeric arrays on the wire: one raw binary frame per array, no pickle.

numpy is imported on first use, not with this module: a driver host loads
this module at start-up but moves no data until a job runs.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sugo.errors import ProtocolError
from sugo.protocol.host_api import ChunkHeader, VarInfo

if TYPE_CHECKING:
    import numpy as np

_ALLOWED_KINDS = set("biufU")  # bool, int, uint, float, fixed-width unicode


def to_array(values: list[object]) -> "np.ndarray":
    import numpy as np

    arr = np.asarray(values)
    if arr.dtype.kind == "O":
        # Mixed or None-holding columns: floats with NaN are the honest encoding.
        arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    return arr


def encode_chunk(
    seq: int, columns: Mapping[str, "np.ndarray"], units: Mapping[str, str]
) -> tuple[ChunkHeader, list[bytes]]:
    import numpy as np

    variables: list[VarInfo] = []
    frames: list[bytes] = []
    points = 0
    for name, column in columns.items():
        arr = np.ascontiguousarray(column)
        if arr.dtype.kind not in _ALLOWED_KINDS:
            raise ProtocolError(f"variable {name!r}: dtype {arr.dtype} cannot go on the wire")
        points = len(arr)
        variables.append(VarInfo(name, arr.dtype.str, list(arr.shape), units.get(name)))
        frames.append(arr.tobytes())
    return ChunkHeader(seq=seq, points=points, variables=variables), frames


def decode_chunk(header: ChunkHeader, frames: list[bytes]) -> dict[str, "np.ndarray"]:
    import numpy as np

    if len(frames) != len(header.variables):
        raise ProtocolError(
            f"chunk {header.seq}: {len(header.variables)} variables but {len(frames)} frames"
        )
    out: dict[str, np.ndarray] = {}
    for var, frame in zip(header.variables, frames, strict=True):
        dtype = np.dtype(var.dtype)
        if dtype.kind not in _ALLOWED_KINDS:
            raise ProtocolError(f"chunk {header.seq}: dtype {var.dtype} not allowed")
        arr = np.frombuffer(frame, dtype=dtype)
        try:
            out[var.name] = arr.reshape(var.shape)
        except ValueError:
            raise ProtocolError(
                f"chunk {header.seq}: {var.name} has {arr.size} values, shape {var.shape}"
            ) from None
    return out
