"""A job's data for the API: the staged records so far, the results file, and
the new records since a cursor (for the live stream).

Reads the job folder's staging files directly (sugo.jobs.staging; the runner
appends, readers never change them) and the results file with h5netcdf. Only
numeric 1-D variables are sent as JSON columns (as `sugo job plot` draws);
non-finite values become null.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from sugo.jobs.records import role_file
from sugo.jobs.staging import iter_records, scalar_series, summarise

MAX_STREAM_ROWS = 5000  # points per stream message (a big backlog goes in several)


def _column(arr: np.ndarray) -> list[Any]:
    values = arr.tolist()
    if arr.dtype.kind == "f":
        return [v if math.isfinite(v) else None for v in values]
    return list(values)


def _numeric(arr: np.ndarray) -> bool:
    return arr.ndim == 1 and arr.dtype.kind in "biuf"


def staged(jobdir: Path, offset: int = 0, limit: int | None = None) -> dict[str, dict[str, Any]]:
    """Every role staged so far: uts, task and the numeric columns, sorted by
    time; per role the points ``offset`` to ``offset + limit`` (None: all) of ``points``."""
    out: dict[str, dict[str, Any]] = {}
    page = slice(offset, None if limit is None else offset + limit)
    for role, summary in summarise(jobdir).items():
        uts, task, values = scalar_series(summary)
        out[role] = {
            "points": int(uts.size),
            "offset": offset,
            "uts": _column(uts[page]),
            "task": _column(task[page]),
            # a role with no chunk yet has no columns
            "columns": {n: _column(v[page]) for n, v in values.items()} if uts.size else {},
            "units": {n: summary.variables[n].units or "" for n in values},
        }
    return out


def results(path: Path, offset: int = 0, limit: int | None = None) -> dict[str, dict[str, Any]]:
    """The roles of a results (or snapshot) file; per role the points
    ``offset`` to ``offset + limit`` (None: all) of ``points`` (only those are read)."""
    import h5netcdf

    out: dict[str, dict[str, Any]] = {}
    page = slice(offset, None if limit is None else offset + limit)
    with h5netcdf.File(path, "r") as f:
        for name, g in f.groups.items():
            role = str(g.attrs.get("role", name))
            total = int(g.variables["uts"].shape[0])
            uts = np.asarray(g.variables["uts"][page], dtype=float)
            task = (
                np.asarray(g.variables["task"][page])
                if "task" in g.variables
                else np.zeros(len(uts), int)
            )
            doc: dict[str, Any] = {"points": total, "offset": offset, "uts": _column(uts),
                                   "task": _column(task), "columns": {}, "units": {}}  # fmt: skip
            for vname, var in g.variables.items():
                if vname in ("uts", "task") or var.dimensions != ("uts",):
                    continue
                if var.dtype.kind in "biuf":
                    values = np.asarray(var[page])
                    doc["columns"][vname] = _column(values.astype(float))
                    doc["units"][vname] = str(var.attrs.get("units", ""))
            out[role] = doc
    return out


def next_offset(roles: dict[str, dict[str, Any]], offset: int, limit: int) -> int | None:
    """Where the next page starts, or None when this one has every role's last point."""
    more = any(r["points"] > offset + limit for r in roles.values())
    return offset + limit if more else None


# -- the live stream ---------------------------------------------------------------------


def encode_cursor(offsets: dict[str, int]) -> str:
    """An SSE event id: how far each staging file has been sent."""
    raw = json.dumps(offsets, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> dict[str, int]:
    """The offsets of a Last-Event-ID (empty, i.e. from the start, if unreadable)."""
    if not text:
        return {}
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        return {str(k): int(v) for k, v in data.items() if int(v) >= 0}
    except (ValueError, TypeError, AttributeError):
        return {}


class StreamReader:
    """New staged records of one job since the cursor, one role file at a time."""

    def __init__(self, jobdir: Path, roles: list[str], offsets: dict[str, int]) -> None:
        self.jobdir = Path(jobdir)
        self.files = {role: role_file(self.jobdir, role) for role in roles}
        self.offsets = {role: offsets.get(role, 0) for role in roles}

    def pending(self) -> int:
        """Bytes staged but not yet sent, over every role (a stat per role)."""
        behind = 0
        for role, path in self.files.items():
            try:
                behind += max(0, path.stat().st_size - self.offsets[role])
            except OSError:
                continue
        return behind

    def read(self) -> list[dict[str, Any]]:
        """The next messages: at most MAX_STREAM_ROWS points per role per call."""
        out = []
        for role, path in self.files.items():
            rows = 0
            try:
                records = iter_records(path, offset=self.offsets[role])
                for chunk, end in records:
                    self.offsets[role] = end
                    cols = {n: _column(a) for n, a in chunk.columns.items()
                            if n != "uts" and _numeric(a)}  # fmt: skip
                    out.append({"role": role, "task": chunk.task_index, "seq": chunk.seq,
                                "uts": _column(chunk.columns["uts"]), "columns": cols,
                                "units": chunk.units})  # fmt: skip
                    rows += chunk.rows
                    if rows >= MAX_STREAM_ROWS:
                        break
            except FileNotFoundError:
                continue
        return out

    def cursor(self) -> str:
        return encode_cursor(self.offsets)
