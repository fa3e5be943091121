"""The read side of jobs: what `sugo jobs`, `sugo search`, `sugo job log` and
a starting runner (its job spec) are told. Nothing here changes state."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sugo.daemon.jobs.admission import respath_for, snappath_of
from sugo.daemon.payloads import PayloadCache
from sugo.daemon.scheduler import Blocking, World, reasons, summary, world_of
from sugo.daemon.status import component_info
from sugo.daemon.store import JobRow
from sugo.daemon.store.registry import TaskRow
from sugo.errors import SugoError
from sugo.jobs.folder import job_log
from sugo.platform import logfiles
from sugo.protocol import daemon_api as api
from sugo.protocol.server import Call
from sugo.protocol.states import QUEUED, RUNNING

if TYPE_CHECKING:
    from sugo.daemon.runtime import Hosts, Runtime
    from sugo.daemon.store import Store


def known_job(store: "Store", jobid: int) -> JobRow:
    """The job ``jobid``; a request about an unknown one is refused."""
    job = store.get_job(jobid)
    if job is None:
        raise SugoError(f"no job {jobid}")
    return job


def components_in_use(store: "Store") -> set[str]:
    """The components of the pipelines that hold a job."""
    used: set[str] = set()
    for p in store.list_pipelines():
        if p.jobid is not None:
            used.update(p.components.values())
    return used


class JobQueries:
    def __init__(
        self, rt: "Runtime", payloads: PayloadCache, blocking: Blocking, hosts: "Hosts"
    ) -> None:
        self.rt = rt
        self.payloads = payloads
        self.blocking = blocking
        self.hosts = hosts

    def handlers(self) -> dict[type, Any]:
        return {
            api.Jobs: self.on_jobs,
            api.Search: self.on_search,
            api.JobSpecRequest: self.on_job_spec,
            api.JobLog: self.on_job_log,
        }

    def info(
        self, job: JobRow, tasks: list[TaskRow] | None = None, world: World | None = None
    ) -> api.JobInfo:
        """The job as `sugo jobs` shows it: its record, its tasks and, while it
        is queued, why it waits (per pipeline that could run it: scheduler.why_not)."""
        rows = self.rt.store.tasks_of(job.id) if tasks is None else tasks
        info = job_info(job, rows)
        if job.status in QUEUED:
            why = reasons(
                job, self.payloads.payload_of(job), world or world_of(self.rt.store), self.blocking
            )
            info.waiting_for = why
            info.waiting = summary(why)
        return info

    def infos(self, jobs: list[JobRow], payload: bool = False) -> list[api.JobInfo]:
        tasks = self.rt.store.tasks_of_jobs([j.id for j in jobs])
        queued = any(j.status in QUEUED for j in jobs)
        world = world_of(self.rt.store) if queued else None
        out = [self.info(j, tasks[j.id], world) for j in jobs]
        if payload:  # asked for by id only (the web API's job page): it may be large
            for info, job in zip(out, jobs, strict=True):
                info.payload = json.loads(job.payload)
        return out

    def on_jobs(self, req: api.Jobs, call: Call[api.JobsInfo]) -> api.JobsInfo:
        store = self.rt.store
        if req.ids:
            jobs = [known_job(store, i) for i in req.ids]
        elif req.recent is not None:
            # Every unfinished job and the newest others: fast with years of history.
            active = store.list_jobs(statuses=[*QUEUED, *RUNNING])
            newest = store.list_jobs(limit=max(req.recent, 0))
            by_id = {j.id: j for j in [*active, *newest]}
            jobs = [by_id[i] for i in sorted(by_id)]
        else:
            jobs = store.list_jobs()
        return api.JobsInfo(jobs=self.infos(jobs, payload=req.payload and bool(req.ids)))

    def on_search(self, req: api.Search, call: Call[api.JobsInfo]) -> api.JobsInfo:
        return api.JobsInfo(jobs=self.infos(self.rt.store.search_jobs(req.text)))

    def on_job_spec(self, req: api.JobSpecRequest, call: Call[api.JobSpec]) -> api.JobSpec:
        store = self.rt.store
        settings = self.rt.settings
        job = store.get_job(req.jobid)
        if job is None or job.pipeline is None:
            raise SugoError(f"job {req.jobid} has not been started")
        p = store.get_pipeline(job.pipeline)
        if p is None:
            raise SugoError(f"job {req.jobid}: pipeline {job.pipeline} is gone")
        payload = self.payloads.payload_of(job)
        roles = []
        for role in payload.roles():
            comp = store.get_component(p.components[role])
            if comp is None:
                raise SugoError(f"job {job.id}: component of role {role!r} is gone")
            tasks = [
                api.TaskSpec(index=i, task=t.model_dump(mode="json"))
                for i, t in payload.tasks_of(role)
            ]
            waits = settings.driver_timeouts(comp.driver)
            roles.append(
                api.RoleSpec(
                    role=role,
                    component=component_info(comp),
                    host=self.hosts.endpoint_of(comp.driver) or "",
                    tasks=tasks,
                    verb_timeout=waits.verb_timeout,
                    stop_timeout=waits.stop_timeout,
                    task_grace=waits.task_grace,
                )
            )
        record = job.to_json()
        record["payload"] = json.loads(job.payload)
        snap = payload.settings.snapshot
        spec = api.JobSpec(
            jobid=job.id,
            jobname=job.jobname,
            jobdir=job.jobdir,
            respath=respath_for(job),
            fsync=settings.jobs.fsync,
            fsync_interval=settings.jobs.fsync_interval,
            verbosity=payload.settings.verbosity,
            snapshot_interval=snap.interval if snap else None,
            snappath=snappath_of(job),
            roles=roles,
            job_json=json.dumps(record),
        )
        return spec

    def on_job_log(self, req: api.JobLog, call: Call[api.JobLogInfo]) -> api.JobLogInfo:
        store = self.rt.store
        job = known_job(store, req.jobid)
        p = store.get_pipeline(job.pipeline) if job.pipeline else None
        drivers: dict[str, list[str]] = {}
        for name in p.components.values() if p else []:
            comp = store.get_component(name)
            if comp is not None:
                # Lines name a component as "<driver>:(a,c):" or, from its
                # DeviceManager, "(a,c):"; the colon keeps (a,1) from matching (a,10).
                drivers.setdefault(comp.driver, []).append(f"({comp.address},{comp.channel}):")
        logdir = Path(self.rt.settings.logdir)
        return api.JobLogInfo(
            jobid=job.id,
            status=str(job.status),
            job_log=str(job_log(job.jobdir)),
            driver_logs=[
                api.DriverLogInfo(
                    driver=drv,
                    path=str(logfiles.driver_log(logdir, drv, self.rt.port)),
                    match=patterns,
                )
                for drv, patterns in sorted(drivers.items())
            ],
            started_at=job.started_at,
            completed_at=job.completed_at,
        )


def job_info(job: JobRow, tasks: list[TaskRow]) -> api.JobInfo:
    """A job row and its task rows as the protocol's JobInfo (without the payload)."""
    return api.JobInfo(
        id=job.id,
        jobname=job.jobname,
        status=str(job.status),
        pipeline=job.pipeline,
        sample=job.sample,
        user=job.user,
        submitted_at=job.submitted_at,
        started_at=job.started_at,
        completed_at=job.completed_at,
        respath=job.respath,
        snappath=job.snappath,
        error=job.error,
        jobdir=job.jobdir,
        output_dir=job.output_dir,
        prefix=job.prefix,
        runner_pid=job.runner_pid,
        runner_started=job.runner_started,
        unlock_when_done=job.unlock_when_done,
        tasks=[
            api.TaskInfo(
                index=t.index,
                role=t.role,
                technique=t.technique,
                state=t.state,
                started_at=t.started_at,
                ended_at=t.ended_at,
                points=t.points,
                error=t.error,
            )
            for t in tasks
        ],
    )
