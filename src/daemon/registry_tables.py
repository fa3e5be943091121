"""Store tables of the instrument registry: component health, maintenance
counters and job task progress. A mixin of `Store` (same connection, same
single-writer rules), kept apart so each module stays small."""

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import msgspec


class TaskRow(msgspec.Struct):
    jobid: int
    index: int
    role: str
    technique: str
    state: str  # pending, running, completed, cancelled, error
    started_at: float | None = None
    ended_at: float | None = None
    points: int = 0
    error: str | None = None


class MaintenanceRow(msgspec.Struct, frozen=True):
    device: str
    label: str
    used: float
    since: float
    expired: bool


class RegistryTables:
    _conn: sqlite3.Connection

    def _write(self, what: str) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    # -- component health -------------------------------------------------------

    def set_health(self, name: str, health: dict[str, Any]) -> None:
        with self._write(f"health {name}") as conn:
            conn.execute(
                "INSERT INTO component_health (name, health, updated) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET health = excluded.health,"
                " updated = excluded.updated",
                (name, json.dumps(health), time.time()),
            )

    def all_health(self) -> dict[str, dict[str, Any]]:
        rows = self._conn.execute("SELECT name, health FROM component_health").fetchall()
        return {name: json.loads(h) for name, h in rows}

    def get_health(self, name: str) -> dict[str, Any] | None:
        r = self._conn.execute(
            "SELECT health FROM component_health WHERE name = ?", (name,)
        ).fetchone()
        return None if r is None else dict(json.loads(r[0]))

    # -- maintenance ------------------------------------------------------------

    def maintenance_items(self) -> list[MaintenanceRow]:
        rows = self._conn.execute(
            "SELECT device, label, used, since, expired FROM maintenance ORDER BY device, label"
        ).fetchall()
        return [MaintenanceRow(d, label, u, s, bool(e)) for d, label, u, s, e in rows]

    def ensure_maintenance(self, device: str, label: str) -> None:
        """Start counting an item (a new one starts at zero, now)."""
        with self._write(f"maintenance {device}/{label}") as conn:
            conn.execute(
                "INSERT OR IGNORE INTO maintenance (device, label, used, since)"
                " VALUES (?, ?, 0, ?)",
                (device, label, time.time()),
            )

    def add_maintenance_use(self, device: str, label: str, amount: float) -> None:
        with self._write(f"maintenance {device}/{label}") as conn:
            conn.execute(
                "UPDATE maintenance SET used = used + ? WHERE device = ? AND label = ?",
                (amount, device, label),
            )

    def set_maintenance_expired(self, device: str, label: str, expired: bool) -> None:
        with self._write(f"maintenance {device}/{label}") as conn:
            conn.execute(
                "UPDATE maintenance SET expired = ? WHERE device = ? AND label = ?",
                (int(expired), device, label),
            )

    def reset_maintenance(self, device: str, label: str) -> bool:
        with self._write(f"maintenance {device}/{label}") as conn:
            cur = conn.execute(
                "UPDATE maintenance SET used = 0, since = ?, expired = 0"
                " WHERE device = ? AND label = ?",
                (time.time(), device, label),
            )
            return cur.rowcount > 0

    # -- job tasks --------------------------------------------------------------

    def add_tasks(self, rows: list[TaskRow]) -> None:
        with self._write("job tasks") as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO job_tasks (jobid, idx, role, technique, state)"
                " VALUES (?, ?, ?, ?, ?)",
                [(r.jobid, r.index, r.role, r.technique, r.state) for r in rows],
            )

    def update_task(self, jobid: int, index: int, **fields: Any) -> None:
        allowed = {"state", "started_at", "ended_at", "points", "error"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown task fields: {sorted(bad)}")
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)  # names from the whitelist above
        with self._write(f"job {jobid} task {index}") as conn:
            conn.execute(
                f"UPDATE job_tasks SET {sets} WHERE jobid = ? AND idx = ?",
                (*fields.values(), jobid, index),
            )

    def tasks_of(self, jobid: int) -> list[TaskRow]:
        return list(self._tasks("WHERE jobid = ?", (jobid,)))

    def tasks_of_jobs(self, jobids: list[int]) -> dict[int, list[TaskRow]]:
        out: dict[int, list[TaskRow]] = {j: [] for j in jobids}
        if not jobids:
            return out
        marks = ", ".join("?" * len(jobids))
        for row in self._tasks(f"WHERE jobid IN ({marks})", tuple(jobids)):
            out[row.jobid].append(row)
        return out

    def _tasks(self, where: str, params: tuple[Any, ...]) -> Iterator[TaskRow]:
        sql = (
            "SELECT jobid, idx, role, technique, state, started_at, ended_at, points, error"
            f" FROM job_tasks {where} ORDER BY jobid, idx"
        )
        for r in self._conn.execute(sql, params).fetchall():
            yield TaskRow(*r)
