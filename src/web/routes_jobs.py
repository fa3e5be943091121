"""Routes about jobs: list, submit, check, one job, cancel, log, tasks, data,
wait and the live stream. Each job is an invocation (see sugo.web.jobs)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response, StreamingResponse

from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.web import sse
from sugo.web.app import ApiError, Cfg, Operator, Reader, WebConfig, refusal
from sugo.web.jobs import FINAL, LABTHINGS_STATUS, job_json

DATA_PAGE = 100_000  # points per role in one `GET /jobs/{id}/data` (its default `limit`)
MAX_DATA_PAGE = 1_000_000

router = APIRouter()

#: Content types of a submitted payload → the daemon's format names.
FORMATS = {
    "application/json": "json",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "application/toml": "toml",
    "text/toml": "toml",
}
PAYLOAD_BODY = {
    "required": True,
    "content": {t: {"schema": {"type": "string"}} for t in FORMATS},
    "description": "The payload file's text: JSON, YAML or TOML by Content-Type "
    "(or `?format=`), validated like `sugo submit`.",
}
WAIT_POLL = 0.2  # seconds between status requests while waiting


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(sse.dumps(data), status, headers=headers, media_type="application/json")


def _jobs(cfg: WebConfig, ids: list[int] | None = None, payload: bool = False) -> list[Any]:
    try:
        return cfg.daemon.jobs(ids, payload=payload)
    except SugoError as e:
        raise refusal(e) from None


def _job(cfg: WebConfig, jobid: int, payload: bool = False) -> dict[str, Any]:
    [job] = _jobs(cfg, [jobid], payload)
    return job


@router.get("/jobs", summary="Jobs, newest last, with filters")
async def jobs(
    cfg: Cfg,
    who: Reader,
    status: str | None = Query(
        None,
        description="comma-separated codes (q,qw,r,rd,c,ce,cd)"
        " or labthings words (pending,running,completed,...)",
    ),
    pipeline: str | None = None,
    sample: str | None = None,
    name: str | None = Query(None, description="jobs whose name contains this"),
    limit: int | None = Query(None, ge=1, description="only the newest N matches"),
) -> Response:
    filtered = bool(status or pipeline or sample or name or limit)
    if not filtered:
        cached = cfg.jobs_cache.cached()  # on the event loop: no thread, no daemon request
        if cached is not None:
            return Response(cached, media_type="application/json")
    return await run_in_threadpool(_jobs_list, cfg, status, pipeline, sample, name, limit)


def _jobs_list(
    cfg: WebConfig,
    status: str | None,
    pipeline: str | None,
    sample: str | None,
    name: str | None,
    limit: int | None,
) -> Response:
    try:
        found, body = cfg.jobs_cache.jobs(cfg.daemon.client(), cfg.daemon.payload)
    except SugoError as e:
        raise refusal(e) from None
    if not (status or pipeline or sample or name or limit):
        return Response(body, media_type="application/json")
    if status:
        wanted = {s.strip() for s in status.split(",") if s.strip()}
        words = LABTHINGS_STATUS
        found = [j for j in found if j["status"] in wanted or words[j["status"]] in wanted]
    if pipeline:
        found = [j for j in found if j.get("pipeline") == pipeline]
    if sample:
        found = [j for j in found if j.get("sample") == sample]
    if name:
        found = [j for j in found if name in (j.get("jobname") or "")]
    if limit:
        found = found[-limit:]
    payload = cfg.daemon.payload
    return _json({"jobs": [
        job_json(j, payload(j["id"]) if j["status"] in ("r", "rd") else None) for j in found
    ]})  # fmt: skip


async def _payload_text(request: Request, fmt: str | None) -> tuple[str, str]:
    if fmt is None:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        fmt = FORMATS.get(ctype)
        if fmt is None:
            known = ", ".join(FORMATS)
            raise ApiError(415, f"payload type {ctype or 'none'!r}: use ?format= or one of {known}")
    if fmt not in ("json", "yaml", "toml"):
        raise ApiError(422, f"unknown payload format {fmt!r} (known: json, yaml, toml)")
    try:
        return (await request.body()).decode("utf-8"), fmt
    except UnicodeDecodeError:
        raise ApiError(422, "the payload is not UTF-8 text") from None


def _parse(text: str, fmt: str, source: str) -> Any:
    from sugo.config.payload import parse_payload

    try:
        return parse_payload(text, fmt, source)
    except RecursionError:
        raise ApiError(422, f"{source}: nested too deeply to be a payload") from None
    except SugoError as e:  # the schema refuses it: the CLI's message
        raise ApiError(422, str(e)) from None


@router.post("/jobs", summary="Submit a payload", status_code=201, openapi_extra={
    "requestBody": PAYLOAD_BODY})  # fmt: skip
async def submit(
    request: Request,
    cfg: Cfg,
    who: Operator,
    format: str | None = Query(None, description="json, yaml or toml (default: by Content-Type)"),
    source: str = Query("payload", description="the payload's name in error messages"),
    jobname: str | None = None,
) -> Response:
    text, fmt = await _payload_text(request, format)
    payload = await run_in_threadpool(_parse, text, fmt, source)
    user = payload.user.identifier or who.name
    req = api.Submit(payload=text, fmt=fmt, source=source, cwd=str(cfg.datadir),
                     jobname=jobname, user=user, by=who.actor)  # fmt: skip

    def send() -> Any:
        try:
            return cfg.daemon.client().ask_json(req)
        except SugoError as e:
            raise refusal(e) from None
        finally:
            cfg.changed()

    job = await run_in_threadpool(send)
    return _json(job_json(job), 201, {"Location": f"/api/v1/jobs/{job['id']}"})


@router.post("/jobs/check", summary="Validate a payload as `sugo check` does", openapi_extra={
    "requestBody": PAYLOAD_BODY})  # fmt: skip
async def check(
    request: Request,
    cfg: Cfg,
    who: Reader,
    format: str | None = Query(None, description="json, yaml or toml (default: by Content-Type)"),
    source: str = Query("payload", description="the payload's name in error messages"),
) -> Response:
    text, fmt = await _payload_text(request, format)
    payload = await run_in_threadpool(_parse, text, fmt, source)
    # The submit this API would send, as a dry run: what it checks is what submit checks.
    req = api.Submit(payload=text, fmt=fmt, source=source, cwd=str(cfg.datadir),
                     user=payload.user.identifier or who.name, by=who.actor)  # fmt: skip

    def judge() -> list[dict[str, Any]]:
        from sugo.web.check import verdicts

        try:
            return verdicts(cfg.daemon.client(), req)
        except SugoError as e:
            raise refusal(e) from None

    found = await run_in_threadpool(judge)
    doc: dict[str, Any] = {"valid": True, "sample": payload.sample.identifier,
                           "roles": payload.roles(), "tasks": len(payload.method),
                           "pipelines": found}  # fmt: skip
    if not any(v["can_run"] for v in found):
        why = "; ".join(f"{v['name']}: {v['reason']}" for v in found) or "no pipelines configured"
        doc["error"] = f"no pipeline can run {source}: {why}"
    return _json(doc)


@router.get("/jobs/{jobid}", summary="One job, with its payload as `input`")
def job(jobid: int, cfg: Cfg, who: Reader) -> Response:
    return _json(job_json(_job(cfg, jobid, payload=True)))


@router.post(
    "/jobs/{jobid}/cancel",
    summary="Cancel a job (queued: at once; running: rd, then cd)",
    status_code=202,
)
def cancel(jobid: int, cfg: Cfg, who: Operator) -> Response:
    try:
        cfg.daemon.client().ask(api.Cancel(ids=[jobid], by=who.actor))
    except SugoError as e:
        raise refusal(e) from None
    finally:
        cfg.changed()
    return _json(job_json(_job(cfg, jobid)), 202)


@router.get("/jobs/{jobid}/tasks", summary="The job's task states")
def tasks(jobid: int, cfg: Cfg, who: Reader) -> Response:
    return _json({"id": jobid, "tasks": _job(cfg, jobid)["tasks"]})


@router.get("/jobs/{jobid}/log", summary="The job's log (from byte `offset`, for following)")
def log(
    jobid: int,
    cfg: Cfg,
    who: Reader,
    offset: int = Query(0, ge=0, description="start here (the `offset` of the last reply)"),
) -> Response:
    try:
        where = cfg.daemon.client().job_log(jobid)
    except SugoError as e:
        raise refusal(e) from None
    path = Path(where.job_log)
    text, end = "", offset
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read(1 << 20)
            cut = data.rfind(b"\n") + 1  # whole lines only; the rest comes next time
            text, end = data[:cut].decode("utf-8", "replace"), offset + cut
    except FileNotFoundError:
        pass
    return _json({"id": jobid, "path": str(path), "offset": end, "lines": text.splitlines(),
                  "status": where.status})  # fmt: skip


@router.get("/jobs/{jobid}/data", summary="The job's data: JSON columns, or NetCDF")
def data(
    jobid: int,
    cfg: Cfg,
    who: Reader,
    format: str = Query("json", pattern="^(json|netcdf)$"),
    offset: int = Query(0, ge=0, description="JSON: the first point of each role to send"),
    limit: int = Query(
        DATA_PAGE, ge=1, le=MAX_DATA_PAGE, description="JSON: at most this many points per role"
    ),
) -> Response:
    from sugo.web.data import next_offset, results, staged

    job = _job(cfg, jobid)
    respath = Path(job["respath"]) if job.get("respath") else None
    final = job["status"] in FINAL and respath is not None and respath.exists()
    if format == "netcdf":
        if final:
            assert respath is not None
            return FileResponse(respath, media_type="application/x-netcdf", filename=respath.name)
        if job["status"] not in ("r", "rd"):
            raise ApiError(409, f"job {jobid} has no data file ({job['status']})")
        try:
            snap = Path(cfg.daemon.client().snapshot(jobid))
        except SugoError as e:
            raise refusal(e) from None
        return FileResponse(snap, media_type="application/x-netcdf", filename=snap.name)
    if final:
        assert respath is not None
        source, roles = "results", results(respath, offset, limit)
    else:
        source, roles = "staging", staged(Path(job["jobdir"]), offset, limit)
    doc: dict[str, Any] = {"id": jobid, "source": source, "roles": roles, "next": None}
    after = next_offset(roles, offset, limit)
    if after is not None:  # a long job: its points come a page at a time
        doc["next"] = f"/api/v1/jobs/{jobid}/data?offset={after}&limit={limit}"
    return _json(doc)


@router.get("/jobs/{jobid}/wait", summary="Wait until the job has ended (408 on timeout)")
async def wait(
    jobid: int,
    cfg: Cfg,
    who: Reader,
    timeout: float = Query(60.0, gt=0, le=3600),
) -> Response:
    deadline = time.monotonic() + timeout
    while True:
        job = await run_in_threadpool(_job, cfg, jobid)
        if job["status"] in FINAL:
            return _json(job_json(job))
        if time.monotonic() >= deadline:
            return _json({"error": f"timed out after {timeout:g} s; not ended: {jobid} "
                                   f"({job['status']})", "job": job_json(job)}, 408)  # fmt: skip
        await asyncio.sleep(min(WAIT_POLL, max(0.0, deadline - time.monotonic())))


@router.get(
    "/jobs/{jobid}/stream",
    summary="A job's new points as Server-Sent Events",
    description="Events: `status` (the job), `points` (`{chunks: [{role, task, seq, uts, "
    "columns, units}]}`, id = a cursor), `end` once the job has ended and every point is "
    "sent. Resume with `Last-Event-ID` (the last cursor): points already sent are not sent "
    "again.",
    response_class=StreamingResponse,
)
async def stream(
    request: Request,
    jobid: int,
    cfg: Cfg,
    who: Reader,
    last_event_id: str | None = Header(None),
) -> StreamingResponse:
    job = await run_in_threadpool(_job, cfg, jobid)
    payload = await run_in_threadpool(cfg.daemon.payload, jobid) or {}
    return sse.response(sse.job_stream(request, cfg, job, payload, last_event_id))
