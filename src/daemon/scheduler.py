"""Matching queued jobs to pipelines.

``can_run`` answers "could this pipeline ever run this payload" from the
components' capabilities; the scheduler starts, in submission order, every job
whose pipeline is ready now. It runs on the loop thread whenever something that
matters happens: it reacts to the events of ``KICK_ON`` on the bus (submit,
pipeline ready, job end, components up, a component's health code changing).

``why_not`` says why a pipeline that could run a job cannot take it now; the
same function decides whether the scheduler starts the job, so what `sugo jobs
ID` reports as the reason is exactly what holds the job back.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sugo.daemon.bus import DRIVER_READY, RELOADED, Bus
from sugo.daemon.payloads import PayloadCache
from sugo.daemon.store import ComponentRow, JobRow, PipelineRow, retryable
from sugo.errors import StoreError
from sugo.protocol.states import ComponentState, JobStatus

if TYPE_CHECKING:
    from sugo.config.payload import Payload
    from sugo.daemon.runtime import Runtime
    from sugo.daemon.store import Store

log = logging.getLogger("sugo.daemon.scheduler")

#: Health codes from here up to (not including) 400 mean the device itself has
#: a problem (unplugged, not answering, in error): no new job goes to it.
UNHEALTHY_FROM, UNHEALTHY_TO = 300, 400
#: At most this many pipelines are named in a job's one-line ``waiting``.
SUMMARY_PIPELINES = 3


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


@dataclass
class World:
    """What the scheduler looks at in one pass, read once from the store."""

    pipelines: list[PipelineRow]
    components: dict[str, ComponentRow]
    health: dict[str, dict[str, Any]]
    busy: dict[str, int]  # component name -> id of the job using it


def why_not(
    job: JobRow,
    p: PipelineRow,
    world: World,
    maintenance: Callable[[PipelineRow], str | None] | None = None,
) -> str | None:
    """Why ``p`` (which could run ``job``) cannot take it now; None if it can.

    ``maintenance``: the pipeline's blocking maintenance reason, asked last
    (it reads the maintenance table)."""
    if p.jobid is not None:
        return f"busy with job {p.jobid}"
    if p.sample is None:
        return f"no sample loaded (sugo pipeline load {p.name} {job.sample})"
    if p.sample != job.sample:
        return f"holds another sample, {p.sample!r}, not {job.sample!r}"
    if not p.ready:
        return f"not ready (sugo pipeline ready {p.name})"
    for role, name in sorted(p.components.items()):
        other = world.busy.get(name)
        if other is not None and other != job.id:
            return f"component {name} (role {role!r}) is busy with job {other}"
        comp = world.components.get(name)
        if comp is None:
            return f"component {name} (role {role!r}) is not configured"
        code = int(world.health.get(name, {}).get("code") or 0)
        if UNHEALTHY_FROM <= code < UNHEALTHY_TO:
            h = world.health[name]
            text = f": {h['text']}" if h.get("text") else ""
            return (
                f"component {name} (role {role!r}) is unhealthy"
                f" ({code} {h.get('label') or ''}{text})"
            )
        if comp.state != ComponentState.IDLE:
            return f"component {name} (role {role!r}) is {comp.state.value}"
    return maintenance(p) if maintenance is not None else None


def summary(reasons: dict[str, str]) -> str:
    """One line from a job's reasons per pipeline."""
    if not reasons:
        return "no pipeline has every role and technique it needs"
    items = [f"{name}: {why}" for name, why in reasons.items()]
    if len(items) > SUMMARY_PIPELINES:
        more = len(items) - SUMMARY_PIPELINES
        items = [*items[:SUMMARY_PIPELINES], f"and {more} more pipeline(s)"]
    return "; ".join(items)


#: Events after which a queued job may start (or must wait elsewhere): each
#: makes the scheduler run a pass (coalesced).
KICK_ON = (
    "daemon.started", "job.queued", "job.ended", "pipeline.freed", "pipeline.ready",
    "pipeline.ejected", "maintenance.done", "component.status", "component.registered",
    "component.failed", DRIVER_READY, RELOADED,
)  # fmt: skip
STORE_RETRY = 1.0  # seconds before a pass the locked database cut short runs again

#: Why no job may start on a pipeline now (maintenance due), or None.
Blocking = Callable[[PipelineRow], str | None]


def world_of(store: "Store") -> World:
    """What a scheduling pass looks at, read once from ``store``."""
    pipelines = store.list_pipelines()
    busy = {
        name: p.jobid for p in pipelines if p.jobid is not None for name in p.components.values()
    }
    return World(
        pipelines=pipelines,
        components={c.name: c for c in store.list_components()},
        health=store.all_health(),
        busy=busy,
    )


def reasons(job: JobRow, payload: "Payload", world: World, blocking: Blocking) -> dict[str, str]:
    """Why a queued job waits, for each pipeline that could run it
    (pipeline name -> reason); empty when none could."""
    out: dict[str, str] = {}
    for p in world.pipelines:
        if can_run(payload, p, world.components) is not None:
            continue
        why = why_not(job, p, world, blocking)
        # A pipeline that is free now starts the job at the next pass.
        out[p.name] = why or "free: the job starts at the next scheduling pass"
    return out


class Scheduler:
    """Starts queued jobs (``start``, the job manager's) on the pipelines
    free for them, in a pass run after every event of ``KICK_ON``."""

    def __init__(
        self,
        rt: "Runtime",
        bus: Bus,
        payloads: PayloadCache,
        blocking: Blocking,
        start: Callable[[JobRow, PipelineRow], None],
    ) -> None:
        self.rt = rt
        self.payloads = payloads
        self.blocking = blocking
        self.start = start
        self._pending = False
        bus.subscribe(KICK_ON, lambda _event: self.kick())

    def kick(self) -> None:
        """Schedule one matching pass on the loop (coalesced)."""
        if not self._pending:
            self._pending = True
            self.rt.loop.post(self._run)

    def _run(self) -> None:
        self._pending = False
        if self.rt.stopping:
            return
        with self.rt.store.records_held():  # one job.json write per job started
            self._place_queued()

    def _place_queued(self) -> None:
        store = self.rt.store
        world: World | None = None
        for job in store.queued_jobs():
            # Read again after a start (it took a pipeline and its components),
            # but only when another job is left to place: in a burst of
            # submits each pass starts one job, and a read costs ~1 ms.
            if world is None:
                world = world_of(store)
            payload = self.payloads.payload_of(job)
            matching = [p for p in world.pipelines if can_run(payload, p, world.components) is None]
            if matching and job.status == JobStatus.Q:
                store.set_job_status(job.id, JobStatus.QW)
            elif not matching and job.status == JobStatus.QW:
                store.set_job_status(job.id, JobStatus.Q)
            for p in matching:
                if why_not(job, p, world, self.blocking) is not None:
                    continue
                try:
                    self.start(job, p)
                except StoreError as e:
                    if retryable(e):  # nothing changed: try again later
                        self.rt.loop.call_later(STORE_RETRY, self.kick)
                    raise
                world = None
                break
