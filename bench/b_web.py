"""`sugo web` figures (issue 16): request latency of the API with 1,000 jobs,
how soon a staged point reaches an SSE client, the web process's CPU and
memory while 64 jobs at 10 Hz are each followed by one stream, and the
dashboard's first page with 64 pipelines and 1,000 jobs.

    .venv/bin/python -m bench.b_web [--quick]

The daemon supervises the web server (settings `[web] listen`); requests go
over one kept-alive HTTP connection, as a browser's would.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from typing import Any

import psutil

from bench.context import Ctx
from bench.report import Figure
from bench.sugo_side import SugoSystem, counter_devices, free_port

CHANNELS = 64
OLD_JOBS = 1000


def figures() -> dict[str, Figure]:
    return {
        "web_status_p50": Figure("web_status_p50", "GET /api/v1/status p50", "ms", 5.0),
        "web_status_p99": Figure("web_status_p99", "GET /api/v1/status p99", "ms", 20.0),
        "web_jobs_p50": Figure("web_jobs_p50", "GET /api/v1/jobs (1,000 jobs) p50", "ms", 5.0),
        "web_jobs_p99": Figure("web_jobs_p99", "GET /api/v1/jobs (1,000 jobs) p99", "ms", 20.0),
        "web_sse_p99": Figure("web_sse_p99", "staged point → SSE client, p99", "s", 0.5),
        "web_cpu": Figure("web_cpu", "web CPU, 64 jobs x 10 Hz, 64 streams", "% core", 15.0),
        "web_rss_growth": Figure("web_rss_growth", "web RSS growth over that run", "MiB", None),
        "web_page": Figure("web_page", "dashboard first page (64 pipelines, 1,000 jobs)", "s", 1.0),
    }


def add_old_jobs(system: SugoSystem, n: int) -> None:
    """``n`` completed jobs, written into the store before the daemon starts."""
    from sugo.daemon.store import Store

    with Store(system.root / "data" / "sugo.db") as store:
        for i in range(n):
            job = store.add_job(
                payload_json="{}", jobname=f"old-{i}", sample="s", user="u",
                output_dir=str(system.out), prefix=None, unlock_when_done=False,
                jobdir_root=system.root / "data" / "jobs",
            )  # fmt: skip
            store.set_job_status(job.id, "r")
            store.set_job_status(job.id, "c")


def timings(conn: http.client.HTTPConnection, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        out.append(time.perf_counter() - t0)
        assert r.status == 200, (path, r.status)
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def payload(sample: str, seconds: float) -> str:
    return "\n".join([
        'version = "2.2"', f'sample = {{ identifier = "{sample}" }}',
        "[settings]", "unlock_when_done = true",
        "[[method]]", 'component_role = "counter"', 'technique_name = "count"',
        f"max_duration = {seconds}", "sampling_interval = 0.1", "",
    ])  # fmt: skip


class Web:
    def __init__(self, port: int) -> None:
        self.port = port

    def conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def call(self, method: str, path: str, body: str | None = None) -> Any:
        c = self.conn()
        hdrs = {"Content-Type": "application/toml" if body and "=" in body else "application/json"}
        c.request(method, path, body, hdrs)
        r = c.getresponse()
        data = r.read()
        c.close()
        return json.loads(data) if data else None

    def ready(self, pipeline: str, sample: str) -> None:
        self.call("POST", f"/api/v1/pipelines/{pipeline}/load", json.dumps({"sample": sample}))
        self.call("POST", f"/api/v1/pipelines/{pipeline}/ready")

    def submit(self, text: str) -> int:
        return int(self.call("POST", "/api/v1/jobs", text)["id"])


def follow(web: Web, jobid: int, on_points: Any, stop: threading.Event) -> None:
    """Read one job's stream until it ends; ``on_points(cursor, t_received)``."""
    c = web.conn()
    c.request("GET", f"/api/v1/jobs/{jobid}/stream")
    r = c.getresponse()
    event: dict[str, str] = {}
    while not stop.is_set():
        line = r.fp.readline()
        if not line:
            break
        text = line.decode().rstrip("\n")
        if text:
            key, _, value = text.partition(": ")
            event[key] = value
            continue
        if event.get("event") == "points":
            on_points(event.get("id"), time.monotonic())
        if event.get("event") == "end":
            break
        event = {}
    c.close()


def sse_latency(system: SugoSystem, web: Web, seconds: float) -> list[float]:
    """Seconds from a record's arrival in the staging file to its SSE event."""
    from sugo.jobs.records import role_file
    from sugo.web.data import decode_cursor

    web.ready("pip-counter-1", "lat")
    jobid = web.submit(payload("lat", seconds))
    jobdir = system.root / "data" / "jobs" / str(jobid)
    path = role_file(jobdir, "counter")
    grown: dict[int, float] = {}  # file size -> when it was first seen
    stop = threading.Event()

    def watch() -> None:
        size = 0
        while not stop.is_set():
            try:
                now = path.stat().st_size
            except OSError:
                now = size
            if now != size:
                grown[now] = time.monotonic()
                size = now
            time.sleep(0.001)

    got: list[tuple[int, float]] = []
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    follow(web, jobid, lambda cur, t: got.append((decode_cursor(cur)["counter"], t)), stop)
    stop.set()
    # Every record in a message counts, from when the file grew by it.
    out, sent = [], 0
    for end, t in got:
        out += [t - at for size, at in grown.items() if sent < size <= end]
        sent = end
    return out


def load_run(
    system: SugoSystem, web: Web, web_proc: psutil.Process, seconds: float
) -> tuple[float, float]:
    """64 jobs at 10 Hz, one stream each: web CPU % of one core, RSS growth MiB."""
    streams = []
    stop = threading.Event()
    for ch in range(2, CHANNELS + 1):
        web.ready(f"pip-counter-{ch}", f"load-{ch}")
    ids = [web.submit(payload(f"load-{ch}", seconds)) for ch in range(2, CHANNELS + 1)]
    ids.append(web.submit(payload("lat", seconds)))  # pip-counter-1 is free again by now
    time.sleep(2.0)  # every job running, every stream past its backlog
    for jobid in ids:
        t = threading.Thread(target=follow, args=(web, jobid, lambda c, t: None, stop), daemon=True)
        t.start()
        streams.append(t)
    time.sleep(2.0)
    rss0 = web_proc.memory_info().rss
    cpu0 = sum(web_proc.cpu_times()[:2])
    t0 = time.monotonic()
    time.sleep(max(1.0, seconds - 8.0))
    cpu = (sum(web_proc.cpu_times()[:2]) - cpu0) / (time.monotonic() - t0) * 100
    rss = (web_proc.memory_info().rss - rss0) / 2**20
    stop.set()
    for t in streams:
        t.join(timeout=seconds + 30)
    return cpu, rss


def run(quick: bool = False) -> list[Figure]:
    figs = figures()
    port = free_port()
    system = SugoSystem(counter_devices(CHANNELS, pollrate=0.1),
                        extra_settings=f'\n[web]\nlisten = "127.0.0.1:{port}"\n')  # fmt: skip
    try:
        add_old_jobs(system, OLD_JOBS)
        system.start()
        web = Web(port)
        deadline = time.monotonic() + 30
        while True:
            try:
                web.call("GET", "/api/v1/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        [web_proc] = [p for p in map(psutil.Process, system.pids()) if _is_web(p)]
        n = 200 if quick else 1000
        conn = web.conn()
        timings(conn, "/api/v1/status", 20)  # warm up (the first job list is a full fetch)
        timings(conn, "/api/v1/jobs", 20)
        for key, path in (("status", "/api/v1/status"), ("jobs", "/api/v1/jobs")):
            ts = timings(conn, path, n)
            figs[f"web_{key}_p50"].sugo.append(pct(ts, 50) * 1000)
            figs[f"web_{key}_p99"].sugo.append(pct(ts, 99) * 1000)
        conn.close()
        pages = []
        for _ in range(5 if quick else 20):
            t0 = time.perf_counter()
            page = web.conn()
            page.request("GET", "/")
            page.getresponse().read()
            page.close()
            pages.append(time.perf_counter() - t0)
        figs["web_page"].sugo.append(max(pages))
        figs["web_page"].note = "the slowest of the loads (HTML; the browser's scripts then follow)"
        lat = sse_latency(system, web, 5.0 if quick else 20.0)
        figs["web_sse_p99"].sugo.append(pct(lat, 99))
        figs["web_sse_p99"].note = f"{len(lat)} records, median {statistics.median(lat):.3f} s"
        seconds = 40.0 if quick else 600.0
        cpu, rss = load_run(system, web, web_proc, seconds)
        figs["web_cpu"].sugo.append(cpu)
        figs["web_rss_growth"].sugo.append(rss)
        figs["web_cpu"].note = f"over {seconds - 12:g} s"
    finally:
        system.stop()
    return list(figs.values())


def _is_web(p: psutil.Process) -> bool:
    try:
        return "--listen" in p.cmdline()
    except psutil.Error:  # gone, or a zombie
        return False


def run_ctx(ctx: Ctx) -> list[Figure]:
    """For bench/run.py (`--only web`); tomato has no web server to compare."""
    figs = run(ctx.quick)
    for f in figs:
        f.tomato_skip = "no HTTP API"
    return figs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="fewer requests, a 40 s load run")
    args = p.parse_args(argv)
    ok = True
    for f in run(args.quick):
        value = f.sugo[0] if f.sugo else None
        met = f.target is None or (value is not None and value <= f.target)
        ok &= met
        shown = "-" if value is None else f"{value:.3f}"
        target = "" if f.target is None else f" (target <= {f.target:g})"
        print(f"{f.title:<50} {shown:>10} {f.unit}{target}{'' if met else '  MISSED'}"
              f"{'  ' + f.note if f.note else ''}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
