"""The daemon's event log: every change is recorded in the store, can be
followed live (`sugo events --follow`, a long poll), and can run hooks.

Hooks (`[[hooks]]` in settings.toml) run in the worker pool with a timeout,
the event as one JSON document on stdin, so a slow hook never blocks the daemon.
"""

import fnmatch
import json
import logging
import shlex
import subprocess
from typing import TYPE_CHECKING, Any

from sugo.daemon.bus import Bus, Event
from sugo.daemon.store import EventRow
from sugo.protocol import daemon_api as api
from sugo.protocol.server import ACTOR, DEFERRED, Call, Deferred

if TYPE_CHECKING:
    from sugo.config.settings import HookSettings
    from sugo.daemon.runtime import Runtime

log = logging.getLogger("sugo.daemon.events")

MAX_WAIT = 60.0


class Events:
    def __init__(self, rt: "Runtime", bus: Bus) -> None:
        self.rt = rt
        self.bus = bus
        self._waiters: list[tuple[Call[api.EventsReply], int, int]] = []

    def handlers(self) -> dict[type, Any]:
        return {api.Events: self.on_events}

    def emit(self, kind: str, subject: str, about: Any = None, **data: Any) -> None:
        """Record one event, e.g. ``emit("job.queued", "job 3", pipeline=None)``;
        one caused by a request with ``by`` (a web user) records who.

        The bus delivers it to the daemon's subscribers first (``about``, the
        object it is about, goes to them only): their reactions do not wait
        for the database, and events they emit are recorded before this one,
        as when the emitter made those changes itself."""
        if ACTOR.get() and "by" not in data:
            data["by"] = ACTOR.get()
        self.bus.deliver(Event(kind, subject, dict(data), about))
        event_id = self.rt.store.add_event(kind, subject, data)
        log.debug("%s %s %s", kind, subject, data or "")
        if self._waiters:
            self.rt.loop.post(self._wake)
        hooks = [h for h in self.rt.settings.hooks if _matches(h, kind, data)]
        if hooks:
            event = {"id": event_id, "kind": kind, "subject": subject, "data": data}
            for hook in hooks:
                try:
                    self.rt.pool.submit(run_hook, hook, event)
                except RuntimeError:  # the pool is gone: the daemon is stopping
                    log.warning("hook for %s not run: daemon stopping", kind)

    def on_events(self, req: api.Events, call: Call[api.EventsReply]) -> api.EventsReply | Deferred:
        rows = self.rt.store.list_events(req.after, max(1, min(req.limit, 10000)))
        if rows or req.wait <= 0:
            return api.EventsReply(events=[event_info(r) for r in rows])
        self._waiters.append((call, req.after, req.limit))
        self.rt.loop.call_later(min(req.wait, MAX_WAIT), lambda: self._expire(call))
        return DEFERRED

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for call, after, limit in waiters:
            rows = self.rt.store.list_events(after, max(1, min(limit, 10000)))
            if rows:
                call.reply(api.EventsReply(events=[event_info(r) for r in rows]))
            else:
                self._waiters.append((call, after, limit))

    def _expire(self, call: Call[api.EventsReply]) -> None:
        for i, (c, _, _) in enumerate(self._waiters):
            if c is call:
                del self._waiters[i]
                call.reply(api.EventsReply(events=[]))
                return


def event_info(row: EventRow) -> api.EventInfo:
    """An event row as the protocol's EventInfo."""
    return api.EventInfo(row.id, row.time, row.kind, row.subject, row.data)


def _matches(hook: "HookSettings", kind: str, data: dict[str, Any]) -> bool:
    if not any(fnmatch.fnmatchcase(kind, pattern) for pattern in hook.events):
        return False
    return all(data.get(k) == v for k, v in hook.where.items())


def run_hook(hook: "HookSettings", event: dict[str, Any]) -> None:
    """Run one hook (worker thread); its failure is logged, never raised."""
    argv = shlex.split(hook.command) if isinstance(hook.command, str) else list(hook.command)
    try:
        done = subprocess.run(
            argv,
            input=json.dumps(event),
            capture_output=True,
            text=True,
            timeout=hook.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.error("hook %s for %s: killed after %g s", argv[0], event["kind"], hook.timeout)
        return
    except OSError as e:
        log.error("hook %s for %s: cannot run: %s", argv[0], event["kind"], e)
        return
    if done.returncode:
        log.error(
            "hook %s for %s: exit %d: %s",
            argv[0], event["kind"], done.returncode, done.stderr.strip()[-500:],
        )  # fmt: skip
    else:
        log.info("hook %s ran for %s %s", argv[0], event["kind"], event["subject"])
