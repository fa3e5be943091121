"""Routes about the lab: status, pipelines, components, and the event stream."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.wire import to_builtins
from sugo.web import sse
from sugo.web.app import ApiError, Cfg, Operator, Reader, WebConfig, refusal

router = APIRouter()


def _json(data: Any, status: int = 200) -> Response:
    return Response(sse.dumps(data), status, media_type="application/json")


def _ask(cfg: WebConfig, req: Any, timeout: float | None = None) -> Any:
    """The reply to ``req`` as plain JSON data (served as it is)."""
    try:
        return cfg.daemon.client().ask_json(req, timeout)
    except SugoError as e:
        raise refusal(e) from None
    finally:
        if getattr(req, "by", ""):  # a write (only writes say who)
            cfg.changed()


class SampleBody(BaseModel):
    sample: str = Field(description="The sample to load, e.g. S-1")


class ValueBody(BaseModel):
    value: Any = Field(description="The new value (the driver coerces text)")
    force: bool = Field(False, description="set it even while a job uses the component")


class ForceBody(BaseModel):
    force: bool = False


@router.get("/status", summary="The daemon: pipelines, drivers, devices, components")
async def status(cfg: Cfg, who: Reader) -> Response:
    body = cfg.status_cache.cached()  # on the event loop: no thread, no daemon request
    if body is None:
        body = await run_in_threadpool(_status, cfg)
    return Response(body, media_type="application/json")


def _status(cfg: WebConfig) -> bytes:
    try:
        return cfg.status_cache.get(cfg.daemon.client())
    except SugoError as e:
        raise refusal(e) from None


@router.get("/pipelines", summary="Every pipeline: sample, readiness, job, components")
def pipelines(cfg: Cfg, who: Reader) -> Response:
    return _json({"pipelines": _ask(cfg, api.Status())["pipelines"]})


@router.post("/pipelines/{name}/load", summary="Load a sample into an empty pipeline")
def pipeline_load(
    name: str,
    body: SampleBody,
    cfg: Cfg,
    who: Operator,
) -> Response:
    return _json(_ask(cfg, api.PipelineLoad(pipeline=name, sample=body.sample, by=who.actor)))


@router.post("/pipelines/{name}/eject", summary="Remove the pipeline's sample")
def pipeline_eject(name: str, cfg: Cfg, who: Operator) -> Response:
    return _json(_ask(cfg, api.PipelineEject(pipeline=name, by=who.actor)))


@router.post("/pipelines/{name}/ready", summary="Mark the pipeline ready for the next job")
def pipeline_ready(name: str, cfg: Cfg, who: Operator) -> Response:
    return _json(_ask(cfg, api.PipelineReady(pipeline=name, by=who.actor)))


@router.get("/components", summary="Every component: health code and text, maintenance due")
def components(cfg: Cfg, who: Reader) -> Response:
    st = _ask(cfg, api.Status())
    items = _ask(cfg, api.MaintenanceStatus())["items"]
    by_device: dict[str, list[Any]] = {}
    for item in items:
        by_device.setdefault(str(item.get("device")), []).append(item)
    comps = [{**c, "maintenance": by_device.get(c["device"], [])} for c in st["components"]]
    return _json({"components": comps})


def _verb(cfg: WebConfig, name: str, verb: str, by: str = "", force: bool = False,
          **args: Any) -> Any:  # fmt: skip
    return _ask(cfg, api.ComponentCall(name=name, verb=verb, args=args, force=force, by=by))


@router.get("/components/{name}", summary="A component's status (dev_status)")
def component_status(name: str, cfg: Cfg, who: Reader) -> Response:
    return _json(_verb(cfg, name, "dev_status"))


@router.get("/components/{name}/attrs", summary="A component's attrs: type, units, limits")
def component_attrs(name: str, cfg: Cfg, who: Reader) -> Response:
    return _json(_verb(cfg, name, "attrs"))


@router.get("/components/{name}/attrs/{attr}", summary="Read one attr (get)")
def component_get(name: str, attr: str, cfg: Cfg, who: Reader) -> Response:
    return _json({"attr": attr, "value": _verb(cfg, name, "dev_get_attr", attr=attr)})


@router.post("/components/{name}/attrs/{attr}", summary="Set one attr (set)")
def component_set(
    name: str,
    attr: str,
    body: ValueBody,
    cfg: Cfg,
    who: Operator,
) -> Response:
    out = _verb(cfg, name, "dev_set_attr", who.actor, body.force, attr=attr, val=body.value)
    return _json({"attr": attr, "result": out})


@router.get("/components/{name}/measure", summary="A quick reading: task status and values")
def component_measure(name: str, cfg: Cfg, who: Reader) -> Response:
    return _json(
        {"task": _verb(cfg, name, "task_status"), "status": _verb(cfg, name, "dev_status")}
    )


@router.post("/components/{name}/reset", summary="Reset the component (dev_reset)")
def component_reset(
    name: str,
    cfg: Cfg,
    who: Operator,
    body: Annotated[ForceBody, Body(default_factory=ForceBody)],
) -> Response:
    return _json({"result": _verb(cfg, name, "dev_reset", who.actor, body.force)})


@router.post("/components/{name}/restart", summary="Tear the component down and register it again")
def component_restart(name: str, cfg: Cfg, who: Operator) -> Response:
    return _json(_ask(cfg, api.ComponentRestart(name=name, by=who.actor), timeout=15.0))


@router.get(
    "/events",
    summary="The event log as Server-Sent Events",
    description="Starts from now; with `Last-Event-ID` (or `?after=ID`) from the event after "
    "that id. A client that falls more than 1000 events behind gets an `event: dropped` "
    "and is disconnected (reconnect with Last-Event-ID: nothing is lost).",
    response_class=StreamingResponse,
)
async def events(
    request: Request,
    cfg: Cfg,
    who: Reader,
    after: int | None = Query(None, ge=0, description="resume after this event id"),
    last_event_id: str | None = Header(None),
) -> StreamingResponse:
    start = after
    if start is None and last_event_id:
        try:
            start = int(last_event_id)
        except ValueError:
            raise ApiError(422, f"Last-Event-ID {last_event_id!r} is not an event id") from None
    pump = request.app.state.pump
    if not await run_in_threadpool(pump.wait_started, 5.0):
        raise ApiError(503, "the daemon's event log is not reachable")
    loop = asyncio.get_running_loop()
    return sse.response(sse.event_stream(request, cfg, pump, loop, start))


def events_status(cfg: WebConfig) -> dict[str, Any]:
    return to_builtins(_ask(cfg, api.Status()))
