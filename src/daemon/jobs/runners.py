"""The job runners the daemon watches: one process per running job, found
by job id, told to cancel, snapshot or poll now (`RunnerControl`), and
watched by a thread that reports each runner's exit to the loop.

The watcher thread reads the table under ``lock``; every change is made on
the loop thread.
"""

import logging
import threading
from collections.abc import Callable

from sugo.daemon.jobs.runctl import RunnerControl
from sugo.daemon.runtime import Loop
from sugo.platform.exits import ExitWatch
from sugo.platform.procs import Tracked

log = logging.getLogger("sugo.daemon.jobs")

WATCH_EVERY = 0.2  # a new job runner is watched after at most this long


class Runners:
    def __init__(self, loop: Loop) -> None:
        self._procs: dict[int, Tracked] = {}
        self._lock = threading.Lock()  # guards `_procs` for the watcher thread
        self._stop_watch = threading.Event()
        self.control = RunnerControl(loop.call_later)

    def add(self, jobid: int, tracked: Tracked) -> None:
        """Watch the runner of ``jobid`` from now on, whatever the store says."""
        with self._lock:
            self._procs[jobid] = tracked

    def drop(self, jobid: int, pid: int | None) -> bool:
        """Stop watching the runner ``pid`` of ``jobid``; False (and nothing
        changes) when another process runs the job now."""
        with self._lock:
            if jobid in self._procs and self._procs[jobid].pid != pid:
                return False
            self._procs.pop(jobid, None)
        return True

    def release(self, jobid: int) -> None:
        """The job has ended: forget its runner and its control requests."""
        with self._lock:
            self._procs.pop(jobid, None)
        self.control.forget(jobid)

    def tell(self, jobid: int, action: str) -> None:
        """Send a control request (`sugo.platform.control`) to the job's runner."""
        with self._lock:
            tracked = self._procs.get(jobid)
        self.control.send(jobid, tracked, action)

    def items(self) -> list[tuple[int, Tracked]]:
        with self._lock:
            return list(self._procs.items())

    def pids(self) -> list[int]:
        with self._lock:
            return [t.pid for t in self._procs.values()]

    def start_watch(self, on_exit: Callable[[int, int], None]) -> None:
        """Call ``on_exit(jobid, pid)`` (watcher thread) when a runner ends."""

        def watch() -> None:
            exits: ExitWatch[int] = ExitWatch()
            try:
                while not self._stop_watch.is_set():
                    with self._lock:
                        runners = dict(self._procs)
                    # Sleeps until a runner ends; new runners are looked at
                    # after at most WATCH_EVERY.
                    for jobid in exits.wait(runners, WATCH_EVERY):
                        on_exit(jobid, runners[jobid].pid)
            finally:
                exits.close()

        threading.Thread(target=watch, name="watch-runners", daemon=True).start()

    def stop_watch(self) -> None:
        self._stop_watch.set()
