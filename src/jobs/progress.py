"""The progress of a running job, sent to the daemon from a thread of its own."""

import logging
import queue
import threading
import time
from typing import Any

from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.client import Client

log = logging.getLogger("sugo.job")

DAEMON_TIMEOUT = 2.0  # per request to the daemon


class Reporter:
    """Sends progress to the daemon from its own thread; never blocks a role."""

    def __init__(self, daemon: str, jobid: int, client: Client | None = None) -> None:
        """``client``: a connection to ``daemon`` to use (and close) from now
        on, only from the reporter's thread."""
        self.daemon = daemon
        self.jobid = jobid
        self.client = client or Client(daemon, timeout=DAEMON_TIMEOUT)
        self.queue: queue.SimpleQueue[api.JobEvent | None] = queue.SimpleQueue()
        # Each task's end, also sent with the job's end: a progress event may
        # reach no daemon (a SIGTERM or a restart while the task ended).
        self.outcomes: dict[int, api.TaskOutcome] = {}
        self.thread = threading.Thread(target=self._run, name="reporter", daemon=True)
        self.thread.start()

    def event(self, kind: str, **kw: Any) -> None:
        ev = api.JobEvent(jobid=self.jobid, kind=kind, **kw)
        if kind in ("task_ended", "task_cancelled"):
            state = (
                "cancelled" if kind == "task_cancelled" else "error" if ev.error else "completed"
            )
            self.outcomes[ev.task_index] = api.TaskOutcome(
                index=ev.task_index, state=state, points=ev.points, error=ev.error,
                ended_at=time.time(),
            )  # fmt: skip
        self.queue.put(ev)

    def _run(self) -> None:
        with self.client as client:
            while (ev := self.queue.get()) is not None:
                try:
                    client.call(ev, retries=1)
                except SugoError as e:
                    log.warning("job %d: progress not reported (%s): %s", self.jobid, ev.kind, e)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(DAEMON_TIMEOUT * 3)
