"""A job as the HTTP API shows it: an invocation in labthings' sense.

``status`` is labthings' word (pending, running, completed, cancelled, error),
``code`` sugo's status code (`q` ... `cd`); times requested/started/completed
as ISO 8601 and as Unix seconds; ``input`` the payload (on the one-job route),
``output`` the results link, and ``links`` to cancel, data, log and stream.
"""

from __future__ import annotations

import time
from typing import Any

#: sugo status code → labthings InvocationStatus.
LABTHINGS_STATUS = {
    "q": "pending",
    "qw": "pending",
    "r": "running",
    "rd": "running",  # cancel requested: still running until its data is written
    "c": "completed",
    "cd": "cancelled",
    "ce": "error",
}
FINAL = frozenset({"c", "ce", "cd"})
API = "/api/v1"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def progress(
    job: dict[str, Any], payload: dict[str, Any] | None, now: float | None = None
) -> tuple[float | None, float | None]:
    """(fraction done 0..1, seconds left) from the payload's task durations and
    the task states, or (None, None) when unknown. Roles run side by side and
    the tasks of a role one after another, so the job ends with its longest role."""
    if job["status"] in FINAL:
        return 1.0, 0.0
    if job["status"] in ("q", "qw"):
        return 0.0, None
    method = (payload or {}).get("method") or []
    if not method:
        return None, None
    now = time.time() if now is None else now
    states = {int(t["index"]): t for t in job.get("tasks") or []}
    totals: dict[str, float] = {}
    done: dict[str, float] = {}
    for i, task in enumerate(method):
        role = str(task.get("component_role"))
        duration = float(task.get("max_duration") or 0.0)
        totals[role] = totals.get(role, 0.0) + duration
        state = states.get(i, {})
        if state.get("state") in ("completed", "cancelled", "error"):
            part = duration
        elif state.get("state") == "running" and state.get("started_at"):
            part = min(duration, max(0.0, now - float(state["started_at"])))
        else:
            part = 0.0
        done[role] = done.get(role, 0.0) + part
    left = max((totals[r] - done[r] for r in totals), default=0.0)
    longest = max(totals.values(), default=0.0)
    if longest <= 0:
        return None, None
    return min(1.0, max(0.0, 1.0 - left / longest)), left


def job_json(job: dict[str, Any], payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API's job document from the daemon's job info (a plain dict);
    ``payload`` (when known) gives progress and ETA."""
    jid = job["id"]
    code = job["status"]
    fraction, eta = progress(job, payload or job.get("payload"))
    out = {
        "id": jid,
        "jobname": job.get("jobname"),
        "status": LABTHINGS_STATUS.get(code, "pending"),
        "code": code,
        "pipeline": job.get("pipeline"),
        "sample": job.get("sample"),
        "user": job.get("user"),
        "timeRequested": iso(job.get("submitted_at")),
        "timeStarted": iso(job.get("started_at")),
        "timeCompleted": iso(job.get("completed_at")),
        "submitted_at": job.get("submitted_at"),
        "started_at": job.get("started_at"),
        "completed_at": job.get("completed_at"),
        "progress": fraction,
        "eta": eta,
        "error": job.get("error"),
        "waiting": job.get("waiting"),
        "respath": job.get("respath"),
        "snappath": job.get("snappath"),
        "tasks": job.get("tasks") or [],
        "output": f"{API}/jobs/{jid}/data?format=netcdf" if code == "c" else None,
        "links": {
            "self": f"{API}/jobs/{jid}",
            "cancel": f"{API}/jobs/{jid}/cancel",
            "data": f"{API}/jobs/{jid}/data",
            "log": f"{API}/jobs/{jid}/log",
            "stream": f"{API}/jobs/{jid}/stream",
            "page": f"/jobs/{jid}",
        },
    }
    if "payload" in job and job["payload"] is not None:
        out["input"] = job["payload"]
    return out
