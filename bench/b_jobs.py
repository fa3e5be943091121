"""Figures 3-7: job latencies and sampling, on the shared systems with the
default devices (one benchmark per counter pipeline, so none waits on another).

- latency: submit → `r` on a ready pipeline, and last sample → job `c` with
  its results file, over repeated 1 s jobs (Δ = 0.1 s) with `unlock_when_done`.
- chain: tomato's `counter_stresstest.yml` submitted five times at once.
- spacing: one 10 s task at Δ = 0.1 s, |Δuts - 0.1| from the results file.
- fastest: one 10 s task at Δ = 1 ms (sugo only).
"""

from __future__ import annotations

from pathlib import Path

from bench.context import Ctx
from bench.jobwatch import System, wait_until, watch
from bench.payloads import TOMATO_DATA, counter_payload, last_uts, spacing, uts_by_group
from bench.report import Figure

MS = 1000.0


def _sides(ctx: Ctx) -> list[tuple[str, System]]:
    sides: list[tuple[str, System]] = [("sugo", ctx.shared_sugo())]
    if ctx.with_tomato:
        sides.append(("tomato", ctx.shared_tomato()))
    return sides


def _samples(fig: Figure, side: str) -> list[float]:
    return fig.sugo if side == "sugo" else fig.tomato


def prepare(system: System, pipeline: str, sample: str) -> None:
    """Wait until ``pipeline`` has no job, then make it ready with ``sample``."""
    wait_until(lambda: system.pipeline_free(pipeline), 60, f"{pipeline} to be free")
    system.load_ready(pipeline, sample)


def latency(ctx: Ctx) -> list[Figure]:
    r_seen = Figure("submit_r", "submit → `r` on a ready pipeline (client sees `r`)", "ms", 100.0)
    r_daemon = Figure("submit_r_daemon", "submit → `r`, daemon's started - submitted", "ms", 100.0)
    r_reply = Figure("submit_reply", "submit request round trip", "ms", None)
    c_seen = Figure("last_c", "last sample → job `c` with results file (client sees `c`)", "s", 0.3)
    c_daemon = Figure("last_c_daemon", "last sample → daemon's completed_at", "s", 0.3)
    r_daemon.tomato_note = "tomato: connected_at - submitted_at (it sets `r` then)"
    c_daemon.tomato_note = "tomato stamps completed_at before writing its results file"
    c_seen.note = "client polls every 5 ms; the results file is checked when `c` is first seen"
    pipeline, sample = "pip-counter-1", "bench-latency"
    missing: dict[str, int] = {}
    for side, system in _sides(ctx):
        for i in range(ctx.n(10, 3)):
            prepare(system, pipeline, sample)
            text = counter_payload(sample, 1.0, 0.1, system.out, prefix=f"latency-{i}")
            jobid, t_send, t_reply = system.submit(text)
            seen = watch(system, [jobid], timeout=60)[jobid]
            job = seen.job
            if job["status"] != "c" or not seen.file_at_final:
                missing[side] = missing.get(side, 0) + 1
                ctx.log(f"{side} latency job {jobid}: {job['status']}, file={seen.file_at_final}")
                continue
            last = last_uts(Path(job["respath"]))
            assert seen.running is not None and seen.final is not None and last is not None
            _samples(r_seen, side).append((seen.running - t_send) * MS)
            _samples(r_daemon, side).append((job["started_at"] - job["submitted_at"]) * MS)
            _samples(r_reply, side).append((t_reply - t_send) * MS)
            _samples(c_seen, side).append(seen.final - last)
            _samples(c_daemon, side).append(job["completed_at"] - last)
        ctx.log(f"{side} submit→r {r_seen.median(side)} ms, last→c {c_seen.median(side)} s")
    if missing:
        c_seen.extra["jobs_not_c_or_no_file"] = missing
    return [r_seen, r_daemon, r_reply, c_seen, c_daemon]


def chain(ctx: Ctx) -> list[Figure]:
    total = Figure("chain", "five queued 0.2 s jobs, `unlock_when_done` chain", "s", 2.0)
    total.note = "first submit → fifth job seen `c` (tomato's counter_stresstest.yml, unchanged)"
    text = (TOMATO_DATA / "counter_stresstest.yml").read_text()
    pipeline, sample = "pip-counter-2", "counter_stresstest"
    problems: list[str] = []
    for side, system in _sides(ctx):
        for _ in range(ctx.n(3, 1) if side == "sugo" else ctx.n(2, 1)):
            prepare(system, pipeline, sample)
            submitted = [system.submit(text) for _ in range(5)]
            ids = [jobid for jobid, _, _ in submitted]
            seen = watch(system, ids, timeout=180, every=0.01)
            end = max(s.final for s in seen.values() if s.final is not None)
            _samples(total, side).append(end - submitted[0][1])
            jobs = [seen[i].job for i in ids]
            statuses = [j["status"] for j in jobs]
            order = [j["started_at"] or 0.0 for j in jobs]
            if statuses != ["c"] * 5 or order != sorted(order):
                problems.append(
                    f"{side}: statuses {statuses}, start order ok={order == sorted(order)}"
                )
        ctx.log(f"{side} chain {_samples(total, side)}")
    if problems:
        total.extra["problems"] = problems
    return [total]


def spacing_figures(ctx: Ctx) -> list[Figure]:
    mean = Figure("spacing_mean", "spacing error at Δ = 0.1 s, 10 s task: mean", "ms", 0.5)
    peak = Figure("spacing_max", "spacing error at Δ = 0.1 s, 10 s task: max", "ms", 3.0)
    count = Figure("spacing_points", "points of the 10 s task at Δ = 0.1 s", "points", 100.0, "==")
    count.ratio = False
    pipeline, sample = "pip-counter-3", "bench-spacing"
    for side, system in _sides(ctx):
        for i in range(ctx.n(3, 1) if side == "sugo" else ctx.n(2, 1)):
            prepare(system, pipeline, sample)
            text = counter_payload(sample, 10.0, 0.1, system.out, prefix=f"spacing-{i}")
            jobid, _, _ = system.submit(text)
            job = watch(system, [jobid], timeout=120, every=0.05)[jobid].job
            if not job.get("respath") or not Path(job["respath"]).exists():
                ctx.log(f"{side} spacing job {jobid}: {job['status']}, no results file")
                continue
            groups = uts_by_group(Path(job["respath"]))
            uts = groups.get("counter")
            if uts is None:
                continue
            m, x = spacing(uts, 0.1)
            _samples(mean, side).append(m * MS)
            _samples(peak, side).append(x * MS)
            _samples(count, side).append(float(uts.size))
        ctx.log(f"{side} spacing mean {mean.median(side)} ms max {peak.median(side)} ms")
    return [mean, peak, count]


def fastest(ctx: Ctx) -> list[Figure]:
    count = Figure(
        "fastest_points", "fastest exact sampling: Δ = 1 ms, 10 s task", "points", 10_000, "=="
    )
    count.ratio = False
    count.tomato_skip = "sugo only"
    err = Figure("fastest_spacing", "spacing error at Δ = 1 ms: mean", "ms", None)
    err_max = Figure("fastest_spacing_max", "spacing error at Δ = 1 ms: max", "ms", None)
    system = ctx.shared_sugo()
    pipeline, sample = "pip-counter-4", "bench-fastest"
    for i in range(ctx.n(2, 1)):
        prepare(system, pipeline, sample)
        text = counter_payload(sample, 10.0, 0.001, system.out, prefix=f"fastest-{i}")
        jobid, _, _ = system.submit(text)
        job = watch(system, [jobid], timeout=120, every=0.05)[jobid].job
        if not job.get("respath") or not Path(job["respath"]).exists():
            ctx.log(f"sugo fastest job {jobid}: {job['status']}, no results file")
            count.sugo.append(0.0)
            continue
        uts = uts_by_group(Path(job["respath"])).get("counter")
        n = 0 if uts is None else int(uts.size)
        count.sugo.append(float(n))
        if uts is not None and n > 1:
            m, x = spacing(uts, 0.001)
            err.sugo.append(m * MS)
            err_max.sugo.append(x * MS)
    ctx.log(f"sugo fastest points {count.sugo}")
    return [count, err, err_max]
