"""A job's files after its runner: the results file written for a running
job (``job_write``, by the write fork server), a finalize after a runner
died, a rebuild (`sugo job rebuild`), and pruning old job folders."""

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from sugo.daemon.jobs.admission import respath_for, snappath_of
from sugo.daemon.jobs.queries import known_job
from sugo.daemon.jobs.writes import WRITE_TIMEOUT, ResultWriter
from sugo.daemon.store import JobRow
from sugo.errors import SugoError
from sugo.jobs.folder import REBUILD_REPORT, job_log, staging_dir
from sugo.platform.procs import Tracked
from sugo.protocol import daemon_api as api
from sugo.protocol.server import DEFERRED, Call, Deferred
from sugo.protocol.states import FINAL, RUNNING

if TYPE_CHECKING:
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Runtime

log = logging.getLogger("sugo.daemon.jobs")

REBUILD_TIMEOUT = 600.0  # writing the results of a long job takes a while


class JobFiles:
    def __init__(
        self,
        rt: "Runtime",
        events: "Events",
        writer: ResultWriter,
        info: Callable[[JobRow], api.JobInfo],
    ) -> None:
        self.rt = rt
        self.events = events
        self.writer = writer
        self.info = info  # a job as `sugo jobs` shows it (JobQueries.info)
        self._rebuilding: set[int] = set()

    def handlers(self) -> dict[type, Any]:
        return {
            api.JobWrite: self.on_job_write,
            api.JobWritten: self.on_job_written,
            api.JobRebuild: self.on_job_rebuild,
            api.JobPrune: self.on_job_prune,
        }

    def on_job_write(self, req: api.JobWrite, call: Call[api.JobWriteReply]) -> Deferred:
        job = known_job(self.rt.store, req.jobid)
        if job.status not in RUNNING:
            raise SugoError(f"job {job.id} is not running ({job.status})")
        files = {respath_for(job), snappath_of(job)}
        if req.path not in files:
            raise SugoError(f"job {job.id}: {req.path!r} is not its results or snapshot file")
        if req.status not in ("r", *FINAL):
            raise SugoError(f"job {job.id}: {req.status!r} is not a job status to record")
        self.writer.write(job.id, job.jobdir, req.path, req.status, req.error, call)
        return DEFERRED

    def on_job_written(self, req: api.JobWritten, call: Call[api.Ack]) -> api.Ack:
        self.writer.written(req.jobid, req.path, req.error)
        return api.Ack()

    def finalize_after_writes(self, job: JobRow) -> None:
        """Write an ended job's results from its staging store once no write
        its runner asked for is still going: one that ended after the finalize
        would leave the runner's status in the file (``c`` for a job the
        daemon ended ``ce``)."""

        def work() -> None:
            if not self.writer.wait_idle(job.id, WRITE_TIMEOUT):
                log.warning("job %d: a results write is still going; finalizing anyway", job.id)
            self.spawn_finalize(job)

        self.rt.pool.submit(work)

    def spawn_finalize(self, job: JobRow, report: Path | None = None) -> Tracked:
        """Write an ended job's results file from its staging store, in a
        process of the write fork server (the daemon never imports the NetCDF stack)."""
        argv = ["finalize", str(job.id), "--daemon", self.rt.endpoint]
        if report is not None:
            argv += ["--report", str(report)]
        return self.writer.spawn(argv, job_log(job.jobdir))

    def on_job_rebuild(self, req: api.JobRebuild, call: Call[api.JobInfo]) -> Deferred:
        job = known_job(self.rt.store, req.jobid)
        if job.status not in FINAL:
            raise SugoError(f"job {job.id} has not ended ({job.status}); its results come then")
        staging = staging_dir(job.jobdir)
        if not staging.is_dir():
            raise SugoError(f"job {job.id}: no staged data in {staging} (pruned or never run)")
        if job.id in self._rebuilding:
            raise SugoError(f"job {job.id}: a rebuild is already running")
        report = Path(job.jobdir) / REBUILD_REPORT
        report.unlink(missing_ok=True)
        tracked = self.spawn_finalize(job, report)
        self._rebuilding.add(job.id)
        loop = self.rt.loop

        def wait() -> None:
            try:
                if not tracked.wait(REBUILD_TIMEOUT):
                    tracked.kill()
                    call.fail(f"job {job.id}: rebuild stopped after {REBUILD_TIMEOUT:g} s")
                    return
                try:
                    outcome = json.loads(report.read_text())
                except (OSError, ValueError) as e:
                    call.fail(f"job {job.id}: rebuild failed (see {job.jobdir}/job.log): {e}")
                    return
                if not outcome.get("ok"):
                    call.fail(f"job {job.id}: rebuild failed: {outcome.get('error')}")
                    return
                respath = str(outcome["respath"])
                loop.post(lambda: self._rebuilt(call, job.id, respath))
            finally:
                loop.post(lambda: self._rebuilding.discard(job.id))

        self.rt.pool.submit(wait)
        return DEFERRED

    def _rebuilt(self, call: Call[api.JobInfo], jobid: int, respath: str) -> None:
        what = f"job {jobid}"
        store = self.rt.store
        self.rt.until_stored(what, lambda: store.update_job(jobid, respath=respath))
        self.rt.until_stored(what, lambda: self.events.emit("job.rebuilt", what, respath=respath))
        job = store.get_job(jobid)
        if job is None:  # pruned meanwhile
            call.fail(f"job {jobid}: its record is gone (pruned?); {respath} was written")
            return
        call.reply(msgspec.structs.replace(self.info(job), respath=respath))

    def on_job_prune(self, req: api.JobPrune, call: Call[api.PruneReply]) -> api.PruneReply:
        settings, store = self.rt.settings, self.rt.store
        days = req.days if req.days is not None else settings.jobs.retention_days
        if days is None:
            raise SugoError("give --older-than DAYS, or set jobs.retention_days in settings.toml")
        if days < 0:
            raise SugoError("--older-than must not be negative")
        cutoff = time.time() - days * 86400.0
        jobs = {j.id: j for j in store.list_jobs() if j.is_final}
        pruned = store.prune_jobs(cutoff)
        storage = settings.jobs.storage.resolve()
        for jobid in pruned:
            job = jobs.get(jobid)
            folder = Path(job.jobdir).resolve() if job else None
            # Only job folders inside the job storage go; results files live elsewhere.
            if folder is not None and folder.is_relative_to(storage) and folder != storage:
                shutil.rmtree(folder, ignore_errors=True)
        if pruned:
            self.events.emit("job.pruned", f"{len(pruned)} jobs", ids=pruned, days=days)
        return api.PruneReply(pruned=pruned, days=days)
