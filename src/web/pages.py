"""The dashboard: server-rendered pages (Jinja2) and the static files they use.

Pages: ``/`` (pipelines, components, the queue), ``/jobs/{id}`` (live plot per
role, log, cancel), ``/submit`` (check, then submit), ``/login`` (a token
kept in a cookie, when the server is bound beyond loopback). The pages read
the daemon through the same calls as the API; the browser's scripts use the
API itself. uPlot (MIT) is served from the package: labs are often offline.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from sugo import __version__
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.web.app import COOKIE, Cfg, WebConfig, identity, refusal
from sugo.web.auth import Identity
from sugo.web.jobs import LABTHINGS_STATUS, job_json

HERE = Path(__file__).parent
RECENT = 50  # finished jobs on the overview (every unfinished one is shown too)
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _health(code: int) -> str:
    return {1: "ok", 2: "warn", 3: "bad", 4: "bad"}.get(code // 100, "unknown")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


templates.env.filters["health"] = _health
templates.env.filters["duration"] = _duration
templates.env.filters["when"] = _when
templates.env.globals["version"] = __version__


async def page_identity(request: Request, cfg: Cfg) -> Identity | None:
    """Who looks at a page; None sends them to /login."""
    try:
        return await identity(request, cfg)
    except HTTPException:
        return None


def _login() -> Response:
    return RedirectResponse("/login", 303)


def _ask(cfg: WebConfig, req: Any, typed: bool = False) -> Any:
    """The reply to ``req``: its struct when ``typed``, else plain JSON data."""
    client = cfg.daemon.client()
    try:
        return client.ask(req) if typed else client.ask_json(req)
    except SugoError as e:
        raise refusal(e) from None


def overview(request: Request, cfg: Cfg,
             who: Annotated[Identity | None, Depends(page_identity)]) -> Response:  # fmt: skip
    if who is None:
        return _login()
    st: api.StatusInfo = _ask(cfg, api.Status(), typed=True)
    items = _ask(cfg, api.MaintenanceStatus())["items"]
    due: dict[str, list[str]] = {}
    for item in items:
        if item.get("due"):
            due.setdefault(str(item["device"]), []).append(str(item.get("label")))
    jobs = _ask(cfg, api.Jobs(recent=RECENT))["jobs"]
    shown = [job_json(j, cfg.daemon.payload(j["id"]) if j["status"] in ("r", "rd") else None)
             for j in reversed(jobs)]  # fmt: skip
    return templates.TemplateResponse(request, "index.html", {
        "st": st, "due": due, "jobs": shown, "who": who, "web": cfg})  # fmt: skip


def job_page(jobid: int, request: Request, cfg: Cfg,
             who: Annotated[Identity | None, Depends(page_identity)]) -> Response:  # fmt: skip
    if who is None:
        return _login()
    try:
        [job] = cfg.daemon.jobs([jobid], payload=True)
    except SugoError as e:
        error = refusal(e)
        if error.status_code != 404:
            raise error from None
        return templates.TemplateResponse(
            request, "missing.html", {"what": error.detail, "who": who}, status_code=404
        )
    return templates.TemplateResponse(request, "job.html", {
        "job": job_json(job), "who": who, "words": LABTHINGS_STATUS})  # fmt: skip


Looker = Annotated[Identity | None, Depends(page_identity)]


def submit_page(request: Request, who: Looker) -> Response:
    if who is None:
        return _login()
    return templates.TemplateResponse(request, "submit.html", {"who": who})


def login_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {"who": None, "error": None})


async def login(request: Request, cfg: Cfg) -> Response:
    from urllib.parse import parse_qs

    # A plain form post, read by hand: python-multipart would be a dependency for one field.
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (fields.get("token") or [""])[0]
    if not token.strip() or cfg.tokens.lookup(token.strip()) is None:
        return templates.TemplateResponse(
            request, "login.html", {"who": None, "error": "unknown token"}, status_code=401
        )
    out = RedirectResponse("/", 303)
    out.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict")
    return out


def mount(app: FastAPI) -> None:
    html: dict[str, Any] = {"response_class": HTMLResponse, "include_in_schema": False}
    app.add_api_route("/", overview, methods=["GET"], **html)
    app.add_api_route("/jobs/{jobid}", job_page, methods=["GET"], **html)
    app.add_api_route("/submit", submit_page, methods=["GET"], **html)
    app.add_api_route("/login", login_page, methods=["GET"], **html)
    app.add_api_route("/login", login, methods=["POST"], **html)
    app.add_api_route("/favicon.ico", _no_icon, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")


def _no_icon() -> Response:
    return Response(status_code=204)
