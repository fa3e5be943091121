"""Matching queued jobs to pipelines.

``can_run`` answers "could this pipeline ever run this payload" from the
components' capabilities; the scheduler starts, in submission order, every job
whose pipeline is ready now. It runs on the loop thread whenever something that
matters happens (``kick``): submit, pipeline ready, job end, components up.
"""

import logging
from typing import TYPE_CHECKING

from sugo.daemon.states import ComponentState, JobStatus
from sugo.daemon.store import ComponentRow, JobRow, PipelineRow

if TYPE_CHECKING:
    from sugo.config.payload import Payload
    from sugo.daemon.core import Daemon

log = logging.getLogger("sugo.daemon.scheduler")


def can_run(
    payload: "Payload", pipeline: PipelineRow, components: dict[str, ComponentRow]
) -> str | None:
    """None if ``pipeline`` has every role with the techniques the payload
    needs; otherwise the reason it cannot run it."""
    for role in payload.roles():
        name = pipeline.components.get(role)
        if name is None:
            return f"no role {role!r} (roles: {', '.join(sorted(pipeline.components))})"
        comp = components.get(name)
        if comp is None:
            return f"component {name} of role {role!r} is not configured"
        for _, task in payload.tasks_of(role):
            if comp.state != ComponentState.FAILED and task.technique_name not in comp.capabilities:
                known = ", ".join(comp.capabilities) or "none known yet"
                return (
                    f"role {role!r} ({name}) has no technique {task.technique_name!r}"
                    f" (capabilities: {known})"
                )
    return None


class Scheduler:
    def __init__(self, daemon: "Daemon") -> None:
        self.d = daemon
        self._pending = False
        self._payloads: dict[int, Payload] = {}
        self.waiting: dict[int, str] = {}  # why a queued job cannot start yet

    def kick(self) -> None:
        """Schedule one matching pass on the loop (coalesced)."""
        if not self._pending:
            self._pending = True
            self.d.loop.post(self._run)

    def payload_of(self, job: JobRow) -> "Payload":
        cached = self._payloads.get(job.id)
        if cached is None:
            from sugo.config.payload import Payload

            cached = Payload.model_validate_json(job.payload)
            self._payloads[job.id] = cached
        return cached

    def forget(self, jobid: int) -> None:
        self._payloads.pop(jobid, None)

    def _run(self) -> None:
        self._pending = False
        if self.d.stopping:
            return
        store = self.d.store
        pipelines = store.list_pipelines()
        components = {c.name: c for c in store.list_components()}
        in_use = self.d.jobs.components_in_use()
        self.waiting.clear()
        for job in store.queued_jobs():
            payload = self.payload_of(job)
            matching = [p for p in pipelines if can_run(payload, p, components) is None]
            if matching and job.status == JobStatus.Q:
                store.set_job_status(job.id, JobStatus.QW)
            elif not matching and job.status == JobStatus.QW:
                store.set_job_status(job.id, JobStatus.Q)
            for p in matching:
                if not self._free(p, job, components, in_use):
                    continue
                self.d.jobs.start(job, p)
                in_use.update(p.components.values())
                pipelines = store.list_pipelines()
                break

    def _free(
        self, p: PipelineRow, job: JobRow, components: dict[str, ComponentRow], in_use: set[str]
    ) -> bool:
        if not p.ready or p.jobid is not None or p.sample != job.sample:
            return False
        for name in p.components.values():
            comp = components.get(name)
            if comp is None or comp.state != ComponentState.IDLE or name in in_use:
                return False
        reason = self.d.maintenance.blocking_reason(p)
        if reason is not None:
            self.waiting[job.id] = reason
            return False
        return True
