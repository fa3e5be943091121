"""The runner's end of the daemon's control requests (`sugo.platform.control`):
cancel the job, take a snapshot, wake every role to poll now (a driver host
was lost). They come as signals in the fast process mode, as replies to a
``job_control`` request this runner keeps open in the portable mode.

A runner takes them before anything else, before it even asks for its job's
spec: a cancel may come in the first milliseconds of a job, and a signal that
came before its handler would kill the runner (the job would end `ce`, not
`cd`); a fork server holds them until then (`sugo.platform.forkserver`).
Whatever comes before the job runs is kept here until it does.
"""

import logging
import threading
import time
from collections.abc import Callable

from sugo import platform
from sugo.errors import RequestTimeout, SugoError
from sugo.jobs.progress import DAEMON_TIMEOUT
from sugo.jobs.roles import Shared
from sugo.platform import control
from sugo.protocol import daemon_api as api
from sugo.protocol.client import Client

log = logging.getLogger("sugo.job")

REFUSED_RETRY = 0.5  # pause before asking again after a refusal


class Controls:
    """What the daemon has asked of the runner of ``jobid``."""

    def __init__(self, jobid: int, daemon: str) -> None:
        self.jobid = jobid
        self.daemon = daemon
        self.shared = Shared()  # its cancel event is the job's
        self.snapshot = threading.Event()

    def cancel(self) -> None:
        if not self.shared.cancel.is_set():
            log.info("job %d: cancel requested", self.jobid)
        self.shared.cancel.set()
        self.shared.notify()

    def listen(self) -> None:
        """Take the daemon's control requests from now on: as signals (fast
        mode; call from the main thread) or from a thread that keeps a
        ``job_control`` open."""
        handlers: dict[str, Callable[[], None]] = {
            control.CANCEL: self.cancel,
            control.SNAPSHOT: self.snapshot.set,
            control.WAKE: self.shared.notify,
        }
        if platform.fast():
            control.install_signals(handlers)
        else:
            threading.Thread(
                target=self._requests, args=(handlers,), name="control", daemon=True
            ).start()

    def _requests(self, handlers: dict[str, Callable[[], None]]) -> None:
        # The daemon replies within CONTROL_HOLD; a longer silence means it is
        # busy or restarting: ask again (the cancel is sticky on its side).
        with Client(self.daemon, timeout=api.CONTROL_HOLD + DAEMON_TIMEOUT) as client:
            while True:
                req = api.JobControl(jobid=self.jobid, cancelled=self.shared.cancel.is_set())
                try:
                    reply = client.call(req, api.JobControlReply)
                except RequestTimeout:
                    continue
                except SugoError as e:  # refused: e.g. a daemon that does not know the job
                    log.warning("job %d: control requests: %s", self.jobid, e)
                    time.sleep(REFUSED_RETRY)
                    continue
                for action in reply.actions:
                    handler = handlers.get(action)
                    if handler is None:
                        log.warning("job %d: unknown control request %r", self.jobid, action)
                    else:
                        handler()
