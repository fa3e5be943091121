"""Figures 8 and 11: many jobs on one driver.

One counter device with 64 channels and a wildcard pipeline (64 pipelines,
all loaded with one sample and ready), 64 jobs submitted at once from one
client, each a `count` task at Δ = 0.1 s. The whole process tree of each
system is sampled for CPU and memory from just before the first submit until
every job is final.

- scale (issue 9): 10 s jobs; again with the counter's reset made slow (1 s).
- load (issue 5): 60 s jobs (10 s with --quick); the CPU target.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs, sugo_side, tomato_side
from bench.context import Ctx
from bench.jobwatch import FINAL, Seen, System, watch
from bench.payloads import counter_payload, uts_by_group
from bench.report import Figure

CHANNELS = 64
INTERVAL = 0.1
SLOW_RESET = "\n[drivers.counter]\nreset_delay = 1.0\n"


@dataclass
class Run:
    """What one many-jobs run measured."""

    submit_s: float = 0.0  # the 64 submit requests, one after the other
    all_running_s: float | None = None  # first submit → every job seen running
    final_s: float | None = None  # first submit → every job final
    statuses: dict[str, int] = field(default_factory=dict)
    exact_files: int = 0  # results files with exactly the expected points
    points_short: int = 0  # points missing over all files
    peak_rss_mib: float = 0.0
    peak_pss_mib: float | None = None  # sampled every 2 s: shared pages counted once
    peak_processes: int = 0
    cpu_by_role: dict[str, float] = field(default_factory=dict)
    peak_rss_by_role: dict[str, float] = field(default_factory=dict)  # MiB, at the peak
    cpu_s: float = 0.0
    cpu_pct: float = 0.0
    steady_cpu_pct: float | None = None  # all running → first final
    stop_s: float | None = None
    error: str | None = None


def many_jobs(
    ctx: Ctx,
    side: str,
    system: System,
    duration: float,
    timeout: float,
    every: float = 0.1,
    poll: float = 0.02,
) -> Run:
    """Load every pipeline, submit CHANNELS jobs at once and watch them to the end
    (or ``timeout``). ``every``: process sampling period; ``poll``: job polling
    period until all run. Jobs do not unlock their pipeline: one job each."""
    sample = "bench-scale"
    for i in range(1, CHANNELS + 1):
        system.load_ready(f"pip-counter-{i}", sample)
    text = counter_payload(sample, duration, INTERVAL, system.out, unlock=False)
    expected = round(duration / INTERVAL)
    run = Run()
    marks: dict[str, tuple[float, float]] = {}
    with procs.Watch(roots=system.pids, every=every, label=procs.role) as w:
        t0 = time.time()
        ids = [system.submit(text)[0] for _ in range(CHANNELS)]
        run.submit_s = time.time() - t0

        def on_poll(seen: dict[int, Seen]) -> None:
            if "all_r" not in marks and all(s.running for s in seen.values()):
                marks["all_r"] = w.mark()
                run.all_running_s = max(s.running or 0.0 for s in seen.values()) - t0
            if "first_final" not in marks and any(s.final for s in seen.values()):
                marks["first_final"] = w.mark()

        try:
            seen = watch(
                system, ids, timeout=timeout, every=poll, every_running=0.5, on_poll=on_poll
            )
            run.final_s = max(s.final or 0.0 for s in seen.values()) - t0
            jobs = [s.job for s in seen.values()]
        except RuntimeError as e:
            run.error = str(e)
            jobs = system.jobs(ids)
    run.peak_rss_mib, run.peak_processes = w.peak_rss, w.peak_count
    run.peak_pss_mib = w.peak_pss
    run.cpu_by_role = {k: round(v, 2) for k, v in w.cpu_by_role().items()}
    run.peak_rss_by_role = {k: round(v, 1) for k, v in w.peak_rss_by_role.items()}
    run.cpu_s, run.cpu_pct = w.cpu_seconds, w.cpu_percent
    if "all_r" in marks and "first_final" in marks:
        (ta, ca), (tb, cb) = marks["all_r"], marks["first_final"]
        if tb > ta:
            run.steady_cpu_pct = 100.0 * (cb - ca) / (tb - ta)
    for job in jobs:
        run.statuses[job["status"]] = run.statuses.get(job["status"], 0) + 1
        path = job.get("respath")
        if job["status"] in FINAL and path and Path(path).exists():
            uts = uts_by_group(Path(path)).get("counter")
            n = 0 if uts is None else int(uts.size)
            run.exact_files += int(n == expected)
            run.points_short += max(expected - n, 0)
        else:
            run.points_short += expected
    ctx.log(f"{side}: {run}")
    return run


def sugo_run(ctx: Ctx, duration: float, extra_settings: str = "") -> Run:
    system = sugo_side.SugoSystem(
        sugo_side.counter_devices(CHANNELS), extra_settings=extra_settings, parent=ctx.work
    )
    try:
        system.start()
        run = many_jobs(ctx, "sugo", system, duration, timeout=duration + 60)
    finally:
        stop_s = system.stop()
    run.stop_s = stop_s
    return run


def tomato_run(ctx: Ctx, duration: float) -> Run:
    assert ctx.tomato_venv is not None
    system = tomato_side.TomatoSystem(
        ctx.tomato_venv, tomato_side.counter_devices(CHANNELS), parent=ctx.work
    )
    try:
        system.start()
        # tomato's own job database is polled less often, not to slow its writers
        run = many_jobs(
            ctx, "tomato", system, duration, timeout=duration + 170, every=0.25, poll=0.1
        )
    finally:
        t0 = time.perf_counter()
        system.stop()
        run_stop = time.perf_counter() - t0
    run.stop_s = run_stop
    return run


def _scale_figures(label: str, key: str) -> dict[str, Figure]:
    title = f"64 jobs on one 64-channel counter{label}"
    figs = {
        "all_r": Figure(f"{key}_all_r", f"{title}: submit → all `r`", "s", 1.5),
        "c": Figure(f"{key}_c", f"{title}: jobs ending `c`", "jobs", 64, "==", ratio=False),
        "exact": Figure(
            f"{key}_exact", f"{title}: files with exactly 100 points", "files", 64, "==", False
        ),
        "rss": Figure(f"{key}_rss", f"{title}: peak summed RSS", "MiB", 1536.0),
        "cpu": Figure(f"{key}_cpu", f"{title}: CPU, submit → all final", "% core", None),
    }
    return figs


def _record(figs: dict[str, Figure], side: str, run: Run) -> None:
    def add(name: str, value: float | None) -> None:
        if value is not None:
            (figs[name].sugo if side == "sugo" else figs[name].tomato).append(value)

    add("all_r", run.all_running_s)
    add("c", float(run.statuses.get("c", 0)))
    add("exact", float(run.exact_files))
    add("rss", run.peak_rss_mib)
    add("cpu", run.cpu_pct)
    figs["c"].extra[side] = {
        "statuses": run.statuses,
        "points_missing": run.points_short,
        "first_submit_to_all_final_s": run.final_s,
        "submit_requests_s": run.submit_s,
        "cpu_s": run.cpu_s,
        "steady_cpu_pct": run.steady_cpu_pct,
        "peak_processes": run.peak_processes,
        "peak_pss_mib": run.peak_pss_mib,
        "cpu_s_by_process": run.cpu_by_role,
        "peak_rss_mib_by_process": run.peak_rss_by_role,
        "stop_s": run.stop_s,
        "error": run.error,
    }
    if run.all_running_s is None:
        note = "never all running" + (f" ({run.error})" if run.error else "")
        if side == "sugo":
            figs["all_r"].note = note
        else:
            figs["all_r"].tomato_note = note
            figs["all_r"].tomato_skip = "never all `r`"


def scale(ctx: Ctx) -> list[Figure]:
    out: list[Figure] = []
    stop = Figure("stop64", "`stop` after the 64-job run (64 idle components)", "s", 2.0)
    for label, key, settings in (("", "scale", ""), (", reset 1 s", "scale_slow", SLOW_RESET)):
        figs = _scale_figures(label, key)
        try:
            run = sugo_run(ctx, 10.0, settings)
        except RuntimeError as e:  # keep the other runs' figures
            ctx.log(f"sugo {key} failed: {e}")
            figs["all_r"].note = f"run failed: {e}"[:400]
        else:
            _record(figs, "sugo", run)
            if run.stop_s is not None and key == "scale":
                stop.sugo.append(run.stop_s)
        skip = ""
        if key == "scale_slow":
            skip = "no such setting"
        elif ctx.with_tomato and ctx.quick:
            skip = "skipped (--quick)"
        elif ctx.with_tomato:
            trun = tomato_run(ctx, 10.0)
            _record(figs, "tomato", trun)
            if trun.stop_s is not None:
                stop.tomato.append(trun.stop_s)
        for f in figs.values():
            f.tomato_skip = f.tomato_skip or skip
        out += figs.values()
    stop.tomato_note = "tomato: `tomato stop` + kill of what is left"
    return [*out, stop]


def load(ctx: Ctx) -> list[Figure]:
    duration = 10.0 if ctx.quick else 60.0
    title = f"64 components x 10 Hz for {duration:g} s"
    files = Figure("load_files", f"{title}: complete results files", "files", 64, "==", ratio=False)
    cpu = Figure("load_cpu", f"{title}: CPU of all sugo processes", "% core", 30.0)
    steady = Figure("load_cpu_steady", f"{title}: CPU, all `r` → first `c`", "% core", 30.0)
    cpu.note = "from the first submit to the last job final (job starts and results files included)"
    run = sugo_run(ctx, duration)
    files.sugo.append(float(run.exact_files))
    cpu.sugo.append(run.cpu_pct)
    if run.steady_cpu_pct is not None:
        steady.sugo.append(run.steady_cpu_pct)
    files.extra["sugo"] = {
        "statuses": run.statuses,
        "points_missing": run.points_short,
        "cpu_s": run.cpu_s,
        "peak_rss_mib": run.peak_rss_mib,
        "peak_pss_mib": run.peak_pss_mib,
        "cpu_s_by_process": run.cpu_by_role,
        "peak_rss_mib_by_process": run.peak_rss_by_role,
        "steady_cpu_pct": run.steady_cpu_pct,
        "first_submit_to_all_final_s": run.final_s,
        "all_running_s": run.all_running_s,
    }
    for f in (files, cpu, steady):
        f.tomato_skip = "sugo only"
    return [files, cpu, steady]
