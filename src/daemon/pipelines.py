"""Pipeline commands: load a sample, eject it, mark ready."""

from typing import TYPE_CHECKING, Any

from sugo.daemon.status import pipeline_info
from sugo.daemon.store import PipelineRow
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.server import Call

if TYPE_CHECKING:
    from sugo.daemon.events import Events
    from sugo.daemon.store import Store


class PipelineCommands:
    """Its events (``pipeline.ready``, ``pipeline.ejected``) wake the scheduler."""

    def __init__(self, store: "Store", events: "Events") -> None:
        self.store = store
        self.events = events

    def handlers(self) -> dict[type, Any]:
        return {
            api.PipelineLoad: self.on_load,
            api.PipelineEject: self.on_eject,
            api.PipelineReady: self.on_ready,
        }

    def _get(self, name: str) -> PipelineRow:
        p = self.store.get_pipeline(name)
        if p is None:
            known = ", ".join(q.name for q in self.store.list_pipelines()) or "none"
            raise SugoError(f"no pipeline {name!r} (pipelines: {known})")
        return p

    def _idle(self, p: PipelineRow, what: str) -> None:
        if p.jobid is not None:
            raise SugoError(f"cannot {what} pipeline {p.name}: job {p.jobid} is running on it")

    def on_load(self, req: api.PipelineLoad, call: Call[api.PipelineInfo]) -> api.PipelineInfo:
        p = self._get(req.pipeline)
        if not req.sample.strip():
            raise SugoError("the sample name must not be empty")
        if p.sample == req.sample:
            return pipeline_info(p)  # loading the same sample again changes nothing
        if p.sample is not None:
            raise SugoError(f"pipeline {p.name} already holds sample {p.sample!r}; eject it first")
        self._idle(p, "load")
        p = self.store.set_pipeline(p.name, sample=req.sample, ready=False)
        self.events.emit("pipeline.loaded", p.name, sample=req.sample)
        return pipeline_info(p)

    def on_eject(self, req: api.PipelineEject, call: Call[api.PipelineInfo]) -> api.PipelineInfo:
        p = self._get(req.pipeline)
        self._idle(p, "eject")
        if p.sample is None and not p.ready:
            return pipeline_info(p)
        p = self.store.set_pipeline(p.name, sample=None, ready=False)
        self.events.emit("pipeline.ejected", p.name)
        return pipeline_info(p)

    def on_ready(self, req: api.PipelineReady, call: Call[api.PipelineInfo]) -> api.PipelineInfo:
        p = self._get(req.pipeline)
        self._idle(p, "mark ready")
        if not p.ready:
            p = self.store.set_pipeline(p.name, ready=True)
            self.events.emit("pipeline.ready", p.name, sample=p.sample)
        return pipeline_info(p)
