"""Runners that end without a word: the watcher's report of a runner's exit,
the job settled from the ``final.json`` it left (or ended ``ce`` and its
staged data written), re-attaching to live runners after a daemon restart,
and the results still owed by a finalize that did not finish."""

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from sugo.daemon.jobs.files import JobFiles
from sugo.daemon.jobs.lifecycle import JobLifecycle
from sugo.daemon.jobs.runners import Runners
from sugo.daemon.store import JobRow
from sugo.errors import SugoError
from sugo.jobs.folder import FINAL_FILE, PENDING_FILE
from sugo.platform.procs import Tracked
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.states import FINAL, JobStatus

if TYPE_CHECKING:
    from sugo.daemon.runtime import Hosts, Runtime

log = logging.getLogger("sugo.daemon.jobs")


class RunnerRecovery:
    def __init__(
        self,
        rt: "Runtime",
        runners: Runners,
        lifecycle: JobLifecycle,
        files: JobFiles,
        hosts: "Hosts",
    ) -> None:
        self.rt = rt
        self.runners = runners
        self.lifecycle = lifecycle
        self.files = files
        self.hosts = hosts

    def recover(self) -> None:
        """After a daemon restart: re-attach to live runners, settle the rest,
        and write the results still owed by a finalize that did not finish."""
        store = self.rt.store
        for marker in self.rt.settings.jobs.storage.glob(f"*/{PENDING_FILE}"):
            name = marker.parent.name
            job = store.get_job(int(name)) if name.isdigit() else None
            if job is not None and job.status in FINAL:
                log.info("job %d: its results file is still owed; writing it", job.id)
                self.files.spawn_finalize(job)
        for job in store.running_jobs():
            tracked = None
            if job.runner_pid and job.runner_started:
                tracked = Tracked.attach(job.runner_pid, job.runner_started)
            if tracked is not None and tracked.alive():
                self.runners.add(job.id, tracked)
                log.info("job %d: re-attached to its runner (pid %d)", job.id, tracked.pid)
            else:
                self._lost_until_stored(job.id, job.runner_pid)

    def start_watch(self) -> None:
        loop = self.rt.loop
        self.runners.start_watch(
            lambda jobid, pid: loop.post(lambda: self._lost_until_stored(jobid, pid))
        )

    def _lost_until_stored(self, jobid: int, pid: int | None) -> None:
        self.rt.until_stored(f"job {jobid}", lambda: self.runner_lost(jobid, pid))

    def runner_lost(self, jobid: int, pid: int | None) -> None:
        if not self.runners.drop(jobid, pid):
            return
        job = self.rt.store.get_job(jobid)
        if job is None:
            return
        if job.status in FINAL:
            self.lifecycle.release(job)  # in case a locked database cut the release short
            return
        final = Path(job.jobdir) / FINAL_FILE
        if final.exists():
            try:
                rec = json.loads(final.read_text())
                self.lifecycle.finish(
                    jobid, JobStatus(rec["status"]), rec.get("error"), rec.get("respath"),
                    _outcomes(jobid, rec.get("tasks")),
                )  # fmt: skip
                return
            except (OSError, ValueError, KeyError) as e:
                log.error("job %d: unreadable %s: %s", jobid, final, e)
        error = f"job runner (pid {pid}) died unexpectedly"
        log.error("job %d: %s; writing the data it had staged", jobid, error)
        # The note goes first: a daemon killed before the finalize has run
        # finds it at its next start and writes the results then.
        try:
            (Path(job.jobdir) / PENDING_FILE).touch(mode=0o600)
        except OSError as e:
            log.error("job %d: cannot note the pending results: %s", jobid, e)
        self.lifecycle.finish(jobid, JobStatus.CE, error, None)
        self._reset_components(job)
        self.files.finalize_after_writes(job)

    def _reset_components(self, job: JobRow) -> None:
        store = self.rt.store
        p = store.get_pipeline(job.pipeline) if job.pipeline else None
        if p is None:
            return
        comps = [store.get_component(n) for n in p.components.values()]

        def work() -> None:
            for comp in comps:
                if comp is None:
                    continue
                try:
                    with self.hosts.client_for(comp.driver, timeout=5.0) as client:
                        client.call(host_api.DevReset(address=comp.address, channel=comp.channel))
                except SugoError as e:
                    log.warning("job %d: reset of %s failed: %s", job.id, comp.name, e)

        self.rt.pool.submit(work)

    def kill_all_runners(self) -> None:
        for jobid, tracked in self.runners.items():
            log.warning("job %d: runner pid %d did not stop in time: kill", jobid, tracked.pid)
            tracked.kill()
            self.runner_lost(jobid, tracked.pid)


def _outcomes(jobid: int, data: Any) -> list[api.TaskOutcome]:
    """The task outcomes of a `final.json` (none in one of an older sugo)."""
    try:
        return msgspec.convert(data or [], list[api.TaskOutcome])
    except msgspec.ValidationError as e:
        log.warning("job %d: task outcomes of %s ignored: %s", jobid, FINAL_FILE, e)
        return []
