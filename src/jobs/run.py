"""The run mode: one running job. Its components are reset (their constants
kept for the results file), each role runs in its own thread (`sugo.jobs.roles`),
snapshots are taken on request or on a schedule, and at the end the
components are reset again, the daemon's writer writes the results file
(atomically) from the staging store, and the daemon is told how the job ended
(also in ``final.json``, should the daemon not answer). A runner imports no
numpy: it moves the driver host's binary frames to disk as they are.
"""

import logging
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

from sugo.errors import RequestFailed, RequestTimeout, SugoError
from sugo.jobs.controls import Controls
from sugo.jobs.folder import FINAL_FILE, save_constants, staged_files, staging_dir, write_json
from sugo.jobs.hostcalls import HOST_TIMEOUT, patient_request
from sugo.jobs.progress import DAEMON_TIMEOUT, Reporter
from sugo.jobs.results import reason, write_job_file
from sugo.jobs.roles import RoleRunner
from sugo.jobs.staging_writer import StagingWriter
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.client import Client, request_id

log = logging.getLogger("sugo.job")

DONE_DEADLINE = 30.0  # how long to keep telling the daemon the job ended
DONE_RETRY = 0.5  # pause between attempts (the daemon may refuse while its database is locked)
DONE_RETRY_LATE = 5.0  # ...after DONE_DEADLINE, while final.json cannot be written either
# Results are written by the daemon's writer. While the daemon answers pings the
# runner keeps waiting (a repeated request joins the write in progress, which
# may be queued behind others); a daemon that is gone is not waited for.
WRITE_ATTEMPT = 2.0  # seconds per job_write request (repeated with the same id)
WRITE_DEADLINE = 900.0


class JobRunner:
    """The run mode of one job's runner, from its spec to the daemon told of its end."""

    def __init__(
        self,
        spec: api.JobSpec,
        daemon: str,
        controls: Controls | None = None,
        client: Client | None = None,
    ) -> None:
        self.spec = spec
        self.jobid = spec.jobid
        self.daemon = daemon
        self.jobdir = Path(spec.jobdir)
        # The daemon's control requests, taken since before the spec came.
        self.controls = controls or Controls(spec.jobid, daemon)
        self.shared = self.controls.shared
        self.snapshot_requested = self.controls.snapshot
        self.reporter = Reporter(daemon, spec.jobid, client)  # (it owns the client now)
        self.constants: dict[str, Any] = {}  # role -> its component's constants

    def run(self) -> int:
        spec = self.spec
        log.info("job %d: running %d role(s)", self.jobid, len(spec.roles))
        self._reset_components("start")
        save_constants(self.jobdir, self.constants)
        with StagingWriter(
            self.jobdir, fsync=spec.fsync, fsync_interval=spec.fsync_interval
        ) as staging:
            roles = [RoleRunner(r, self, self.shared, staging) for r in spec.roles]
            snapper = threading.Thread(target=self._snapshots, name="snapshots", daemon=True)
            snapper.start()
            for r in roles:
                r.thread.start()
            for r in roles:
                r.thread.join()
        self._reset_components("end", frozenset(self.shared.lost_hosts))
        if self.shared.failed.is_set():
            status, error = "ce", "; ".join(self.shared.errors)
        elif self.shared.cancel.is_set():
            status, error = "cd", None
        else:
            status, error = "c", None
        respath: str | None = spec.respath
        problem = self._write(spec.respath, status, error)
        if problem is not None:
            status = "ce"
            staged = staging_dir(self.jobdir)
            # Say the data is kept only where it is: the job folder may have
            # been deleted under the job, taking the staged data with it.
            if staged_files(self.jobdir):
                kept = f"the data is kept in {staged} ('sugo job rebuild {self.jobid}')"
            else:
                kept = f"no staged data is left: the job folder {self.jobdir} was removed"
            error = f"{error + '; ' if error else ''}{problem}; {kept}"
            respath = None
        self._done(status, error, respath)
        return 0

    def _reset_components(self, when: str, skip: frozenset[str] = frozenset()) -> None:
        """Reset every component at once (a reset may be slow); skip lost hosts."""

        def reset(r: api.RoleSpec) -> None:
            comp = r.component
            req = host_api.DevReset(address=comp.address, channel=comp.channel)
            try:
                with Client(r.host, timeout=HOST_TIMEOUT) as client:
                    reply, _ = patient_request(client, req, r.host, r.verb_timeout)
                    if not reply.ok:
                        raise RequestFailed(reply.error or "reset failed")
                    if when == "start":  # the constants go into the results file
                        self.constants[r.role] = self._constants(client, comp)
            except SugoError as e:
                log.warning("job %d: reset of %s at %s failed: %s", self.jobid, comp.name, when, e)

        threads = [
            threading.Thread(target=reset, args=(r,), daemon=True)
            for r in self.spec.roles
            if r.host not in skip
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()  # each is bounded by its driver's verb_timeout

    def _constants(self, client: Client, comp: api.ComponentInfo) -> Any:
        try:
            return client.call(host_api.DevConstants(address=comp.address, channel=comp.channel))
        except SugoError as e:
            log.warning("job %d: constants of %s: %s", self.jobid, comp.name, e)
            return {}

    def _snapshots(self) -> None:
        interval = self.spec.snapshot_interval
        next_at = time.monotonic() + interval if interval else None
        while True:
            timeout = None if next_at is None else max(0.0, next_at - time.monotonic())
            asked = self.snapshot_requested.wait(timeout)
            self.snapshot_requested.clear()
            if not asked and next_at is not None:
                next_at += interval or 0
            problem = self._write(self.spec.snappath, "r", None)
            if problem is None:
                self.reporter.event("snapshot", path=self.spec.snappath)
            else:
                self.reporter.event("snapshot", error=problem)

    def _write(self, path: str, status: str, error: str | None) -> str | None:
        """Have the results (or a snapshot) file written from the staging store;
        None when it is written, else what went wrong.

        The daemon's writer does it: a process forked from a parent that has
        NetCDF loaded, so this runner never loads it. Should the daemon not
        answer, the file is written here (the slow way: cold imports).
        """
        req = api.JobWrite(id=request_id(), jobid=self.jobid, path=path, status=status, error=error)
        deadline = time.monotonic() + WRITE_DEADLINE
        with Client(self.daemon, timeout=WRITE_ATTEMPT) as client:
            while True:
                try:
                    client.call(req)
                    return None
                except RequestFailed as e:
                    log.error("job %d: %s not written: %s", self.jobid, path, e)
                    return str(e)
                except RequestTimeout:
                    if time.monotonic() > deadline or not self._daemon_answers():
                        break
        log.warning("job %d: the daemon does not answer; writing %s here", self.jobid, path)
        try:
            write_job_file(self.spec, Path(path), status, error)
            return None
        except Exception as e:
            log.exception("job %d: %s not written", self.jobid, path)
            return f"cannot write {path}: {reason(e)}"

    def _daemon_answers(self) -> bool:
        try:
            with Client(self.daemon, timeout=1.0) as client:
                client.call(api.Ping())
            return True
        except SugoError:
            return False

    def _done(self, status: str, error: str | None, respath: str | None) -> None:
        tasks = sorted(self.reporter.outcomes.values(), key=lambda o: o.index)
        record = {
            "status": status, "error": error, "respath": respath,
            "tasks": [msgspec.structs.asdict(o) for o in tasks],
        }  # fmt: skip
        written = self._write_final(record)
        self.reporter.close()
        log.info("job %d: ended %s%s", self.jobid, status, f" ({error})" if error else "")
        done = api.JobDone(
            jobid=self.jobid, status=status, error=error, respath=respath, tasks=tasks
        )
        deadline = time.monotonic() + DONE_DEADLINE
        with Client(self.daemon, timeout=DAEMON_TIMEOUT) as client:
            while True:
                late = time.monotonic() >= deadline
                try:
                    client.call(done)
                    return
                except SugoError as e:
                    if not late:
                        log.warning("job %d: daemon not told yet: %s", self.jobid, e)
                if not written:
                    # Neither the daemon nor final.json has the job's end (the disk
                    # under both is full, say): keep trying both until one takes
                    # it, else the daemon would find a runner gone without a word.
                    written = self._write_final(record, say=False)
                if written and late:
                    break
                time.sleep(DONE_RETRY if not late else DONE_RETRY_LATE)
        log.error("job %d: daemon unreachable; it will read %s", self.jobid, FINAL_FILE)

    def _write_final(self, record: dict[str, Any], say: bool = True) -> bool:
        """Write final.json; False if it cannot be written for now. A job
        folder that was removed counts as done: nothing can be kept there."""
        try:
            write_json(self.jobdir / FINAL_FILE, record)
            return True
        except OSError as e:  # a full disk: the daemon may still hear it
            if say:
                log.error("job %d: cannot write %s: %s", self.jobid, FINAL_FILE, e)
            return not self.jobdir.is_dir()
