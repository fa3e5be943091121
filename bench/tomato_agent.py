"""Drives one tomato daemon for the benchmarks; runs inside tomato's own
virtual environment (``bench/.tomato-venv``), never in sugo's.

It calls tomato's public Python functions (the ones its ``tomato`` and
``ketchup`` commands call) so that the suite pays no interpreter start per
request. Protocol: one JSON object per line on stdin (``{"cmd": ...}``), one
JSON reply per line on stdout (``{"ok": true, ...}`` or ``{"ok": false,
"error": ...}``).

    python tomato_agent.py PORT
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import zmq
from tomato import ketchup
from tomato import tomato as tt

TIMEOUT_MS = 3000


def summary(port: int, ctx: zmq.Context[Any], timeout: int) -> dict[str, Any]:
    """The daemon's drivers, components and pipelines, and whether all are up."""
    rep = tt.status(port=port, timeout=timeout, context=ctx, yaml=True)
    if not rep.success:
        return {"running": False, "ready": False, "msg": rep.msg}
    d = rep.data
    drivers = [{"name": v.name, "pid": v.pid, "port": v.port} for v in d.drvs.values()]
    comps = [
        {"name": v.name, "caps": sorted(v.capabilities) if v.capabilities else None}
        for v in d.cmps.values()
    ]
    pips = [
        {"name": v.name, "ready": v.ready, "sampleid": v.sampleid, "jobid": v.jobid}
        for v in d.pips.values()
    ]
    ready = (
        d.status == "running"
        and bool(drivers)
        and all(x["pid"] and x["port"] for x in drivers)
        and all(c["caps"] for c in comps)
    )
    return {
        "running": True,
        "state": d.status,
        "ready": ready,
        "drivers": drivers,
        "components": comps,
        "pipelines": pips,
    }


def handle(msg: dict[str, Any], port: int, ctx: zmq.Context[Any]) -> dict[str, Any]:
    cmd = msg.get("cmd")
    kw: dict[str, Any] = {"port": port, "timeout": TIMEOUT_MS, "context": ctx}
    if cmd == "status":
        return summary(port, ctx, int(msg.get("timeout_ms", 500)))
    if cmd == "load":
        tt.pipeline_eject(**kw, pipeline=msg["pipeline"])
        a = tt.pipeline_load(**kw, pipeline=msg["pipeline"], sampleid=msg["sample"])
        b = tt.pipeline_ready(**kw, pipeline=msg["pipeline"])
        return {"success": a.success and b.success, "msg": f"{a.msg}; {b.msg}"}
    if cmd == "submit":
        t_send = time.time()
        st = tt.status(**kw, yaml=True)  # as `ketchup submit` does before it submits
        if not st.success:
            return {"success": False, "msg": st.msg}
        rep = ketchup.submit(**kw, payload=msg["path"], jobname=msg.get("jobname"), daemon=st.data)
        t_reply = time.time()
        jobid = rep.data.id if rep.success and rep.data is not None else None
        return {
            "success": rep.success,
            "msg": rep.msg,
            "id": jobid,
            "t_send": t_send,
            "t_reply": t_reply,
        }
    if cmd == "stop":
        rep = tt.stop(**kw)
        return {"success": rep.success, "msg": rep.msg}
    raise ValueError(f"unknown command {cmd!r}")


def main() -> int:
    port = int(sys.argv[1])
    ctx: zmq.Context[Any] = zmq.Context()
    print(json.dumps({"ok": True, "hello": port}), flush=True)
    for line in sys.stdin:
        try:
            reply = {"ok": True, **handle(json.loads(line), port, ctx)}
        except Exception as e:  # one bad request must not end the agent
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
