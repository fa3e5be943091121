"""The daemon's event log: every change is recorded in the store and logged."""

import logging
from typing import Any

from sugo.daemon.store import Store

log = logging.getLogger("sugo.daemon.events")


class Events:
    def __init__(self, store: Store) -> None:
        self.store = store

    def emit(self, kind: str, subject: str, **data: Any) -> None:
        """Record one event, e.g. ``emit("job.queued", "job 3", pipeline=None)``."""
        self.store.add_event(kind, subject, data)
        log.debug("%s %s %s", kind, subject, data or "")
