"""Submit: a payload checked (size, repositories, output files, a pipeline
that can run it, validated by a driver host of each distinct kind of
pipeline) and queued. The queued job's ``job.queued`` event wakes the
scheduler.

A dry run (`sugo check`) makes the same checks and queues nothing: its
reply names every pipeline and why it cannot run the payload, so `check`
passes exactly what `submit` accepts."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from sugo.daemon.jobs import admission
from sugo.daemon.jobs.admission import (
    check_writable,
    resolve_output,
    respath_for,
    respath_of,
    snappath_of,
)
from sugo.daemon.scheduler import can_run
from sugo.daemon.store import ComponentRow, JobRow, PipelineRow
from sugo.daemon.store.registry import TaskRow
from sugo.errors import RequestFailed, SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.server import DEFERRED, Call, Deferred
from sugo.protocol.states import QUEUED, RUNNING

if TYPE_CHECKING:
    from sugo.config.payload import Payload
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Hosts, Runtime

log = logging.getLogger("sugo.daemon.jobs")

MAX_PAYLOAD_VALUES = 100_000  # more is an alias bomb, not an experiment


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


@dataclass
class _Admitted:
    """A payload that passed the checks of a submit that need no driver host."""

    payload: "Payload"
    outputs: admission.Outputs
    pipelines: list[PipelineRow]
    reasons: dict[str, str | None]  # pipeline -> why it cannot run the payload (None: it can)
    components: dict[str, ComponentRow]


class Submissions:
    def __init__(
        self,
        rt: "Runtime",
        events: "Events",
        hosts: "Hosts",
        info: Callable[[JobRow], api.JobInfo],
    ) -> None:
        self.rt = rt
        self.events = events
        self.hosts = hosts
        self.info = info  # a job as `sugo jobs` shows it (JobQueries.info)

    def handlers(self) -> dict[type, Any]:
        return {api.Submit: self.on_submit, api.SubmitCheck: self.on_check}

    def on_submit(self, req: api.Submit, call: Call[api.JobInfo]) -> Deferred:
        admitted = self._admit(req)
        reasons = admitted.reasons
        pipelines = [p for p in admitted.pipelines if reasons[p.name] is None]
        candidates = _distinct(pipelines, admitted.components)
        if not candidates:
            why = "; ".join(f"{n}: {r}" for n, r in reasons.items()) or "no pipelines configured"
            raise SugoError(f"no pipeline can run {req.source}: {why}")
        loop = self.rt.loop

        def validate() -> None:
            failures = []
            for p in candidates:
                problem = self._validate_on(admitted.payload, p, admitted.components)
                if problem is None:
                    loop.post(lambda: self._accept(call, req, admitted.payload, admitted.outputs))
                    return
                failures.append(f"{p.name}: {problem}")
            call.fail(f"{req.source} rejected: " + "; ".join(failures))

        self.rt.pool.submit(validate)
        return DEFERRED

    def on_check(self, req: api.SubmitCheck, call: Call[api.DryRunReply]) -> Deferred:
        """A dry run: the checks of ``on_submit``, then each pipeline's verdict."""
        self.rt.pool.submit(self._dry_run, call, self._admit(req))
        return DEFERRED

    def _admit(self, req: api.Submit) -> "_Admitted":
        """(loop thread) The checks of a submit that need no driver host; a
        SugoError says why the payload is refused outright."""
        from sugo.config.payload import parse_payload

        try:
            payload = parse_payload(req.payload, req.fmt, req.source)
        except RecursionError:
            raise SugoError(f"{req.source}: nested too deeply to be a payload") from None
        check_size(payload, req.source)
        repositories = self.rt.settings.repositories
        unknown = [r for r in payload.settings.output.repositories if r not in repositories]
        if unknown:
            known = ", ".join(sorted(repositories)) or "none"
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
        store = self.rt.store
        components = {c.name: c for c in store.list_components()}
        pipelines = store.list_pipelines()
        reasons = {p.name: can_run(payload, p, components) for p in pipelines}
        return _Admitted(payload, outputs, pipelines, reasons, components)

    def _dry_run(self, call: Call[api.DryRunReply], admitted: "_Admitted") -> None:
        """(worker pool) Each pipeline and why it cannot run the payload (None:
        it can): ``can_run``'s reason, else what its driver hosts refuse (asked
        once per distinct kind of pipeline, as a submit does)."""
        components = admitted.components
        problems: dict[tuple[tuple[str, str, str], ...], str | None] = {}
        out = []
        for p in admitted.pipelines:
            reason = admitted.reasons[p.name]
            if reason is None:
                key = _kind(p, components)
                if key not in problems:
                    problems[key] = self._validate_on(admitted.payload, p, components)
                reason = problems[key]
            out.append(
                api.PipelineVerdict(
                    name=p.name, can_run=reason is None, reason=reason, ready=p.ready,
                    sample=p.sample,
                )
            )  # fmt: skip
        call.reply(api.DryRunReply(dry_run=True, pipelines=out))

    def _validate_on(
        self, payload: "Payload", p: PipelineRow, components: dict[str, ComponentRow]
    ) -> str | None:
        for role in payload.roles():
            comp = components[p.components[role]]
            try:
                with self.hosts.client_for(comp.driver, timeout=3.0) as client:
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
        call: Call[api.JobInfo],
        req: api.Submit,
        payload: "Payload",
        outputs: admission.Outputs,
    ) -> None:
        store = self.rt.store
        # One job.json write for the new job, not one per change (its row, its
        # paths); its folder, which reserves its id, is made at once.
        with store.records_held():
            try:
                job = self._queue(req, payload, outputs)
            except SugoError as e:
                call.fail(f"{req.source} not queued: {e}")
                return
        call.reply(msgspec.structs.replace(self.info(job), respath=job.respath))

    def _queue(self, req: api.Submit, payload: "Payload", outputs: admission.Outputs) -> JobRow:
        """Record the accepted job, its paths and tasks, and say it is queued."""
        store = self.rt.store
        output_dir, prefix = outputs.folder, outputs.prefix
        self._check_outputs(outputs)  # again: a job accepted meanwhile may clash
        job = store.add_job(
            payload_json=payload.model_dump_json(),
            jobname=req.jobname,
            sample=payload.sample.identifier,
            user=payload.user.identifier or "unknown",
            output_dir=output_dir,
            prefix=prefix,
            unlock_when_done=payload.settings.unlock_when_done,
            jobdir_root=self.rt.settings.jobs.storage,
        )
        # The job exists: what follows is completed later if the database is locked now.
        respath = respath_of(output_dir, prefix, job.id)
        snappath = outputs.custom_snapshot(job.id)
        tasks = [
            TaskRow(job.id, i, t.component_role, t.technique_name, "pending")
            for i, t in enumerate(payload.method)
        ]
        what = f"job {job.id}"
        stored = {"respath": respath, "snappath": snappath}
        until_stored = self.rt.until_stored
        until_stored(what, lambda: store.update_job(job.id, **stored))
        until_stored(what, lambda: store.add_tasks(tasks))
        by = {"by": req.by} if req.by else {}  # deferred: out of the request's context
        # (the scheduler reacts to it, even while the database refuses to record it)
        until_stored(what, lambda: self.events.emit("job.queued", what, sample=job.sample, **by))
        return msgspec.structs.replace(job, respath=respath, snappath=snappath)

    def _check_outputs(self, outputs: admission.Outputs) -> None:
        """Refuse results or snapshot files that clash with another job's (issue 13)."""
        if not outputs.named():
            return  # id-named files clash with nothing
        store = self.rt.store
        active = store.list_jobs(statuses=[*QUEUED, *RUNNING])
        planned = admission.planned_files((j, respath_for(j), snappath_of(j)) for j in active)
        admission.check_outputs(
            outputs,
            planned,
            lambda path: next((j.id for j in store.list_jobs() if j.respath == path), None),
        )


def _distinct(
    pipelines: list[PipelineRow], components: dict[str, ComponentRow]
) -> list[PipelineRow]:
    """One pipeline per distinct set of (role, driver, device): the others
    would validate the payload the same way."""
    seen: set[tuple[tuple[str, str, str], ...]] = set()
    out = []
    for p in pipelines:
        key = _kind(p, components)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _kind(p: PipelineRow, components: dict[str, ComponentRow]) -> tuple[tuple[str, str, str], ...]:
    """What validating a payload on ``p`` depends on: its (role, driver, device)s."""
    return tuple(
        sorted(
            (role, components[n].driver, components[n].device)
            for role, n in p.components.items()
            if n in components
        )
    )
