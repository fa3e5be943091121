"""Store methods for the event log (``sugo events``) and the meta table
(small JSON values such as the daemon's port). A mixin of
`sugo.daemon.store.Store`."""

import json
import time
from typing import Any

from sugo.daemon.store.base import StoreBase
from sugo.daemon.store.rows import EVENT_COLS, EventRow, event_row


class EventTables(StoreBase):
    # -- events -------------------------------------------------------------

    def add_event(
        self,
        kind: str,
        subject: str,
        data: dict[str, Any] | None = None,
        *,
        now: float | None = None,
    ) -> int:
        """Append an event (e.g. kind ``job.queued``, subject ``job 3``); returns its id."""
        stamp = time.time() if now is None else now
        with self._write(f"event {kind}") as conn:
            cur = conn.execute(
                "INSERT INTO events (time, kind, subject, data) VALUES (?, ?, ?, ?)",
                (stamp, kind, subject, json.dumps(data or {})),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def list_events(self, after_id: int = 0, limit: int = 1000) -> list[EventRow]:
        """Events with id greater than ``after_id``, oldest first, at most ``limit``."""
        sql = f"SELECT {EVENT_COLS} FROM events WHERE id > ? ORDER BY id LIMIT ?"
        return self._rows(sql, (after_id, limit), event_row)

    def prune_events(self, older_than: float) -> int:
        """Delete events logged before ``older_than``; returns how many."""
        with self._write("prune events") as conn:
            return conn.execute("DELETE FROM events WHERE time < ?", (older_than,)).rowcount

    # -- meta ---------------------------------------------------------------

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` (e.g. the daemon's port)."""
        with self._write(f"meta {key}"):
            self._upsert("meta", ("key", "value"), (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""
        value = self._one("meta", "value", "key", key, lambda r: json.loads(r[0]))
        return default if value is None else value

    def delete_meta(self, key: str) -> None:
        """Forget ``key`` (no error if absent)."""
        with self._write(f"meta {key}") as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
