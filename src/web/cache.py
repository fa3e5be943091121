"""Answers the daemon gave, kept while nothing has changed.

Every change in sugo is an event in the daemon's log, so "has anything changed
since?" is one cheap request (events after the last id seen, usually none).
The status is kept while no event has happened, at most MAX_AGE seconds (a
component's health text may change without an event). The job list keeps
each ended job's JSON for good (an ended job never changes, except a rebuild
or a prune, which are events that clear it) and asks the daemon only for the
unfinished jobs and the ids that are new: `GET /api/v1/jobs` with years of
history costs what the running jobs cost.

Not thread-safe on its own: callers hold ``lock``.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.web.jobs import FINAL, job_json

if TYPE_CHECKING:
    from sugo.client import SugoClient
    from sugo.web.daemon import EventPump

MAX_AGE = 1.0  # seconds an unchanged status or job list is served again
PAGE = 10000
CLEARS = ("job.rebuilt", "job.pruned")  # events after which ended jobs may differ


def _encode(data: Any) -> bytes:
    from sugo.web.sse import dumps

    return dumps(data)


class Changes:
    """The newest event id seen, and whether events came since: from the event
    pump while it follows the daemon (no request at all), else by asking."""

    def __init__(self) -> None:
        self.last = -1  # unknown
        self.pump: EventPump | None = None
        self._seen: tuple[int, int] | None = None  # the pump's (last, clears)
        self._forced = False

    def forget(self) -> None:
        """The next call reports a change (after a write through this server,
        whose event the pump may not have yet)."""
        self._forced = True

    def unchanged(self) -> bool:
        """Known without asking: the pump follows the daemon and saw nothing new."""
        pump = self.pump
        return (
            pump is not None and pump.healthy and not self._forced
            and self._seen == (pump.last, pump.clears)
        )  # fmt: skip

    def since(self, client: SugoClient) -> list[str]:
        """The kinds of the events since the last call ([""] the first time)."""
        forced, self._forced = self._forced, False
        pump = self.pump
        if pump is not None and pump.healthy:
            now = (pump.last, pump.clears)
            seen, self._seen = self._seen, now
            if seen is None:
                return [""]
            if now[1] != seen[1]:
                return ["job.pruned"]
            return ["?"] if forced or now != seen else []
        self._seen = None
        if self.last < 0:
            self.last = 0
            kinds = [""]
        else:
            kinds = ["?"] if forced else []
        while True:
            events = client.events_json(after=self.last, limit=PAGE)
            if events:
                self.last = events[-1]["id"]
                kinds += [e["kind"] for e in events]
            if len(events) < PAGE:
                return kinds


class StatusCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changes = Changes()
        self._body: bytes | None = None
        self._at = 0.0

    def cached(self) -> bytes | None:
        """The body, if it can be served without asking the daemon (else None);
        never waits (the event loop calls it)."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            fresh = time.monotonic() - self._at <= MAX_AGE
            if self._body is not None and fresh and self.changes.unchanged():
                return self._body
            return None
        finally:
            self.lock.release()

    def get(self, client: SugoClient) -> bytes:
        with self.lock:
            changed = self.changes.since(client)
            if self._body is None or changed or time.monotonic() - self._at > MAX_AGE:
                self._body = _encode(client.ask_json(api.Status()))
                self._at = time.monotonic()
            return self._body


class JobsCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changes = Changes()
        self._ended: dict[int, tuple[dict[str, Any], bytes]] = {}  # id -> (job, its JSON)
        self._max_id = 0
        self._body: bytes | None = None
        self._jobs: list[dict[str, Any]] = []
        self._open: set[int] = set()  # ids unfinished at the last look
        self._at = 0.0

    def _full(self, client: SugoClient) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = client.ask_json(api.Jobs())["jobs"]
        self._ended = {j["id"]: (j, _encode(job_json(j))) for j in jobs if j["status"] in FINAL}
        self._max_id = max((j["id"] for j in jobs), default=0)
        return [j for j in jobs if j["status"] not in FINAL]

    def _update(self, client: SugoClient) -> list[dict[str, Any]]:
        """The unfinished jobs; newly ended ones join ``_ended``."""
        reply = client.ask_json(api.Jobs(recent=1))["jobs"]  # unfinished, and the newest job
        newest = max((j["id"] for j in reply), default=self._max_id)
        open_ids = {j["id"] for j in reply if j["status"] not in FINAL}
        missing = [i for i in range(self._max_id + 1, newest + 1) if i not in open_ids]
        missing += [i for i in self._open if i not in open_ids and i <= self._max_id]
        if missing:
            try:
                got = client.ask_json(api.Jobs(ids=missing))["jobs"]
            except SugoError:  # one of them is gone (pruned): start again
                return self._full(client)
            for j in got:
                if j["status"] in FINAL:
                    self._ended[j["id"]] = (j, _encode(job_json(j)))
        self._max_id = max(self._max_id, newest)
        return [j for j in reply if j["status"] not in FINAL]

    def cached(self) -> bytes | None:
        """The body, if it can be served without asking the daemon (else None);
        never waits (the event loop calls it)."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            fresh = not self._open or time.monotonic() - self._at < MAX_AGE
            if self._body is not None and fresh and self.changes.unchanged():
                return self._body
            return None
        finally:
            self.lock.release()

    def jobs(self, client: SugoClient, payload: Any) -> tuple[list[dict[str, Any]], bytes]:
        """(every job as the daemon has it, the body of `GET /api/v1/jobs`);
        ``payload(id)`` gives a running job's payload (for its progress)."""
        with self.lock:
            changed = self.changes.since(client)
            fresh = not self._open or time.monotonic() - self._at < MAX_AGE  # ETAs age
            if self._body is not None and not changed and fresh:
                return self._jobs, self._body
            if not self._ended or any(k in CLEARS or not k for k in changed):
                unfinished = self._full(client)
            else:
                unfinished = self._update(client)
            self._open = {j["id"] for j in unfinished}
            parts = {i: body for i, (_, body) in self._ended.items()}
            for j in unfinished:
                pl = payload(j["id"]) if j["status"] in ("r", "rd") else None
                parts[j["id"]] = _encode(job_json(j, pl))
            ids = sorted(parts)
            by_id = {i: job for i, (job, _) in self._ended.items()}
            by_id.update({j["id"]: j for j in unfinished})
            self._jobs = [by_id[i] for i in ids]
            self._body = b'{"jobs":[' + b",".join(parts[i] for i in ids) + b"]}"
            self._at = time.monotonic()
            return self._jobs, self._body
