"""The staging store's writer: appends each chunk's record (`sugo.jobs.records`)
to its role's file the moment it is polled, without numpy, so a runner stays
small (columns given as arrays go through `sugo.jobs.chunks`)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from sugo.jobs.folder import staging_dir
from sugo.jobs.records import StagingError, encode_wire_chunk, role_file, valid_length
from sugo.protocol.host_api import ChunkHeader

log = logging.getLogger("sugo.jobs.staging")


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
        from sugo.jobs.chunks import encode_record  # numpy: only for this way in

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
            from sugo.jobs.chunks import encode_record
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
