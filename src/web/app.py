"""The ASGI app of `sugo web`: configuration, who is asking, errors, routes.

Errors have the CLI's meaning and message: ``{"error": "<one line>"}`` with
404 for an unknown job, pipeline or component, 409 for a refusal (the CLI's
exit 1), 422 for a request or payload the schema refuses, 401 without a valid
token where one is needed, 403 for a viewer's write, 503 when the daemon does
not answer (the CLI's exit 3).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sugo import __version__
from sugo.client import DaemonUnreachable
from sugo.errors import RequestFailed, RequestTimeout, SugoError
from sugo.protocol.endpoints import is_loopback
from sugo.web.auth import LOOPBACK_IDENTITY, Identity, TokenFile
from sugo.web.cache import JobsCache, StatusCache
from sugo.web.daemon import Daemon, EventPump

log = logging.getLogger("sugo.web")

COOKIE = "sugo_token"
#: Writes authorised by the cookie (the dashboard) must carry this header: a
#: page on another site cannot send it without CORS, so it cannot act for you.
CSRF_HEADER = "x-sugo-request"
#: The daemon's refusals that mean "no such thing" (404), e.g. "no job 7",
#: "no pipeline 'x' (pipelines: ...)"; "no pipeline can run ..." is a 409.
NOT_FOUND = re.compile(r"no (job \d+|pipeline '|component ')")


@dataclass
class WebConfig:
    host: str
    port: int  # the web server's
    daemon: Daemon
    tokens: TokenFile
    datadir: Path  # where relative output paths of web submissions resolve
    status_cache: StatusCache = field(default_factory=StatusCache)
    jobs_cache: JobsCache = field(default_factory=JobsCache)

    def changed(self) -> None:
        """A write went through: the caches ask the daemon again."""
        self.status_cache.changes.forget()
        self.jobs_cache.changes.forget()

    @property
    def needs_tokens(self) -> bool:
        return not is_loopback(self.host)


class ApiError(HTTPException):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, " ".join(message.split()))


def refusal(e: SugoError) -> ApiError:
    """The HTTP error for a daemon's refusal (or an unreachable daemon)."""
    message = " ".join(str(e).split())
    if isinstance(e, DaemonUnreachable | RequestTimeout):
        return ApiError(503, message)
    if isinstance(e, RequestFailed | SugoError) and NOT_FOUND.match(message):
        return ApiError(404, message)
    return ApiError(409, message)


# The dependencies are coroutines: FastAPI would run plain functions on a worker
# thread, a hop that costs more than the rest of a cached request.
async def config(request: Request) -> WebConfig:
    cfg: WebConfig = request.app.state.config
    return cfg


async def identity(request: Request, cfg: Annotated[WebConfig, Depends(config)]) -> Identity:
    """Who asks: a bearer token (or the dashboard's cookie); no token needed on loopback."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    by_cookie = False
    if token is None and request.cookies.get(COOKIE):
        token, by_cookie = request.cookies[COOKIE], True
    if token is None:
        if cfg.needs_tokens:
            raise ApiError(401, "a token is needed: send Authorization: Bearer <token>")
        return LOOPBACK_IDENTITY
    who = cfg.tokens.lookup(token)
    if who is None:
        raise ApiError(401, "unknown token")
    if by_cookie and request.method not in ("GET", "HEAD") and CSRF_HEADER not in request.headers:
        raise ApiError(403, f"a write from the dashboard needs the {CSRF_HEADER} header")
    return who


async def operator(who: Annotated[Identity, Depends(identity)]) -> Identity:
    """Who asks, if they may change things (submit, cancel, pipelines, components)."""
    if not who.can_write:
        raise ApiError(403, f"token {who.name!r} is a viewer: it may read, not change")
    return who


class ErrorReply(BaseModel):
    error: str = Field(description="why, in one line: the CLI's message")


def _error_doc(text: str) -> dict[str, Any]:
    return {"model": ErrorReply, "description": text}


#: The errors every route may answer (documented in the OpenAPI document).
ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error_doc("no token, or an unknown one (needed beyond loopback)"),
    403: _error_doc("a viewer's write"),
    404: _error_doc("no such job, pipeline or component"),
    409: _error_doc("refused, as the CLI refuses it (exit 1)"),
    422: _error_doc("the request or payload does not fit the schema"),
    503: _error_doc("the daemon does not answer"),
}

#: Route parameters: the configuration, and who asks (anyone with a valid
#: token, or only an operator).
Cfg = Annotated[WebConfig, Depends(config)]
Reader = Annotated[Identity, Depends(identity)]
Operator = Annotated[Identity, Depends(operator)]


def create_app(cfg: WebConfig, pump: EventPump | None = None) -> FastAPI:
    from sugo.web import pages, routes_jobs, routes_lab

    app = FastAPI(
        title="sugo",
        version=__version__,
        description="The HTTP API of sugo, a lab-instrument job scheduler.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.config = cfg
    app.state.pump = pump or EventPump(cfg.daemon)
    cfg.status_cache.changes.pump = cfg.jobs_cache.changes.pump = app.state.pump

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return JSONResponse({"error": "; ".join(problems)}, 422)

    app.include_router(routes_lab.router, prefix="/api/v1", responses=ERRORS)
    app.include_router(routes_jobs.router, prefix="/api/v1", responses=ERRORS)
    pages.mount(app)
    return app


def json_error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split()), **extra}, status)
