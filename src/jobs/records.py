"""The staging store's records: their layout, framing, checks and file names,
without numpy. A job runner only moves bytes while a job runs: the driver host
sends each chunk as one raw frame per variable, and the record on disk holds
the same bytes (`encode_wire_chunk`). `sugo.jobs.chunks` encodes columns given
as arrays and reads records back as arrays; `sugo.jobs.staging_writer` appends.

Layout: ``<jobdir>/staging/<role>.rec``, one append-only file per pipeline
role. The file name is the role percent-encoded (``urllib.parse.quote`` with no
safe characters), or ``h-<sha256>`` when that would be too long; the role itself
is kept inside every record, so nothing is lost by the encoding.

A record is self-describing and framed so that a crash mid-append leaves at
most one torn record at the tail, which readers detect and ignore::

    magic    4 bytes   b"SGS1"
    hlen     u32 LE    length of the JSON header (padded so the body is 8-aligned)
    blen     u64 LE    length of the body
    header   hlen      JSON: role, task, seq, rows, columns [[name, dtype, shape]], units;
                       optional dims {name: [dim names]}, coords [[dim, dtype, [n]]]
                       and coord_units {dim: units}
    body     blen      the arrays' raw bytes in column order, then the coords',
                       each padded to 8 bytes
    crc32    u32 LE    zlib.crc32 of everything before it

Strings are stored as fixed-width unicode (``<U<n>``, UTF-32): simple and
exact; object arrays of ``str`` are converted to that on append.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec

from sugo.errors import SugoError
from sugo.jobs.folder import STAGED_SUFFIX, staging_dir
from sugo.protocol.host_api import ChunkHeader

log = logging.getLogger("sugo.jobs.staging")

MAGIC = b"SGS1"
PREFIX = struct.Struct("<4sIQ")
CRC = struct.Struct("<I")
MAX_HEADER = 16 * 1024 * 1024  # a bigger header can only be garbage
ALLOWED_KINDS = "biufU"
MAX_FILENAME = 200
# The dtypes a driver host puts on the wire for plain columns; anything else
# (big-endian, a str `uts`, ...) is normalised through numpy instead.
_WIRE_DTYPE = re.compile(r"(<[iufU]\d{1,4}|\|[biu]1)")


class StagingError(SugoError, ValueError):
    """A chunk cannot be staged (bad columns) or the staged data cannot be used."""


def role_file(jobdir: Path, role: str) -> Path:
    """The staging file of ``role`` in ``jobdir``."""
    name = quote(role, safe="")
    if len(name) > MAX_FILENAME:
        name = "h-" + hashlib.sha256(role.encode()).hexdigest()
    return staging_dir(jobdir) / f"{name}{STAGED_SUFFIX}"


def pad(n: int) -> int:
    return -n % 8


def frame(header: Mapping[str, Any], bodies: Sequence[Any]) -> bytes:
    """One framed record: ``header`` as JSON, then each body padded to 8 bytes."""
    hbytes = msgspec.json.encode(header)
    hbytes += b" " * pad(PREFIX.size + len(hbytes))
    parts: list[Any] = [b"", hbytes]
    blen = 0
    for body in bodies:
        n = memoryview(body).nbytes
        parts += [body, b"\0" * pad(n)]
        blen += n + pad(n)
    parts[0] = PREFIX.pack(MAGIC, len(hbytes), blen)
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    parts.append(CRC.pack(crc))
    return b"".join(parts)


def record_header(
    role: str,
    task_index: int,
    seq: int,
    rows: int,
    columns: list[list[Any]],
    units: dict[str, str],
    dims: dict[str, list[str]] | None = None,
    coords: list[list[Any]] | None = None,
    coord_units: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A record's JSON header (the layout above), its keys in their order."""
    header: dict[str, Any] = {
        "role": role,
        "task": int(task_index),
        "seq": int(seq),
        "rows": rows,
        "columns": columns,
        "units": units,
    }
    if dims:
        header["dims"] = dims
    if coords:
        header["coords"] = coords
        header["coord_units"] = coord_units or {}
    return header


def _itemsize(dtype: str) -> int:
    size = int(dtype[2:])
    return size * 4 if dtype[1] == "U" else size


def encode_wire_chunk(
    role: str, task_index: int, header: ChunkHeader, frames: Sequence[bytes]
) -> bytes | None:
    """The record of one chunk as it came off the wire, its frames used as they
    are. None when the chunk needs numpy to be normalised or checked (an
    integer ``uts``, an unusual dtype); `sugo.jobs.chunks.encode_record` does that."""
    variables = header.variables
    names = [v.name for v in variables]
    ncols = len(variables)
    if not role or len(frames) != ncols + len(header.coords) or len(set(names)) != ncols:
        return None
    rows = header.points
    columns: list[list[Any]] = []
    dims: dict[str, list[str]] = {}
    for var, body in zip(variables, frames, strict=False):
        if not _WIRE_DTYPE.fullmatch(var.dtype) or not var.shape or var.shape[0] != rows:
            return None
        if var.name == "uts" and (var.dtype != "<f8" or len(var.shape) != 1):
            return None
        if len(body) != math.prod(var.shape) * _itemsize(var.dtype):
            return None
        columns.append([var.name, var.dtype, list(var.shape[1:])])
        if var.dims is not None:
            if len(var.dims) != len(var.shape) - 1:
                return None
            dims[var.name] = list(var.dims)
    if "uts" not in names:
        return None
    coords: list[list[Any]] = []
    for var, body in zip(header.coords, frames[ncols:], strict=True):
        if not _WIRE_DTYPE.fullmatch(var.dtype) or len(var.shape) != 1:
            return None
        if len(body) != var.shape[0] * _itemsize(var.dtype):
            return None
        coords.append([var.name, var.dtype, list(var.shape)])
    record = record_header(
        role,
        task_index,
        header.seq,
        rows,
        columns,
        {v.name: v.units for v in variables if v.units},
        dims,
        coords,
        {v.name: v.units for v in header.coords if v.units},
    )
    return frame(record, frames)


def iter_frames(
    path: Path, limit: int | None = None, offset: int = 0
) -> Iterator[tuple[dict[str, Any], bytes, int, int]]:
    """(header, record bytes after the prefix, header length, end offset) for
    each complete, checksummed record of ``path`` from byte ``offset`` (the end
    of an earlier record) up to ``limit``; the bodies start at the header
    length in the record bytes.

    Stops quietly at the first torn or corrupt record: with O_APPEND writes a
    crash can only damage the tail, and a live writer may be mid-append.
    """
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return
    with f:
        f.seek(offset)
        pos = offset
        size = os.fstat(f.fileno()).st_size
        while limit is None or pos < limit:
            prefix = f.read(PREFIX.size)
            if len(prefix) < PREFIX.size:
                _report_tail(path, pos, len(prefix), corrupt=False)
                return
            magic, hlen, blen = PREFIX.unpack(prefix)
            need = hlen + blen + CRC.size
            if pos + PREFIX.size + need > size:
                size = os.fstat(f.fileno()).st_size  # a live writer may have grown it
            if magic != MAGIC or hlen > MAX_HEADER:
                _report_tail(path, pos, size - pos, corrupt=True)
                return
            if pos + PREFIX.size + need > size:
                _report_tail(path, pos, size - pos, corrupt=False)
                return
            rest = f.read(need)
            if len(rest) < need:
                _report_tail(path, pos, len(prefix) + len(rest), corrupt=False)
                return
            body = memoryview(rest)[: hlen + blen]
            (crc,) = CRC.unpack_from(rest, hlen + blen)
            if zlib.crc32(body, zlib.crc32(prefix)) != crc:
                _report_tail(path, pos, size - pos, corrupt=True)
                return
            try:
                header = msgspec.json.decode(body[:hlen])
            except msgspec.DecodeError:
                header = None
            if not isinstance(header, dict):
                # A valid checksum over a header we cannot use: not our writer's.
                _report_tail(path, pos, size - pos, corrupt=True)
                return
            pos += PREFIX.size + need
            yield header, rest, hlen, pos


def _report_tail(path: Path, pos: int, nbytes: int, *, corrupt: bool) -> None:
    if nbytes <= 0:
        return
    if corrupt:
        log.warning("%s: ignoring %d bytes from offset %d (corrupt record)", path, nbytes, pos)
    else:
        # Normal while a writer is mid-append; after a crash it is the torn record.
        log.debug("%s: ignoring %d bytes from offset %d (incomplete record)", path, nbytes, pos)


def valid_length(path: Path) -> int:
    """Bytes of ``path`` up to the end of its last complete record."""
    return max((end for _h, _r, _n, end in iter_frames(path)), default=0)
