"""Server-Sent Events: the event log and a running job's new points.

Both are bounded per client. The event stream holds at most EVENT_BUFFER
events for a client (then drops it); the job stream reads the staging files
only as fast as the client takes what it sends (so nothing piles up) and drops
a client that takes longer than SLOW_CLIENT seconds to take one message. Both
resume with Last-Event-ID: the event id, or the staging files' offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from sugo.errors import SugoError
from sugo.web.daemon import PAGE, Subscriber

if TYPE_CHECKING:
    from sugo.web.app import WebConfig
    from sugo.web.daemon import EventPump

KEEPALIVE = 15.0  # seconds between comments on a quiet stream (finds dead clients)
POLL = 0.2  # seconds between looks at a running job's staging files (5 Hz: live, and cheap)
STATUS_EVERY = 5.0  # seconds between asking about the job's status without news of it
INLINE_READ = 256 * 1024  # a backlog up to this many bytes is read on the event loop
SLOW_CLIENT = 30.0  # a client that takes longer to take one message is dropped

_encode = msgspec.json.Encoder().encode


def dumps(data: Any) -> bytes:
    return _encode(data)


def message(data: Any, event: str | None = None, id: str | int | None = None) -> bytes:
    head = b""
    if id is not None:
        head += f"id: {id}\n".encode()
    if event is not None:
        head += f"event: {event}\n".encode()
    return head + b"data: " + dumps(data) + b"\n\n"


def response(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def event_stream(
    request: Request,
    cfg: WebConfig,
    pump: EventPump,
    loop: asyncio.AbstractEventLoop,
    after: int | None,
) -> AsyncIterator[bytes]:
    resume = after is not None
    sub = Subscriber(loop, pump.last if after is None else after)
    if resume:
        sub.holding = True  # live events wait while the missed ones are fetched
    pump.subscribe(sub)
    try:
        if resume:
            missed = await run_in_threadpool(_missed, cfg, sub.after)
            held, sub.holding = sub.held, False
            sub.offer(missed)
            sub.offer(held)
        yield b": sugo event stream\n\n"
        while True:
            try:
                await asyncio.wait_for(sub.ready.wait(), KEEPALIVE)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            sub.ready.clear()
            if sub.dropped:
                yield message({"reason": "too slow: reconnect with Last-Event-ID"}, "dropped")
                return
            while sub.buffer:
                event = sub.buffer.popleft()
                yield message(event, id=event["id"])
    finally:
        pump.unsubscribe(sub)


def _missed(cfg: WebConfig, after: int) -> list[dict[str, Any]]:
    client = cfg.daemon.client()
    out: list[dict[str, Any]] = []
    while True:
        events = client.events_json(after=after, limit=PAGE)
        out += events
        if len(events) < PAGE or len(out) > 100 * PAGE:
            return out
        after = events[-1]["id"]


async def job_stream(
    request: Request,
    cfg: WebConfig,
    job: dict[str, Any],
    payload: dict[str, Any],
    cursor: str | None,
) -> AsyncIterator[bytes]:
    """Points as they are staged (the files are looked at every POLL seconds);
    the job's status again whenever the event log has news of it."""
    from pathlib import Path

    from sugo.web.data import StreamReader, decode_cursor
    from sugo.web.jobs import FINAL, job_json

    roles = list(dict.fromkeys(str(t.get("component_role")) for t in payload.get("method", [])))
    reader = StreamReader(Path(job["jobdir"]), roles, decode_cursor(cursor))
    subject = f"job {job['id']}"
    pump: EventPump = request.app.state.pump
    sub = Subscriber(asyncio.get_running_loop(), pump.last)
    pump.subscribe(sub)
    try:
        yield message(job_json(job, payload), "status")
        code = job["status"]
        recheck = time.monotonic() + STATUS_EVERY
        quiet_since = time.monotonic()
        while True:
            behind = reader.pending()
            if behind:
                # A small backlog is read here; a big one (a late client) in a thread.
                if behind < INLINE_READ:
                    read = reader.read()
                else:
                    read = await run_in_threadpool(reader.read)
                if read:
                    sent = time.monotonic()
                    yield message({"chunks": read}, "points", reader.cursor())
                    if time.monotonic() - sent > SLOW_CLIENT:
                        yield message({"reason": "too slow: reconnect with Last-Event-ID"},
                                      "dropped")  # fmt: skip
                        return
                    quiet_since = time.monotonic()
                    continue
            news = sub.dropped or any(e.get("subject") == subject for e in sub.buffer)
            sub.buffer.clear()
            sub.dropped = False
            now = time.monotonic()
            if news or now >= recheck:
                recheck = now + STATUS_EVERY
                with contextlib.suppress(SugoError):  # the daemon restarts: the files keep telling
                    [job] = await run_in_threadpool(cfg.daemon.jobs, [job["id"]])
                if job["status"] != code or news:
                    code = job["status"]
                    yield message(job_json(job, payload), "status")
                if code in FINAL and not reader.pending():
                    yield message(job_json(job, payload), "end", reader.cursor())
                    return
            if now - quiet_since > KEEPALIVE:
                quiet_since = now
                yield b": keepalive\n\n"
            sub.ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.ready.wait(), POLL)
    finally:
        pump.unsubscribe(sub)
