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
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sugo.jobs import RUNNER_MODULE, WRITE_PRELOAD
from sugo.jobs.folder import job_log
from sugo.platform.launcher import Launcher
from sugo.platform.logfiles import writer_log
from sugo.platform.procs import Tracked
from sugo.protocol import daemon_api as api
from sugo.protocol.endpoints import endpoint
from sugo.protocol.server import Call

log = logging.getLogger("sugo.daemon.jobs.writes")

WRITE_TIMEOUT = 600.0  # writing the results of a very long job takes a while
MAX_WRITERS = 2  # files written at once
ANSWERED_KEPT = 1024  # outcomes kept for repeated requests


@dataclass(eq=False)
class _Write:
    """One results file being written, and the requests waiting for it."""

    calls: list[Call[api.JobWriteReply]] = field(default_factory=list)


class ResultWriter:
    def __init__(self, logdir: Path, port: int, daemon: str | None = None) -> None:
        self.port = port  # the daemon's: the writers report to it, at `daemon`
        self.daemon = daemon or endpoint("127.0.0.1", port)
        self.launcher = Launcher(writer_log(logdir, port), RUNNER_MODULE, WRITE_PRELOAD, "write")
        workers = max(1, min(MAX_WRITERS, os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="writer")
        self._inflight: dict[tuple[int, str], _Write] = {}
        # Outcomes by request id: a runner that missed the reply (its request
        # timed out while the daemon was busy or stopped) asks again with the
        # same id and gets the same answer, without a second write.
        self._answered: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when a write ends

    def start(self) -> None:
        self.launcher.start()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.launcher.close()

    def spawn(self, argv: list[str], logfile: Path) -> Tracked:
        """Start ``sugo.jobs.runner`` with ``argv`` from the write fork server."""
        return self.launcher.spawn(argv, logfile)

    def write(
        self,
        jobid: int,
        jobdir: str,
        path: str,
        status: str,
        error: str | None,
        call: Call[api.JobWriteReply],
    ) -> None:
        """Write ``path`` for a running job and answer ``call`` when it is
        written. A repeated request (a runner's retry) joins the write in
        progress, or gets the answer of the write it asked for."""
        key = (jobid, path)
        with self._lock:
            if call.req_id and call.req_id in self._answered:
                _answer(call, path, self._answered[call.req_id])
                return
            write = self._inflight.get(key)
            if write is not None:
                write.calls.append(call)
                return
            write = self._inflight[key] = _Write([call])
        self._pool.submit(self._run, key, write, Path(jobdir), status, error)

    def _run(
        self, key: tuple[int, str], write: _Write, jobdir: Path, status: str, error: str | None
    ) -> None:
        jobid, path = key
        argv = [
            "write",
            str(jobid),
            "--daemon",
            self.daemon,
            f"--path={path}",
            f"--status={status}",
        ]
        if error:
            argv.append(f"--error={error}")
        problem = f"cannot write {path}: its writer ended without a word (see {jobdir}/job.log)"
        try:
            tracked = self.spawn(argv, job_log(jobdir))
            if not tracked.wait(WRITE_TIMEOUT):
                tracked.kill()
                problem = f"cannot write {path}: its writer took over {WRITE_TIMEOUT:g} s"
        except OSError as e:
            problem = f"cannot write {path}: cannot start its writer: {e}"
        # The writer reports (`written`) before it exits, so this write, if
        # still in flight here, was never reported.
        self.written(jobid, path, problem, write)

    def written(
        self, jobid: int, path: str, error: str | None, write: _Write | None = None
    ) -> None:
        """Answer the runner(s) waiting for ``path`` of ``jobid``; with
        ``write``, only if that write is still the one in flight."""
        key = (jobid, path)
        with self._lock:
            current = self._inflight.get(key)
            if current is None or (write is not None and current is not write):
                return
            del self._inflight[key]
            self._idle.notify_all()
            for call in current.calls:
                if call.req_id:
                    self._answered[call.req_id] = error
            while len(self._answered) > ANSWERED_KEPT:
                self._answered.popitem(last=False)
        if error:
            log.error("job %d: %s", jobid, error)
        for call in current.calls:
            _answer(call, path, error)

    def wait_idle(self, jobid: int, timeout: float) -> bool:
        """Wait until no file of ``jobid`` is being written; False if one still
        is after ``timeout``. Never on the loop thread: a writer reports its
        end to the loop (``job_written``)."""

        def idle() -> bool:
            return not any(key[0] == jobid for key in self._inflight)

        with self._idle:
            return self._idle.wait_for(idle, timeout)


def _answer(call: Call[api.JobWriteReply], path: str, error: str | None) -> None:
    if error is None:
        call.reply(api.JobWriteReply(respath=path))
    else:
        call.fail(error)
