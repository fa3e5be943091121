"""Control requests to job runners (cancel, snapshot, poll now), delivered
by the process mode (`sugo.platform`): signals in the fast mode; in the
portable mode, replies to the runners' ``job_control`` requests.

In the portable mode each runner keeps one ``job_control`` request open: the
daemon holds it (no reply) until it has an action for that runner, or for
CONTROL_HOLD seconds, and the runner asks again at once. So an action
reaches a runner as fast as a signal would, the runner's poll loop is never
interrupted (a thread of its own waits), and a runner re-attached after a
daemon restart reconnects by itself. A cancel is sticky: a runner whose job
is cancelling is told so on every request until it says it knows (a reply
lost with a daemon restart is made good by the next request).
"""

import logging
import threading
from collections.abc import Callable

from sugo import platform
from sugo.platform import control
from sugo.platform.procs import Tracked
from sugo.protocol import daemon_api as api
from sugo.protocol.server import DEFERRED, Call, Deferred

log = logging.getLogger("sugo.daemon.jobs.runctl")


class RunnerControl:
    def __init__(
        self, call_later: Callable[[float, Callable[[], None]], None], fast: bool | None = None
    ) -> None:
        self.fast = platform.fast() if fast is None else fast
        self._call_later = call_later  # the loop's (loop thread only)
        self._pending: dict[int, list[str]] = {}
        self._held: dict[int, Call[api.JobControlReply]] = {}
        self._lock = threading.Lock()

    def send(self, jobid: int, tracked: Tracked | None, action: str) -> None:
        """Deliver ``action`` to the runner of ``jobid`` (``tracked``: its process)."""
        if self.fast:
            if tracked is not None:
                control.send_signal(tracked, action)
            return
        with self._lock:
            actions = self._pending.setdefault(jobid, [])
            if action not in actions:
                actions.append(action)
            call = self._held.pop(jobid, None)
            if call is not None:
                del self._pending[jobid]
        if call is not None:
            call.reply(api.JobControlReply(actions=actions))

    def on_poll(
        self, req: api.JobControl, call: Call[api.JobControlReply], cancelling: bool
    ) -> api.JobControlReply | Deferred:
        """Answer a runner's ``job_control`` (loop thread): at once with its
        pending actions, else later. ``cancelling``: its job is being cancelled."""
        with self._lock:
            actions = self._pending.pop(req.jobid, [])
            if cancelling and control.CANCEL not in actions:
                actions.append(control.CANCEL)
            if req.cancelled and control.CANCEL in actions:
                actions.remove(control.CANCEL)
            superseded = None
            if not actions:
                superseded = self._held.pop(req.jobid, None)
                self._held[req.jobid] = call
        if superseded is not None:  # the runner gave up on it and asked again
            superseded.reply(api.JobControlReply())
        if actions:
            return api.JobControlReply(actions=actions)
        self._call_later(api.CONTROL_HOLD, lambda: self._expire(req.jobid, call))
        return DEFERRED

    def _expire(self, jobid: int, call: Call[api.JobControlReply]) -> None:
        with self._lock:
            if self._held.get(jobid) is not call:
                return
            del self._held[jobid]
        call.reply(api.JobControlReply())

    def forget(self, jobid: int) -> None:
        """The job ended: drop what was not delivered, release its request."""
        with self._lock:
            self._pending.pop(jobid, None)
            call = self._held.pop(jobid, None)
        if call is not None:
            call.reply(api.JobControlReply())
