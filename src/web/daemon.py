"""The web process's side of the daemon: one client per thread, a cache of
payloads (they never change), and one event pump shared by every SSE client.

The pump long-polls the daemon's event log on its own thread and hands each
event to every subscriber's bounded buffer; a subscriber whose buffer is full
(a slow browser) is dropped, never buffered without limit. It may reconnect
with Last-Event-ID and loses nothing: the event log is in the daemon's store.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any

from sugo.client import SugoClient
from sugo.errors import RequestTimeout, SugoError
from sugo.protocol import daemon_api as api

log = logging.getLogger("sugo.web")

EVENT_BUFFER = 1000  # events a subscriber may be behind before it is dropped
PUMP_WAIT = 20.0  # seconds of one long poll
PUMP_RETRY = 1.0  # seconds before asking again when the daemon does not answer
PAGE = 10000  # events per request (the daemon's limit)
PAYLOADS_KEPT = 1000  # payloads cached (the running jobs' and the pages' looked at)


class Daemon:
    """How the web process reaches the daemon: ``call(fn)`` runs ``fn(client)``
    with this thread's client (SugoClient is one-per-thread)."""

    def __init__(self, port: int, appdir: Path, host: str | None = None) -> None:
        self.port = port
        self.appdir = appdir
        self.host = host  # None: where the daemon of ``appdir`` listens (SugoClient)
        self._local = threading.local()
        self._payloads: OrderedDict[int, dict[str, Any]] = OrderedDict()  # newest last
        self._lock = threading.Lock()

    def client(self) -> SugoClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = SugoClient(self.port, self.appdir, timeout=5.0, host=self.host)
            self._local.client = client
        return client

    def new_client(self) -> SugoClient:
        return SugoClient(self.port, self.appdir, timeout=5.0, host=self.host)

    def jobs(self, ids: list[int] | None = None, payload: bool = False) -> list[dict[str, Any]]:
        """Jobs as plain dicts (every job when ``ids`` is None)."""
        client = self.client()
        req = api.Jobs(ids=ids or [], payload=payload)
        reply = client.ask_json(req)  # plain data: the API re-shapes it anyway
        jobs: list[dict[str, Any]] = reply["jobs"]
        if payload:
            with self._lock:
                for j in jobs:
                    if j.get("payload") is not None:
                        self._payloads[j["id"]] = j["payload"]
                while len(self._payloads) > PAYLOADS_KEPT:
                    self._payloads.popitem(last=False)
        return jobs

    def payload(self, jobid: int) -> dict[str, Any] | None:
        """A job's payload (asked for once, then cached: it never changes)."""
        with self._lock:
            if jobid in self._payloads:
                self._payloads.move_to_end(jobid)
                return self._payloads[jobid]
        try:
            [job] = self.jobs([jobid], payload=True)
        except SugoError:
            return None
        return job.get("payload")


class Subscriber:
    """One SSE client of the event stream: a bounded buffer, and a flag once dropped."""

    def __init__(self, loop: asyncio.AbstractEventLoop, after: int) -> None:
        self.loop = loop
        self.after = after
        self.buffer: deque[dict[str, Any]] = deque()
        self.ready = asyncio.Event()
        self.dropped = False
        self.holding = False  # while resuming: keep live events aside in `held`
        self.held: list[dict[str, Any]] = []

    def offer(self, events: list[dict[str, Any]]) -> None:
        """Loop thread: add events; drop the subscriber when its buffer is full."""
        if self.dropped:
            return
        if self.holding:
            self.held += events
            if len(self.held) > EVENT_BUFFER:
                self.dropped = True
                self.ready.set()
            return
        for e in events:
            if e["id"] <= self.after:
                continue
            if len(self.buffer) >= EVENT_BUFFER:
                self.dropped = True
                self.buffer.clear()
                break
            self.buffer.append(e)
            self.after = e["id"]
        self.ready.set()


class EventPump:
    """One long poll of the daemon's events for all SSE clients."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.last = 0  # the newest event id seen
        self.clears = 0  # events seen that change ended jobs (job.rebuilt, job.pruned)
        self.healthy = False  # following the daemon's log right now
        self._subs: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="event-pump", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def wait_started(self, timeout: float) -> bool:
        return self._started.wait(timeout)

    def subscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.add(sub)

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    def _catch_up(self, client: SugoClient) -> None:
        # "From now": skip to the newest event (pages of the daemon's limit).
        while not self._stop.is_set():
            events = client.events_json(after=self.last, limit=PAGE)
            if events:
                self.last = events[-1]["id"]
            if len(events) < PAGE:
                return

    def _run(self) -> None:
        client = self.daemon.new_client()
        while not self._stop.is_set():
            try:
                if not self._started.is_set():
                    self._catch_up(client)
                    self._started.set()
                events = client.events_json(after=self.last, limit=PAGE, wait=PUMP_WAIT)
            except (RequestTimeout, SugoError) as e:
                self.healthy = False
                log.warning("event pump: %s; asking again in %g s", e, PUMP_RETRY)
                client.close()
                self._stop.wait(PUMP_RETRY)
                continue
            self.healthy = True
            if not events:
                continue
            self.clears += sum(e["kind"] in ("job.rebuilt", "job.pruned") for e in events)
            self.last = events[-1]["id"]
            with self._lock:
                subs = list(self._subs)
            for sub in subs:
                try:
                    sub.loop.call_soon_threadsafe(sub.offer, events)
                except RuntimeError:  # its loop is closed
                    self.unsubscribe(sub)
        client.close()
