"""Jobs on the daemon side: submit, start, progress, end, cancel, snapshot,
and the recovery of jobs whose runner died.

All state changes happen on the loop thread. Work that talks to driver hosts
(validating a payload, resetting components) runs in the worker pool and
posts its outcome back.
"""

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from sugo.daemon import admission
from sugo.daemon.registry_tables import TaskRow
from sugo.daemon.runctl import RunnerControl
from sugo.daemon.scheduler import World, can_run, summary
from sugo.daemon.store import ComponentRow, JobRow, PipelineRow, retryable
from sugo.errors import RequestFailed, StoreError, SugoError
from sugo.jobs.folder import FINAL_FILE, PENDING_FILE, job_log, staging_dir
from sugo.platform import control
from sugo.platform.exits import ExitWatch
from sugo.platform.procs import Tracked
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.client import endpoint
from sugo.protocol.server import DEFERRED, Call
from sugo.protocol.states import FINAL, QUEUED, RUNNING, ComponentState, JobStatus
from sugo.protocol.wire import to_builtins

if TYPE_CHECKING:
    from sugo.config.payload import Payload
    from sugo.daemon.core import Daemon

log = logging.getLogger("sugo.daemon.jobs")

WATCH_EVERY = 0.2  # a new job runner is watched after at most this long
SNAPSHOT_TIMEOUT = 30.0
STORE_RETRY = 1.0  # seconds before redoing a change the locked database refused
REBUILD_TIMEOUT = 600.0  # writing the results of a long job takes a while
MAX_PAYLOAD_VALUES = 100_000  # more is an alias bomb, not an experiment
TASK_EVENTS = ("task_started", "task_ended", "task_cancelled")
TASK_END_STATES = ("completed", "cancelled", "error")


def respath_of(output_dir: str, prefix: str | None, jobid: int) -> str:
    return str(Path(output_dir) / f"{prefix or f'results.{jobid}'}.nc")


def respath_for(job: JobRow) -> str:
    """The results file of a started job: recorded, or planned from its output settings."""
    return job.respath or respath_of(job.output_dir, job.prefix, job.id)


def snappath_of(job: JobRow) -> str:
    """The snapshot file: the one the payload asked for (recorded at submit), or the default."""
    return job.snappath or str(Path(job.output_dir) / f"snapshot.{job.id}.nc")


def check_writable(folder: Path) -> None:
    """Refuse an output folder that cannot be written (or created): better
    now than as a failed job at its end."""
    probe = folder
    try:
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        is_dir = probe.is_dir()
    except OSError as e:  # e.g. a parent folder we may not enter
        raise SugoError(f"output folder {folder}: {e.strerror or e}") from None
    if not is_dir:
        raise SugoError(f"output folder {folder}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SugoError(f"output folder {folder} is not writable ({probe}: no write access)")


def check_size(payload: "Payload", source: str) -> None:
    """Refuse a payload that expands to a huge document: YAML aliases share
    references, so a few hundred bytes can stand for gigabytes once dumped."""
    from pydantic import BaseModel

    budget = MAX_PAYLOAD_VALUES
    stack: list[Any] = [payload]
    while stack:
        obj = stack.pop()
        budget -= 1
        if budget < 0:
            raise SugoError(
                f"{source}: expands to more than {MAX_PAYLOAD_VALUES} values (YAML aliases?)"
            )
        if isinstance(obj, BaseModel):
            stack.extend(vars(obj).values())
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)


def resolve_output(payload: "Payload", cwd: str) -> tuple[str, str | None]:
    """Output folder and prefix of a payload; relative paths must stay inside
    the submit folder (give an absolute path to write elsewhere)."""
    out = payload.settings.output
    folder = admission.resolve_folder(out.path, Path(cwd).resolve(), "output.path")
    admission.check_prefix(out.prefix, "output.prefix")
    return str(folder), out.prefix


class JobManager:
    def __init__(self, daemon: "Daemon") -> None:
        self.d = daemon
        self.runners: dict[int, Tracked] = {}
        self._snapshot_waiters: dict[int, list[Call]] = {}
        self._rebuilding: set[int] = set()
        self._lock = threading.Lock()  # guards `runners` for the watcher thread
        self._stop_watch = threading.Event()
        # (a lambda: the daemon makes its loop after its managers)
        self.control = RunnerControl(lambda t, fn: self.d.loop.call_later(t, fn))  # noqa: PLW0108

    def handlers(self) -> dict[type, Any]:
        return {
            api.Submit: self.on_submit,
            api.Jobs: self.on_jobs,
            api.Cancel: self.on_cancel,
            api.Snapshot: self.on_snapshot,
            api.Search: self.on_search,
            api.JobSpecRequest: self.on_job_spec,
            api.JobEvent: self.on_job_event,
            api.JobDone: self.on_job_done,
            api.JobControl: self.on_job_control,
            api.JobWrite: self.on_job_write,
            api.JobWritten: self.on_job_written,
            api.JobRebuild: self.on_job_rebuild,
            api.JobLog: self.on_job_log,
            api.JobPrune: self.on_job_prune,
        }

    # -- queries --------------------------------------------------------------------

    def info(
        self, job: JobRow, tasks: list[TaskRow] | None = None, world: World | None = None
    ) -> dict[str, Any]:
        out = job.to_json()
        rows = self.d.store.tasks_of(job.id) if tasks is None else tasks
        out["tasks"] = [_task_json(t) for t in rows]
        if job.status in QUEUED:
            # Why it waits, per pipeline that could run it (scheduler.why_not).
            reasons = self.d.scheduler.reasons(job, world)
            out["waiting_for"] = reasons
            out["waiting"] = summary(reasons)
        return out

    def infos(self, jobs: list[JobRow], payload: bool = False) -> list[dict[str, Any]]:
        tasks = self.d.store.tasks_of_jobs([j.id for j in jobs])
        queued = any(j.status in QUEUED for j in jobs)
        world = self.d.scheduler.world() if queued else None
        out = [self.info(j, tasks[j.id], world) for j in jobs]
        if payload:  # asked for by id only (the web API's job page): it may be large
            for info, job in zip(out, jobs, strict=True):
                info["payload"] = json.loads(job.payload)
        return out

    def on_jobs(self, req: api.Jobs, call: Call) -> Any:
        if req.ids:
            jobs = [self._known_job(i) for i in req.ids]
        elif req.recent is not None:
            # Every unfinished job and the newest others: fast with years of history.
            active = self.d.store.list_jobs(statuses=[*QUEUED, *RUNNING])
            newest = self.d.store.list_jobs(limit=max(req.recent, 0))
            by_id = {j.id: j for j in [*active, *newest]}
            jobs = [by_id[i] for i in sorted(by_id)]
        else:
            jobs = self.d.store.list_jobs()
        return {"jobs": self.infos(jobs, payload=req.payload and bool(req.ids))}

    def on_search(self, req: api.Search, call: Call) -> Any:
        return {"jobs": self.infos(self.d.store.search_jobs(req.text))}

    def components_in_use(self) -> set[str]:
        used: set[str] = set()
        for p in self.d.store.list_pipelines():
            if p.jobid is not None:
                used.update(p.components.values())
        return used

    def component_in_use(self, name: str) -> bool:
        return name in self.components_in_use()

    # -- submit -----------------------------------------------------------------------

    def on_submit(self, req: api.Submit, call: Call) -> Any:
        from sugo.config.payload import parse_payload

        try:
            payload = parse_payload(req.payload, req.fmt, req.source)
        except RecursionError:
            raise SugoError(f"{req.source}: nested too deeply to be a payload") from None
        check_size(payload, req.source)
        unknown = [
            r for r in payload.settings.output.repositories if r not in self.d.settings.repositories
        ]
        if unknown:
            known = ", ".join(sorted(self.d.settings.repositories)) or "none"
            raise SugoError(
                f"{req.source}: settings.output.repositories: unknown repository {unknown[0]!r}"
                f" (settings.toml [repositories] has: {known})"
            )
        if payload.user.identifier is None:
            payload = payload.with_user(req.user or "unknown")
        output_dir, prefix = resolve_output(payload, req.cwd)
        check_writable(Path(output_dir))
        outputs = admission.outputs_of(payload, req.cwd, output_dir, prefix)
        check_writable(Path(outputs.snap_folder))
        try:
            self._check_outputs(outputs)
        except SugoError as e:
            raise SugoError(f"{req.source} not queued: {e}") from None
        store = self.d.store
        components = {c.name: c for c in store.list_components()}
        pipelines = store.list_pipelines()
        reasons = {p.name: can_run(payload, p, components) for p in pipelines}
        candidates = _distinct([p for p in pipelines if reasons[p.name] is None], components)
        if not candidates:
            why = "; ".join(f"{n}: {r}" for n, r in reasons.items()) or "no pipelines configured"
            raise SugoError(f"no pipeline can run {req.source}: {why}")

        def validate() -> None:
            failures = []
            for p in candidates:
                problem = self._validate_on(payload, p, components)
                if problem is None:
                    self.d.loop.post(lambda: self._accept(call, req, payload, outputs))
                    return
                failures.append(f"{p.name}: {problem}")
            call.fail(f"{req.source} rejected: " + "; ".join(failures))

        self.d.pool.submit(validate)
        return DEFERRED

    def _validate_on(
        self, payload: "Payload", p: PipelineRow, components: dict[str, ComponentRow]
    ) -> str | None:
        for role in payload.roles():
            comp = components[p.components[role]]
            try:
                with self.d.drivers.client_for(comp.driver, timeout=3.0) as client:
                    for i, task in payload.tasks_of(role):
                        try:
                            client.call(
                                host_api.TaskValidate(
                                    address=comp.address,
                                    channel=comp.channel,
                                    task=task.model_dump(mode="json"),
                                )
                            )
                        except RequestFailed as e:
                            return f"method[{i}] ({role}): {e}"
            except SugoError as e:
                return f"cannot validate on {comp.name}: {e}"
        return None

    def _accept(
        self,
        call: Call,
        req: api.Submit,
        payload: "Payload",
        outputs: admission.Outputs,
    ) -> None:
        store = self.d.store
        output_dir, prefix = outputs.folder, outputs.prefix
        try:
            self._check_outputs(outputs)  # again: a job accepted meanwhile may clash
            job = store.add_job(
                payload_json=payload.model_dump_json(),
                jobname=req.jobname,
                sample=payload.sample.identifier,
                user=payload.user.identifier or "unknown",
                output_dir=output_dir,
                prefix=prefix,
                unlock_when_done=payload.settings.unlock_when_done,
                jobdir_root=self.d.settings.jobs.storage,
            )
        except SugoError as e:
            call.fail(f"{req.source} not queued: {e}")
            return
        # The job exists: what follows is completed later if the database is locked now.
        respath = respath_of(output_dir, prefix, job.id)
        snappath = outputs.custom_snapshot(job.id)
        tasks = [
            TaskRow(job.id, i, t.component_role, t.technique_name, "pending")
            for i, t in enumerate(payload.method)
        ]
        what = f"job {job.id}"
        stored = {"respath": respath, "snappath": snappath}
        self.until_stored(what, lambda: store.update_job(job.id, **stored))
        self.until_stored(what, lambda: store.add_tasks(tasks))
        by = {"by": req.by} if req.by else {}  # deferred: out of the request's context
        self.until_stored(
            what, lambda: self.d.events.emit("job.queued", what, sample=job.sample, **by)
        )
        self.d.scheduler.kick()
        call.reply({**self.info(job), "respath": respath})

    def _check_outputs(self, outputs: admission.Outputs) -> None:
        """Refuse results or snapshot files that clash with another job's (issue 13)."""
        if not outputs.named():
            return  # id-named files clash with nothing
        store = self.d.store
        active = store.list_jobs(statuses=[*QUEUED, *RUNNING])
        planned = admission.planned_files((j, respath_for(j), snappath_of(j)) for j in active)
        admission.check_outputs(
            outputs,
            planned,
            lambda path: next((j.id for j in store.list_jobs() if j.respath == path), None),
        )

    def until_stored(self, what: str, change: Callable[[], object]) -> None:
        """Make ``change`` now (loop thread) or, while the database refuses it for
        a passing reason (locked by another process, a full disk, a read-only
        file system, an I/O error), every STORE_RETRY s until it goes through:
        delayed, never lost."""
        try:
            change()
        except StoreError as e:
            if not retryable(e):
                log.error("%s: %s", what, e)
            elif not self.d.stopping:
                log.warning("%s: %s; trying again in %g s", what, e, STORE_RETRY)
                self.d.loop.call_later(STORE_RETRY, lambda: self.until_stored(what, change))

    # -- start --------------------------------------------------------------------------

    def start(self, job: JobRow, p: PipelineRow) -> None:
        store = self.d.store
        jobdir = Path(job.jobdir)
        jobdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        what = f"job {job.id}"
        try:
            store.set_job_status(job.id, JobStatus.R)
        except StoreError as e:
            if retryable(e):  # nothing changed: the scheduler tries again later
                self.d.loop.call_later(STORE_RETRY, self.d.scheduler.kick)
            raise
        try:
            store.update_job(job.id, pipeline=p.name)
            store.set_pipeline(p.name, ready=False, jobid=job.id)
            for name in p.components.values():
                store.set_component_state(name, ComponentState.BUSY)
        except StoreError as e:
            # Running without a runner: end it so that nothing stays reserved.
            error = f"could not start: {e}"
            self.until_stored(what, lambda: self.finish(job.id, JobStatus.CE, error, None))
            return
        argv = ["run", str(job.id), "--daemon", endpoint("127.0.0.1", self.d.port)]
        tracked = self.d.launcher.spawn(argv, job_log(jobdir))
        with self._lock:
            self.runners[job.id] = tracked  # watched from now on, whatever the store says
        self.until_stored(
            what,
            lambda: store.update_job(
                job.id, runner_pid=tracked.pid, runner_started=tracked.create_time
            ),
        )
        self.until_stored(
            what,
            lambda: self.d.events.emit("job.started", what, pipeline=p.name, pid=tracked.pid),
        )
        log.info("job %d: started on %s (runner pid %d)", job.id, p.name, tracked.pid)

    def on_job_spec(self, req: api.JobSpecRequest, call: Call) -> Any:
        store = self.d.store
        job = store.get_job(req.jobid)
        if job is None or job.pipeline is None:
            raise SugoError(f"job {req.jobid} has not been started")
        p = store.get_pipeline(job.pipeline)
        if p is None:
            raise SugoError(f"job {req.jobid}: pipeline {job.pipeline} is gone")
        payload = self.d.scheduler.payload_of(job)
        roles = []
        for role in payload.roles():
            comp = store.get_component(p.components[role])
            if comp is None:
                raise SugoError(f"job {job.id}: component of role {role!r} is gone")
            dp = self.d.drivers.procs.get(comp.driver)
            host = dp.endpoint if dp and dp.endpoint else ""
            tasks = [
                api.TaskSpec(index=i, task=t.model_dump(mode="json"))
                for i, t in payload.tasks_of(role)
            ]
            waits = self.d.settings.driver_timeouts(comp.driver)
            roles.append(
                api.RoleSpec(
                    role=role,
                    component=_component_info(comp),
                    host=host,
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
            fsync=self.d.settings.jobs.fsync,
            fsync_interval=self.d.settings.jobs.fsync_interval,
            verbosity=payload.settings.verbosity,
            snapshot_interval=snap.interval if snap else None,
            snappath=snappath_of(job),
            roles=roles,
            job_json=json.dumps(record),
        )
        return to_builtins(spec)

    # -- progress and end ------------------------------------------------------------

    def on_job_event(self, req: api.JobEvent, call: Call) -> Any:
        job = self._known_job(req.jobid)
        if req.kind == "snapshot":
            self.d.store.update_job(job.id, snappath=req.path)
            for waiter in self._snapshot_waiters.pop(job.id, []):
                if req.error:
                    waiter.fail(f"job {job.id}: snapshot failed: {req.error}")
                else:
                    waiter.reply({"jobid": job.id, "snappath": req.path})
            return {"ok": True}
        if req.kind not in TASK_EVENTS:
            raise SugoError(
                f"unknown job event {req.kind!r} (known: snapshot, {', '.join(TASK_EVENTS)})"
            )
        if job.status in QUEUED:  # (late events of an ended job still count)
            raise SugoError(f"job {job.id} has not started ({job.status})")
        now = time.time()
        if req.kind == "task_started":
            self.d.store.update_task(job.id, req.task_index, state="running", started_at=now)
        elif req.kind == "task_ended":
            state = "error" if req.error else "completed"
            self.d.store.update_task(
                job.id, req.task_index, state=state, ended_at=now, points=req.points,
                error=req.error,
            )  # fmt: skip
        elif req.kind == "task_cancelled":
            self.d.store.update_task(
                job.id, req.task_index, state="cancelled", ended_at=now, points=req.points
            )
        self.d.events.emit(
            f"job.{req.kind}", f"job {job.id}", role=req.role, task=req.task_index,
            points=req.points, error=req.error,
        )  # fmt: skip
        return {"ok": True}

    def on_job_done(self, req: api.JobDone, call: Call) -> Any:
        if req.status not in FINAL:
            raise SugoError(f"job {req.jobid}: {req.status!r} is not a final status (c, ce, cd)")
        job = self._known_job(req.jobid)
        if job.status in QUEUED:
            raise SugoError(f"job {job.id} has not started ({job.status})")
        self.finish(req.jobid, JobStatus(req.status), req.error, req.respath, req.tasks)
        return {"ok": True}

    def _known_job(self, jobid: int) -> JobRow:
        """The job ``jobid``; a request about an unknown one is refused."""
        job = self.d.store.get_job(jobid)
        if job is None:
            raise SugoError(f"no job {jobid}")
        return job

    def on_job_write(self, req: api.JobWrite, call: Call) -> Any:
        job = self._known_job(req.jobid)
        if job.status not in RUNNING:
            raise SugoError(f"job {job.id} is not running ({job.status})")
        files = {respath_for(job), snappath_of(job)}
        if req.path not in files:
            raise SugoError(f"job {job.id}: {req.path!r} is not its results or snapshot file")
        if req.status not in ("r", *FINAL):
            raise SugoError(f"job {job.id}: {req.status!r} is not a job status to record")
        self.d.writer.write(job.id, job.jobdir, req.path, req.status, req.error, call)
        return DEFERRED

    def on_job_written(self, req: api.JobWritten, call: Call) -> Any:
        self.d.writer.written(req.jobid, req.path, req.error)
        return {"ok": True}

    def finish(
        self,
        jobid: int,
        status: JobStatus,
        error: str | None,
        respath: str | None,
        tasks: list[api.TaskOutcome] | None = None,
    ) -> None:
        store = self.d.store
        job = store.get_job(jobid)
        if job is None:
            return
        if job.status in FINAL:
            # A final status is never overwritten; but a release that a locked
            # database cut short is completed now.
            self._release(job)
            return
        job = store.set_job_status(jobid, status, error=error)
        if respath:
            job = store.update_job(jobid, respath=respath)
        self._close_tasks(jobid, status, tasks or [])
        if job.started_at is not None:
            self.d.maintenance.record_job(job)
        log.info("job %d: ended %s%s", jobid, status, f" ({error})" if error else "")
        self.d.events.emit("job.ended", f"job {jobid}", status=str(status), error=error)
        for waiter in self._snapshot_waiters.pop(jobid, []):
            waiter.fail(f"job {jobid} ended ({status}) before the snapshot was taken")
        self._release(job)

    def _close_tasks(
        self, jobid: int, status: JobStatus, seen: Sequence[api.TaskOutcome] = ()
    ) -> None:
        """Tasks still open get their end as the runner saw it (``seen``: its
        progress events may have gone to no daemon, after a SIGTERM say), else
        one from the job's status."""
        now = time.time()
        outcomes = {o.index: o for o in seen if o.state in TASK_END_STATES}
        for t in self.d.store.tasks_of(jobid):
            o = outcomes.get(t.index)
            if o is not None and t.state in ("pending", "running"):
                self.d.store.update_task(
                    jobid, t.index, state=o.state, points=max(0, o.points), error=o.error,
                    ended_at=o.ended_at or now,
                )  # fmt: skip
            elif t.state == "pending":
                self.d.store.update_task(jobid, t.index, state="cancelled")
            elif t.state == "running":
                state = "error" if status == JobStatus.CE else "cancelled"
                self.d.store.update_task(jobid, t.index, state=state, ended_at=now)

    def _release(self, job: JobRow) -> None:
        store = self.d.store
        with self._lock:
            self.runners.pop(job.id, None)
        self.control.forget(job.id)
        self.d.scheduler.forget(job.id)
        if job.pipeline:
            p = store.get_pipeline(job.pipeline)
            if p is not None and p.jobid == job.id:
                ready = job.unlock_when_done and job.status == JobStatus.C
                store.set_pipeline(p.name, jobid=None, ready=ready)
                for name in p.components.values():
                    comp = store.get_component(name)
                    if comp is not None and comp.state == ComponentState.BUSY:
                        store.set_component_state(name, ComponentState.IDLE)
                self.d.events.emit("pipeline.freed", p.name, jobid=job.id, ready=ready)
        self.d.scheduler.kick()

    # -- logs and pruning ----------------------------------------------------------------

    def on_job_log(self, req: api.JobLog, call: Call) -> Any:
        job = self._known_job(req.jobid)
        p = self.d.store.get_pipeline(job.pipeline) if job.pipeline else None
        drivers: dict[str, list[str]] = {}
        for name in p.components.values() if p else []:
            comp = self.d.store.get_component(name)
            if comp is not None:
                # Lines name a component as "<driver>:(a,c):" or, from its
                # DeviceManager, "(a,c):"; the colon keeps (a,1) from matching (a,10).
                drivers.setdefault(comp.driver, []).append(f"({comp.address},{comp.channel}):")
        logdir = self.d.settings.logdir
        return {
            "jobid": job.id,
            "status": str(job.status),
            "job_log": str(job_log(job.jobdir)),
            "driver_logs": [
                {"driver": drv, "path": str(logdir / f"driver-{drv}-{self.d.port}.log"),
                 "match": patterns}
                for drv, patterns in sorted(drivers.items())
            ],
            "started_at": job.started_at,
            "completed_at": job.completed_at,
        }  # fmt: skip

    def on_job_prune(self, req: api.JobPrune, call: Call) -> Any:
        days = req.days if req.days is not None else self.d.settings.jobs.retention_days
        if days is None:
            raise SugoError("give --older-than DAYS, or set jobs.retention_days in settings.toml")
        if days < 0:
            raise SugoError("--older-than must not be negative")
        cutoff = time.time() - days * 86400.0
        jobs = {j.id: j for j in self.d.store.list_jobs() if j.is_final}
        pruned = self.d.store.prune_jobs(cutoff)
        storage = self.d.settings.jobs.storage.resolve()
        for jobid in pruned:
            job = jobs.get(jobid)
            folder = Path(job.jobdir).resolve() if job else None
            # Only job folders inside the job storage go; results files live elsewhere.
            if folder is not None and folder.is_relative_to(storage) and folder != storage:
                shutil.rmtree(folder, ignore_errors=True)
        if pruned:
            self.d.events.emit("job.pruned", f"{len(pruned)} jobs", ids=pruned, days=days)
        return {"pruned": pruned, "days": days}

    # -- cancel and snapshot ------------------------------------------------------------

    def on_cancel(self, req: api.Cancel, call: Call) -> Any:
        refused = []
        done = []
        for jobid in req.ids:
            job = self.d.store.get_job(jobid)
            if job is None:
                refused.append(f"no job {jobid}")
            elif job.status in QUEUED:
                self.d.store.set_job_status(jobid, JobStatus.CD)
                self._close_tasks(jobid, JobStatus.CD)
                self.d.events.emit("job.ended", f"job {jobid}", status="cd")
                self.d.scheduler.forget(jobid)
                done.append(jobid)
            elif job.status == JobStatus.R:
                self.d.store.set_job_status(jobid, JobStatus.RD)
                self._tell_runner(jobid, control.CANCEL)
                self.d.events.emit("job.cancel_requested", f"job {jobid}")
                done.append(jobid)
            elif job.status == JobStatus.RD:
                done.append(jobid)
            else:
                refused.append(f"job {jobid} has already ended ({job.status})")
        if refused:
            raise SugoError("; ".join(refused))
        return {"cancelled": done}

    def _tell_runner(self, jobid: int, action: str) -> None:
        """Send a control request (`sugo.platform.control`) to the job's runner."""
        with self._lock:
            tracked = self.runners.get(jobid)
        self.control.send(jobid, tracked, action)

    def on_job_control(self, req: api.JobControl, call: Call) -> Any:
        job = self._known_job(req.jobid)
        if job.status in FINAL:  # an error, so the runner pauses before it asks again
            raise SugoError(f"job {job.id} has ended ({job.status})")
        return self.control.on_poll(req, call, cancelling=job.status == JobStatus.RD)

    def on_snapshot(self, req: api.Snapshot, call: Call) -> Any:
        job = self._known_job(req.jobid)
        if job.status not in (JobStatus.R, JobStatus.RD):
            where = f"; its results are in {job.respath}" if job.status in FINAL else ""
            raise SugoError(f"job {job.id} is not running ({job.status}){where}")
        self._snapshot_waiters.setdefault(job.id, []).append(call)
        self._tell_runner(job.id, control.SNAPSHOT)

        def expire() -> None:
            waiters = self._snapshot_waiters.get(job.id, [])
            if call in waiters:
                waiters.remove(call)
                call.fail(f"job {job.id}: no snapshot within {SNAPSHOT_TIMEOUT:g} s")

        self.d.loop.call_later(SNAPSHOT_TIMEOUT, expire)
        return DEFERRED

    # -- runner supervision and recovery ----------------------------------------------

    def recover(self) -> None:
        """After a daemon restart: re-attach to live runners, settle the rest,
        and write the results still owed by a finalize that did not finish."""
        storage = self.d.settings.jobs.storage
        for marker in storage.glob(f"*/{PENDING_FILE}"):
            job = (
                self.d.store.get_job(int(marker.parent.name))
                if marker.parent.name.isdigit()
                else None
            )
            if job is not None and job.status in FINAL:
                log.info("job %d: its results file is still owed; writing it", job.id)
                self._spawn_finalize(job)
        for job in self.d.store.running_jobs():
            tracked = None
            if job.runner_pid and job.runner_started:
                tracked = Tracked.attach(job.runner_pid, job.runner_started)
            if tracked is not None and tracked.alive():
                with self._lock:
                    self.runners[job.id] = tracked
                log.info("job %d: re-attached to its runner (pid %d)", job.id, tracked.pid)
            else:
                self._lost_until_stored(job.id, job.runner_pid)

    def start_watch(self) -> None:
        def watch() -> None:
            exits: ExitWatch[int] = ExitWatch()
            try:
                while not self._stop_watch.is_set():
                    with self._lock:
                        runners = dict(self.runners)
                    # Sleeps until a runner ends; new runners are looked at
                    # after at most WATCH_EVERY.
                    for jobid in exits.wait(runners, WATCH_EVERY):
                        self._post_lost(jobid, runners[jobid].pid)
            finally:
                exits.close()

        threading.Thread(target=watch, name="watch-runners", daemon=True).start()

    def _post_lost(self, jobid: int, pid: int) -> None:
        self.d.loop.post(lambda: self._lost_until_stored(jobid, pid))

    def _lost_until_stored(self, jobid: int, pid: int | None) -> None:
        self.until_stored(f"job {jobid}", lambda: self.runner_lost(jobid, pid))

    def stop_watch(self) -> None:
        self._stop_watch.set()

    def runner_lost(self, jobid: int, pid: int | None) -> None:
        with self._lock:
            if jobid in self.runners and self.runners[jobid].pid != pid:
                return
            self.runners.pop(jobid, None)
        job = self.d.store.get_job(jobid)
        if job is None:
            return
        if job.status in FINAL:
            self._release(job)  # in case a locked database cut the release short
            return
        final = Path(job.jobdir) / FINAL_FILE
        if final.exists():
            try:
                rec = json.loads(final.read_text())
                self.finish(
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
        self.finish(jobid, JobStatus.CE, error, None)
        self._reset_components(job)
        self._spawn_finalize(job)

    def _spawn_finalize(self, job: JobRow, report: Path | None = None) -> Tracked:
        """Write an ended job's results file from its staging store, in a
        process of the write fork server (the daemon never imports the NetCDF stack)."""
        argv = ["finalize", str(job.id), "--daemon", endpoint("127.0.0.1", self.d.port)]
        if report is not None:
            argv += ["--report", str(report)]
        return self.d.writer.spawn(argv, job_log(job.jobdir))

    def on_job_rebuild(self, req: api.JobRebuild, call: Call) -> Any:
        job = self._known_job(req.jobid)
        if job.status not in FINAL:
            raise SugoError(f"job {job.id} has not ended ({job.status}); its results come then")
        staging = staging_dir(job.jobdir)
        if not staging.is_dir():
            raise SugoError(f"job {job.id}: no staged data in {staging} (pruned or never run)")
        if job.id in self._rebuilding:
            raise SugoError(f"job {job.id}: a rebuild is already running")
        report = Path(job.jobdir) / "rebuild.json"
        report.unlink(missing_ok=True)
        tracked = self._spawn_finalize(job, report)
        self._rebuilding.add(job.id)

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
                self.d.loop.post(lambda: self._rebuilt(call, job.id, respath))
            finally:
                self.d.loop.post(lambda: self._rebuilding.discard(job.id))

        self.d.pool.submit(wait)
        return DEFERRED

    def _rebuilt(self, call: Call, jobid: int, respath: str) -> None:
        what = f"job {jobid}"
        self.until_stored(what, lambda: self.d.store.update_job(jobid, respath=respath))
        self.until_stored(what, lambda: self.d.events.emit("job.rebuilt", what, respath=respath))
        job = self.d.store.get_job(jobid)
        call.reply({**self.info(job), "respath": respath} if job else {"respath": respath})

    def _reset_components(self, job: JobRow) -> None:
        p = self.d.store.get_pipeline(job.pipeline) if job.pipeline else None
        if p is None:
            return
        comps = [self.d.store.get_component(n) for n in p.components.values()]

        def work() -> None:
            for comp in comps:
                if comp is None:
                    continue
                try:
                    with self.d.drivers.client_for(comp.driver, timeout=5.0) as client:
                        client.call(host_api.DevReset(address=comp.address, channel=comp.channel))
                except SugoError as e:
                    log.warning("job %d: reset of %s failed: %s", job.id, comp.name, e)

        self.d.pool.submit(work)

    def cancel_all_running(self) -> list[int]:
        ids = [j.id for j in self.d.store.running_jobs()]
        for jobid in ids:
            job = self.d.store.get_job(jobid)
            if job is not None and job.status == JobStatus.R:
                self.d.store.set_job_status(jobid, JobStatus.RD)
            self._tell_runner(jobid, control.CANCEL)
        return ids

    def wake_runners_using(self, driver: str) -> None:
        """Make the runners of jobs on this driver poll now (its host was lost),
        so they notice at once instead of at their next poll."""
        for p in self.d.store.list_pipelines():
            if p.jobid is None:
                continue
            comps = [self.d.store.get_component(n) for n in p.components.values()]
            if any(c is not None and c.driver == driver for c in comps):
                self._tell_runner(p.jobid, control.WAKE)

    def kill_all_runners(self) -> None:
        with self._lock:
            items = list(self.runners.items())
        for jobid, tracked in items:
            log.warning("job %d: runner pid %d did not stop in time: kill", jobid, tracked.pid)
            tracked.kill()
            self.runner_lost(jobid, tracked.pid)

    def runner_pids(self) -> list[int]:
        with self._lock:
            return [t.pid for t in self.runners.values()]


def _task_json(t: TaskRow) -> dict[str, Any]:
    out: dict[str, Any] = to_builtins(t)
    del out["jobid"]
    return out


def _component_info(comp: ComponentRow) -> api.ComponentInfo:
    return api.ComponentInfo(
        name=comp.name,
        driver=comp.driver,
        device=comp.device,
        address=comp.address,
        channel=comp.channel,
        capabilities=list(comp.capabilities),
        state=str(comp.state),
        pollrate=comp.pollrate,
    )


def _distinct(
    pipelines: list[PipelineRow], components: dict[str, ComponentRow]
) -> list[PipelineRow]:
    """One pipeline per distinct set of (role, driver, device): the others
    would validate the payload the same way."""
    seen: set[tuple[tuple[str, str, str], ...]] = set()
    out = []
    for p in pipelines:
        key = tuple(
            sorted(
                (role, components[n].driver, components[n].device)
                for role, n in p.components.items()
                if n in components
            )
        )
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _outcomes(jobid: int, data: Any) -> list[api.TaskOutcome]:
    """The task outcomes of a `final.json` (none in one of an older sugo)."""
    try:
        return msgspec.convert(data or [], list[api.TaskOutcome])
    except msgspec.ValidationError as e:
        log.warning("job %d: task outcomes of %s ignored: %s", jobid, FINAL_FILE, e)
        return []
