"""The daemon's in-loop event bus: managers react to each other's events
instead of calling each other.

Every event the daemon records (``Events.emit``: the store, `sugo events`,
hooks) is also published here, and a manager may publish a signal that is
not recorded (``Bus.publish``: e.g. ``driver.ready``, ``host.lost``). A
subscriber runs at once, on the loop thread, in the order it subscribed: the
order of reactions is fixed, and no state changes between an event and the
reactions to it. A subscriber that raises is logged; the emitter and the
other subscribers go on.

Subscribers must be idempotent: an event whose recording the database
refused is emitted again (``until_stored``), and published again with it.

The kinds managers react to:

- recorded: ``job.queued``, ``job.ended``, ``pipeline.freed``,
  ``pipeline.ready``, ``pipeline.ejected``, ``maintenance.done``,
  ``component.status``, ``component.registered``, ``component.failed``,
  ``daemon.started``, ... (every ``Events.emit``)
- in-process only: ``driver.ready`` (a host registered its components),
  ``host.lost`` (a driver's host died, hung, or its agent went:
  ``data["driver"]``), ``daemon.reloaded`` (a reload was applied).
"""

import fnmatch
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("sugo.daemon.bus")

# In-process signals (not recorded in the event log).
DRIVER_READY = "driver.ready"
HOST_LOST = "host.lost"
RELOADED = "daemon.reloaded"


@dataclass(frozen=True)
class Event:
    """One event as subscribers see it. ``about``: the object it is about
    (e.g. the ``JobRow`` of ``job.ended``), in-process only, never recorded."""

    kind: str
    subject: str
    data: dict[str, Any] = field(default_factory=dict)
    about: Any = None


Subscriber = Callable[[Event], None]


class Bus:
    def __init__(self) -> None:
        self._subs: list[tuple[tuple[str, ...], Subscriber]] = []

    def subscribe(self, kinds: str | tuple[str, ...], fn: Subscriber) -> None:
        """Call ``fn(event)`` for every event of ``kinds`` (names, or
        ``fnmatch`` patterns such as ``"job.*"``)."""
        self._subs.append(((kinds,) if isinstance(kinds, str) else kinds, fn))

    def publish(self, kind: str, subject: str = "", about: Any = None, **data: Any) -> None:
        """Deliver an event to its subscribers now (loop thread)."""
        self.deliver(Event(kind, subject, data, about))

    def deliver(self, event: Event) -> None:
        for kinds, fn in list(self._subs):
            if not any(k == event.kind or fnmatch.fnmatchcase(event.kind, k) for k in kinds):
                continue
            try:
                fn(event)
            except Exception:
                log.exception("%s %s: a subscriber failed", event.kind, event.subject)
