"""Store methods for the instrument registry's side tables: component health
and maintenance counters. A mixin of `sugo.daemon.store.Store`."""

import json
import time
from typing import Any

from sugo.daemon.store.base import StoreBase
from sugo.daemon.store.rows import MaintenanceRow, TaskRow, json_value

__all__ = ["MaintenanceRow", "RegistryTables", "TaskRow"]  # TaskRow: for sugo.daemon.jobs


class RegistryTables(StoreBase):
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
        return {name: json_value(h) for name, h in rows}

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
