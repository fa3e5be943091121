"""The staging store's records and its writer, without numpy.

A job runner only moves bytes while a job runs: the driver host sends each
chunk as one raw frame per variable, and the record on disk holds the same
bytes. This module frames, checks and appends such records; it imports no
numpy, so a runner stays small (``sugo.jobs.staging`` reads records back as
arrays, for the results file). The record layout is described there.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec

from sugo.errors import SugoError
from sugo.jobs.folder import staging_dir
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
    return staging_dir(jobdir) / f"{name}.rec"


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


def _itemsize(dtype: str) -> int:
    size = int(dtype[2:])
    return size * 4 if dtype[1] == "U" else size


def encode_wire_chunk(
    role: str, task_index: int, header: ChunkHeader, frames: Sequence[bytes]
) -> bytes | None:
    """The record of one chunk as it came off the wire, its frames used as they
    are. None when the chunk needs numpy to be normalised or checked (an
    integer ``uts``, an unusual dtype); `sugo.jobs.staging.encode_record` does that."""
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
    record: dict[str, Any] = {
        "role": role,
        "task": int(task_index),
        "seq": int(header.seq),
        "rows": rows,
        "columns": columns,
        "units": {v.name: v.units for v in variables if v.units},
    }
    if dims:
        record["dims"] = dims
    if header.coords:
        coords: list[list[Any]] = []
        for var, body in zip(header.coords, frames[ncols:], strict=True):
            if not _WIRE_DTYPE.fullmatch(var.dtype) or len(var.shape) != 1:
                return None
            if len(body) != var.shape[0] * _itemsize(var.dtype):
                return None
            coords.append([var.name, var.dtype, list(var.shape)])
        record["coords"] = coords
        record["coord_units"] = {v.name: v.units for v in header.coords if v.units}
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


@dataclass
class _RoleFile:
    fd: int
    size: int
    dirty: bool = False  # written since the last fsync
    synced_at: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


class StagingWriter:
    """Appends records to ``<jobdir>/staging/``: one ``os.write`` per record on
    an ``O_APPEND`` descriptor, so a record is in the file (and survives a
    crash of any process) when an append returns.

    With ``fsync``, ``fsync_interval`` bounds what a power cut can take: a
    written record is flushed to the disk at most this many seconds later (0:
    at every append). Call ``sync_due`` now and then so that the last records
    are flushed too when no more appends come; ``close`` flushes everything.

    Reopening a job's staging after a crash cuts a torn tail first, so new
    records stay readable. Safe to call from several threads.
    """

    def __init__(self, jobdir: Path, fsync: bool = True, fsync_interval: float = 0.0) -> None:
        self.jobdir = Path(jobdir)
        self.folder = staging_dir(self.jobdir)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.fsync_interval = fsync_interval if fsync else None
        self._files: dict[str, _RoleFile] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._coords: dict[str, dict[str, bytes]] = {}  # role -> dim -> last staged

    def append(
        self,
        role: str,
        task_index: int,
        seq: int,
        columns: Mapping[str, Any],
        units: Mapping[str, str],
        dims: Mapping[str, Sequence[str]] | None = None,
        coords: Mapping[str, Any] | None = None,
        coord_units: Mapping[str, str] | None = None,
    ) -> None:
        """Stage one chunk given as columns (arrays or lists); see `encode_record`."""
        from sugo.jobs.staging import encode_record  # numpy: only for this way in

        data = encode_record(role, task_index, seq, columns, units, dims, coords, coord_units)
        self.append_record(role, data)

    def append_wire(
        self, role: str, task_index: int, header: ChunkHeader, frames: Sequence[bytes]
    ) -> None:
        """Stage one chunk as the driver host sent it. A coordinate the same as
        the last one staged for the role is left out (a host sends it with
        every chunk: for a spectrum polled two points at a time, a third of
        the bytes)."""
        fresh: dict[str, bytes] = {}
        if header.coords:
            header, frames, fresh = self._fresh_coords(role, header, frames)
        data = encode_wire_chunk(role, task_index, header, frames)
        if data is None:
            from sugo.jobs.staging import encode_record
            from sugo.protocol.arrays import decode_chunk, decode_coords

            columns = decode_chunk(header, list(frames))
            units = {v.name: v.units for v in header.variables if v.units}
            dims = {v.name: v.dims for v in header.variables if v.dims is not None}
            coords = decode_coords(header, list(frames))
            coord_units = {v.name: v.units for v in header.coords if v.units}
            data = encode_record(
                role, task_index, header.seq, columns, units, dims, coords, coord_units
            )
        self.append_record(role, data)
        if fresh:  # only once staged: else the next chunk must carry them again
            with self._lock:
                self._coords.setdefault(role, {}).update(fresh)

    def _fresh_coords(
        self, role: str, header: ChunkHeader, frames: Sequence[bytes]
    ) -> tuple[ChunkHeader, Sequence[bytes], dict[str, bytes]]:
        ncols = len(header.variables)
        with self._lock:
            last = dict(self._coords.get(role, {}))
        keep, fresh = [], {}
        for i, var in enumerate(header.coords):
            body = bytes(frames[ncols + i]) if ncols + i < len(frames) else b""
            key = f"{var.dtype}|{var.units}|"
            if last.get(var.name) != key.encode() + body:
                keep.append(i)
                fresh[var.name] = key.encode() + body
        if len(keep) == len(header.coords):
            return header, frames, fresh
        coords = [header.coords[i] for i in keep]
        kept = [*frames[:ncols], *(frames[ncols + i] for i in keep)]
        return msgspec.structs.replace(header, coords=coords), kept, fresh

    def append_record(self, role: str, data: bytes) -> None:
        """Put one framed record in ``role``'s file."""
        rf = self._file(role)
        with rf.lock:
            if rf.fd < 0:
                raise StagingError(f"staging writer for {self.jobdir} is closed")
            try:
                view = memoryview(data)
                while view:  # one write in practice; a loop only if the kernel splits it
                    view = view[os.write(rf.fd, view) :]
                rf.dirty = True
                self._sync(rf, force=False)
            except BaseException:
                # Cut the partial record so later appends stay readable.
                os.ftruncate(rf.fd, rf.size)
                raise
            rf.size += len(data)

    def sync_due(self) -> None:
        """Flush the files whose oldest unflushed record is due."""
        with self._lock:
            files = list(self._files.values())
        for rf in files:
            if rf.dirty:
                with rf.lock:
                    if rf.fd >= 0:
                        self._sync(rf, force=False)

    def _sync(self, rf: _RoleFile, force: bool) -> None:
        if self.fsync_interval is None or not rf.dirty:
            return
        now = time.monotonic()
        if force or now - rf.synced_at >= self.fsync_interval:
            os.fsync(rf.fd)
            rf.dirty, rf.synced_at = False, now

    def _file(self, role: str) -> _RoleFile:
        with self._lock:
            if self._closed:
                raise StagingError(f"staging writer for {self.jobdir} is closed")
            rf = self._files.get(role)
            if rf is None:
                rf = self._open(role_file(self.jobdir, role))
                self._files[role] = rf
            return rf

    def _open(self, path: Path) -> _RoleFile:
        existed = path.exists()
        if existed:
            size, valid = path.stat().st_size, valid_length(path)
            if valid < size:
                log.warning("%s: cutting %d bytes of torn tail", path, size - valid)
                os.truncate(path, valid)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)  # job data: owner only, like the job folder
        if not existed and self.fsync_interval is not None:
            fsync_dir(self.folder)  # make the new file's name durable too
        # A new file's clock starts now: its first record is flushed at once
        # only with an interval of 0.
        return _RoleFile(fd, os.fstat(fd).st_size, synced_at=time.monotonic())

    def close(self) -> None:
        """Flush and close every file; further appends raise ``StagingError``."""
        with self._lock:
            self._closed = True
            files, self._files = self._files, {}
        for rf in files.values():
            with rf.lock:
                try:
                    self._sync(rf, force=True)
                finally:
                    os.close(rf.fd)
                    rf.fd = -1  # an append that got this file before close must not reuse it

    def __enter__(self) -> StagingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
