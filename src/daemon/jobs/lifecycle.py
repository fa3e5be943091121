"""A job's life on the daemon side, after submit: start on a pipeline,
task progress, end, cancel, snapshot, and the control requests its runner
is sent.

Everything here runs on the loop thread. It reacts to ``host.lost`` on the
bus (the runners of jobs on that driver poll at once); its own events
(``job.started``, ``job.ended``, ``pipeline.freed``) are what the scheduler
and the maintenance counters react to.
"""

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sugo.daemon.bus import HOST_LOST, Event
from sugo.daemon.jobs.queries import known_job
from sugo.daemon.jobs.runners import Runners
from sugo.daemon.payloads import PayloadCache
from sugo.daemon.store import JobRow, PipelineRow
from sugo.daemon.store.taskrecords import closing
from sugo.errors import StoreError, SugoError
from sugo.jobs.folder import job_log
from sugo.platform import control
from sugo.platform.launcher import Launcher
from sugo.protocol import daemon_api as api
from sugo.protocol.server import DEFERRED, Call, Deferred
from sugo.protocol.states import FINAL, QUEUED, ComponentState, JobStatus

if TYPE_CHECKING:
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Runtime

log = logging.getLogger("sugo.daemon.jobs")

SNAPSHOT_TIMEOUT = 30.0
TASK_EVENTS = ("task_started", "task_ended", "task_cancelled")


class JobLifecycle:
    def __init__(
        self,
        rt: "Runtime",
        events: "Events",
        runners: Runners,
        payloads: PayloadCache,
        launcher: Launcher,
    ) -> None:
        self.rt = rt
        self.events = events
        self.runners = runners
        self.payloads = payloads
        self.launcher = launcher
        self._snapshot_waiters: dict[int, list[Call[api.SnapshotReply]]] = {}
        events.bus.subscribe(HOST_LOST, self._host_lost)

    def handlers(self) -> dict[type, Any]:
        return {
            api.Cancel: self.on_cancel,
            api.Snapshot: self.on_snapshot,
            api.JobEvent: self.on_job_event,
            api.JobDone: self.on_job_done,
            api.JobControl: self.on_job_control,
        }

    # -- start --------------------------------------------------------------------------

    def start(self, job: JobRow, p: PipelineRow) -> None:
        """Start ``job`` on ``p`` (the scheduler's choice). Raises the
        StoreError of a database that refused the first change."""
        store = self.rt.store
        jobdir = Path(job.jobdir)
        jobdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        what = f"job {job.id}"
        store.set_job_status(job.id, JobStatus.R)
        try:
            store.update_job(job.id, pipeline=p.name)
            store.set_pipeline(p.name, ready=False, jobid=job.id)
            for name in p.components.values():
                store.set_component_state(name, ComponentState.BUSY)
        except StoreError as e:
            # Running without a runner: end it so that nothing stays reserved.
            error = f"could not start: {e}"
            self.rt.until_stored(what, lambda: self.finish(job.id, JobStatus.CE, error, None))
            return
        argv = ["run", str(job.id), "--daemon", self.rt.endpoint]
        tracked = self.launcher.spawn(argv, job_log(jobdir))
        self.runners.add(job.id, tracked)
        self.rt.until_stored(
            what,
            lambda: store.update_job(
                job.id, runner_pid=tracked.pid, runner_started=tracked.create_time
            ),
        )
        self.rt.until_stored(
            what,
            lambda: self.events.emit("job.started", what, pipeline=p.name, pid=tracked.pid),
        )
        log.info("job %d: started on %s (runner pid %d)", job.id, p.name, tracked.pid)

    # -- progress and end ------------------------------------------------------------

    def on_job_event(self, req: api.JobEvent, call: Call[api.Ack]) -> api.Ack:
        store = self.rt.store
        job = known_job(store, req.jobid)
        if req.kind == "snapshot":
            store.update_job(job.id, snappath=req.path)
            for waiter in self._snapshot_waiters.pop(job.id, []):
                if req.error:
                    waiter.fail(f"job {job.id}: snapshot failed: {req.error}")
                else:
                    waiter.reply(api.SnapshotReply(jobid=job.id, snappath=req.path))
            return api.Ack()
        if req.kind not in TASK_EVENTS:
            raise SugoError(
                f"unknown job event {req.kind!r} (known: snapshot, {', '.join(TASK_EVENTS)})"
            )
        if job.status in QUEUED:  # (late events of an ended job still count)
            raise SugoError(f"job {job.id} has not started ({job.status})")
        now = time.time()
        if req.kind == "task_started":
            store.update_task(job.id, req.task_index, state="running", started_at=now)
        elif req.kind == "task_ended":
            state = "error" if req.error else "completed"
            store.update_task(
                job.id, req.task_index, state=state, ended_at=now, points=req.points,
                error=req.error,
            )  # fmt: skip
        elif req.kind == "task_cancelled":
            store.update_task(
                job.id, req.task_index, state="cancelled", ended_at=now, points=req.points
            )
        self.events.emit(
            f"job.{req.kind}", f"job {job.id}", role=req.role, task=req.task_index,
            points=req.points, error=req.error,
        )  # fmt: skip
        return api.Ack()

    def on_job_done(self, req: api.JobDone, call: Call[api.Ack]) -> api.Ack:
        if req.status not in FINAL:
            raise SugoError(f"job {req.jobid}: {req.status!r} is not a final status (c, ce, cd)")
        job = known_job(self.rt.store, req.jobid)
        if job.status in QUEUED:
            raise SugoError(f"job {job.id} has not started ({job.status})")
        self.finish(req.jobid, JobStatus(req.status), req.error, req.respath, req.tasks)
        return api.Ack()

    def finish(
        self,
        jobid: int,
        status: JobStatus,
        error: str | None,
        respath: str | None,
        tasks: list[api.TaskOutcome] | None = None,
    ) -> None:
        store = self.rt.store
        job = store.get_job(jobid)
        if job is None:
            return
        if job.status in FINAL:
            # A final status is never overwritten; but a release that a locked
            # database cut short is completed now.
            self.release(job)
            return
        job = store.set_job_status(jobid, status, error=error)
        if respath:
            job = store.update_job(jobid, respath=respath)
        self._close_tasks(jobid, status, tasks or [])
        log.info("job %d: ended %s%s", jobid, status, f" ({error})" if error else "")
        # (the maintenance counters count it: `about` is the ended job)
        self.events.emit("job.ended", f"job {jobid}", about=job, status=str(status), error=error)
        for waiter in self._snapshot_waiters.pop(jobid, []):
            waiter.fail(f"job {jobid} ended ({status}) before the snapshot was taken")
        self.release(job)

    def _close_tasks(
        self, jobid: int, status: JobStatus, seen: Sequence[api.TaskOutcome] = ()
    ) -> None:
        """Tasks still open get their end as the runner saw it (``seen``: its
        progress events may have gone to no daemon, after a SIGTERM say), else
        one from the job's status."""
        store = self.rt.store
        now = time.time()
        outcomes = {o.index: o for o in seen}
        for t in store.tasks_of(jobid):
            change = closing(t, status, outcomes.get(t.index), now)
            if change is not None:
                store.update_task(jobid, t.index, **change)

    def release(self, job: JobRow) -> None:
        """Free what an ended job holds: its runner, its pipeline and components."""
        store = self.rt.store
        self.runners.release(job.id)
        self.payloads.forget(job.id)
        if job.pipeline:
            p = store.get_pipeline(job.pipeline)
            if p is not None and p.jobid == job.id:
                ready = job.unlock_when_done and job.status == JobStatus.C
                store.set_pipeline(p.name, jobid=None, ready=ready)
                for name in p.components.values():
                    comp = store.get_component(name)
                    if comp is not None and comp.state == ComponentState.BUSY:
                        store.set_component_state(name, ComponentState.IDLE)
                self.events.emit("pipeline.freed", p.name, jobid=job.id, ready=ready)

    # -- cancel, snapshot and control ----------------------------------------------------

    def on_cancel(self, req: api.Cancel, call: Call[api.CancelReply]) -> api.CancelReply:
        store = self.rt.store
        refused = []
        done = []
        for jobid in req.ids:
            job = store.get_job(jobid)
            if job is None:
                refused.append(f"no job {jobid}")
            elif job.status in QUEUED:
                store.set_job_status(jobid, JobStatus.CD)
                self._close_tasks(jobid, JobStatus.CD)
                self.events.emit("job.ended", f"job {jobid}", status="cd")
                self.payloads.forget(jobid)
                done.append(jobid)
            elif job.status == JobStatus.R:
                store.set_job_status(jobid, JobStatus.RD)
                self.runners.tell(jobid, control.CANCEL)
                self.events.emit("job.cancel_requested", f"job {jobid}")
                done.append(jobid)
            elif job.status == JobStatus.RD:
                done.append(jobid)
            else:
                refused.append(f"job {jobid} has already ended ({job.status})")
        if refused:
            raise SugoError("; ".join(refused))
        return api.CancelReply(cancelled=done)

    def cancel_all_running(self) -> list[int]:
        store = self.rt.store
        ids = [j.id for j in store.running_jobs()]
        for jobid in ids:
            job = store.get_job(jobid)
            if job is not None and job.status == JobStatus.R:
                store.set_job_status(jobid, JobStatus.RD)
            self.runners.tell(jobid, control.CANCEL)
        return ids

    def on_job_control(
        self, req: api.JobControl, call: Call[api.JobControlReply]
    ) -> api.JobControlReply | Deferred:
        job = known_job(self.rt.store, req.jobid)
        if job.status in FINAL:  # an error, so the runner pauses before it asks again
            raise SugoError(f"job {job.id} has ended ({job.status})")
        return self.runners.control.on_poll(req, call, cancelling=job.status == JobStatus.RD)

    def on_snapshot(self, req: api.Snapshot, call: Call[api.SnapshotReply]) -> Deferred:
        job = known_job(self.rt.store, req.jobid)
        if job.status not in (JobStatus.R, JobStatus.RD):
            where = f"; its results are in {job.respath}" if job.status in FINAL else ""
            raise SugoError(f"job {job.id} is not running ({job.status}){where}")
        self._snapshot_waiters.setdefault(job.id, []).append(call)
        self.runners.tell(job.id, control.SNAPSHOT)

        def expire() -> None:
            waiters = self._snapshot_waiters.get(job.id, [])
            if call in waiters:
                waiters.remove(call)
                call.fail(f"job {job.id}: no snapshot within {SNAPSHOT_TIMEOUT:g} s")

        self.rt.loop.call_later(SNAPSHOT_TIMEOUT, expire)
        return DEFERRED

    def _host_lost(self, event: Event) -> None:
        """Make the runners of jobs on this driver poll now (its host was lost),
        so they notice at once instead of at their next poll."""
        driver = event.data["driver"]
        store = self.rt.store
        for p in store.list_pipelines():
            if p.jobid is None:
                continue
            comps = [store.get_component(n) for n in p.components.values()]
            if any(c is not None and c.driver == driver for c in comps):
                self.runners.tell(p.jobid, control.WAKE)
