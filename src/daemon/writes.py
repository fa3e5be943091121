"""Results files, written for the daemon by processes forked from the ``write``
fork server (which has numpy and h5netcdf loaded), a few at a time.

A job runner asks for its results file (or a snapshot) with ``job_write``
and waits for the reply; a finalize (after a runner died) and a rebuild go
through the same fork server. So the NetCDF stack is loaded once, not in
every runner, and however many jobs end together, only a few files are
written at once: memory stays bounded and the writes do not starve the
running jobs of CPU.
"""

import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from sugo.daemon.launcher import Launcher
from sugo.daemon.processes import Tracked
from sugo.protocol.client import endpoint
from sugo.protocol.server import Call

if TYPE_CHECKING:
    from sugo.daemon.core import Daemon

log = logging.getLogger("sugo.daemon.writes")

WRITE_TIMEOUT = 600.0  # writing the results of a very long job takes a while
MAX_WRITERS = 2  # files written at once


class ResultWriter:
    def __init__(self, daemon: "Daemon") -> None:
        self.d = daemon
        self.launcher = Launcher(daemon.settings.logdir / f"writer-{daemon.port}.log", "write")
        workers = max(1, min(MAX_WRITERS, os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="writer")
        self._inflight: dict[tuple[int, str], list[Call]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self.launcher.start()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.launcher.close()

    def spawn(self, argv: list[str], logfile: Path) -> Tracked:
        """Start ``sugo.jobs.runner`` with ``argv`` from the write fork server."""
        return self.launcher.spawn(argv, logfile)

    def write(
        self, jobid: int, jobdir: str, path: str, status: str, error: str | None, call: Call
    ) -> None:
        """Write ``path`` for a running job and answer ``call`` when it is
        written. A repeated request (a runner's retry) joins the write in progress."""
        key = (jobid, path)
        with self._lock:
            waiting = self._inflight.get(key)
            if waiting is not None:
                waiting.append(call)
                return
            self._inflight[key] = [call]
        self._pool.submit(self._run, key, Path(jobdir), status, error)

    def _run(self, key: tuple[int, str], jobdir: Path, status: str, error: str | None) -> None:
        jobid, path = key
        argv = [
            "write",
            str(jobid),
            "--daemon",
            endpoint("127.0.0.1", self.d.port),
            f"--path={path}",
            f"--status={status}",
        ]
        if error:
            argv.append(f"--error={error}")
        problem = f"cannot write {path}: its writer ended without a word (see {jobdir}/job.log)"
        try:
            tracked = self.spawn(argv, jobdir / "job.log")
            if not tracked.wait(WRITE_TIMEOUT):
                tracked.signal(signal.SIGKILL)
                problem = f"cannot write {path}: its writer took over {WRITE_TIMEOUT:g} s"
        except OSError as e:
            problem = f"cannot write {path}: cannot start its writer: {e}"
        # The writer reports (`written`) before it exits, so a write still in
        # flight here was never reported.
        self.written(jobid, path, problem)

    def written(self, jobid: int, path: str, error: str | None) -> None:
        """Answer the runner(s) waiting for ``path`` of ``jobid``."""
        with self._lock:
            calls = self._inflight.pop((jobid, path), [])
        if calls and error:
            log.error("job %d: %s", jobid, error)
        for call in calls:
            if error is None:
                call.reply({"respath": path})
            else:
                call.fail(error)
