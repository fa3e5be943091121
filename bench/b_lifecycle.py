"""Figures 1, 2 and 10: start until every component is ready, CLI wall time of
the status and queue commands, idle memory of daemon + driver hosts.

Each repeat starts a fresh system with the default devices (two drivers:
counter and psutil; six components).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from functools import partial

from bench import procs
from bench.context import Ctx
from bench.report import Figure
from bench.sugo_side import SugoSystem
from bench.tomato_side import TomatoSystem

CliRun = tuple[float, subprocess.CompletedProcess[str]]
SETTLE = 2.0  # seconds of no requests before idle memory is read


def figures() -> dict[str, Figure]:
    return {
        "start": Figure("start", "start until every component is ready (2 drivers)", "s", 1.0),
        "status": Figure("status", "`status` CLI wall time", "s", 0.12),
        "jobs": Figure("jobs", "`jobs` CLI wall time (tomato: `ketchup status`)", "s", 0.12),
        "idle_rss": Figure("idle_rss", "idle RSS of daemon + 2 driver hosts", "MiB", 200.0),
        "idle_uss": Figure("idle_uss", "idle USS of daemon + 2 driver hosts", "MiB", None),
        "stop": Figure("stop", "`stop` wall time, idle (all processes gone)", "s", None),
    }


def cli_times(run: Callable[..., CliRun], args: list[str], n: int) -> list[float]:
    """Wall times of ``n`` runs of one CLI command (``run`` is the system's ``cli``)."""
    out = []
    for _ in range(n):
        took, done = run(*args)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()[-300:]}")
        out.append(took)
    return out


def sugo_side(ctx: Ctx, figs: dict[str, Figure]) -> None:
    n_cli = ctx.n(20, 10)
    # One uncounted start first: the first after a while pays for cold file caches.
    for i in range(-1, ctx.n(5, 2)):
        system = SugoSystem(parent=ctx.work)
        try:
            took = system.start()
            if i < 0:
                figs["start"].extra["sugo_first_uncounted_s"] = took
            else:
                figs["start"].sugo.append(took)
            if i == 0:
                time.sleep(SETTLE)
                everything = procs.tree([system.daemon_pid or 0])
                core = {system.daemon_pid, *system.host_pids().values()}
                mem = procs.memory(q for p, q in everything.items() if p in core)
                whole = procs.memory(everything.values())
                figs["idle_rss"].sugo.append(mem.rss)
                if mem.uss is not None:
                    figs["idle_uss"].sugo.append(mem.uss)
                figs["idle_rss"].extra["sugo"] = {
                    "processes": mem.count,
                    "pss_mib": mem.pss,
                    "all_processes_rss_mib": whole.rss,
                    "all_processes_uss_mib": whole.uss,
                    "all_processes": whole.count,
                }
                figs["status"].sugo += cli_times(system.cli, ["status"], n_cli)
                figs["jobs"].sugo += cli_times(system.cli, ["jobs"], n_cli)
        finally:
            stopped = system.stop()
        if stopped is not None and i >= 0:
            figs["stop"].sugo.append(stopped)
    ctx.log(f"sugo start {figs['start'].sugo}")


def tomato_side(ctx: Ctx, figs: dict[str, Figure]) -> None:
    assert ctx.tomato_venv is not None
    n_cli = ctx.n(20, 5)
    cli_start: list[float] = []
    first = -1 if not ctx.quick else 0  # an uncounted first start, as for sugo
    for i in range(first, ctx.n(3, 1)):
        system = TomatoSystem(ctx.tomato_venv, parent=ctx.work)
        try:
            took, ready = system.start()
            if i < 0:
                figs["start"].extra["tomato_first_uncounted_s"] = ready
            else:
                cli_start.append(took)
                figs["start"].tomato.append(ready)
            if i == 0:
                time.sleep(SETTLE)
                core = {system.daemon_pid, *system.host_pids().values()}
                everything = procs.tree([system.daemon_pid or 0])
                mem = procs.memory(q for p, q in everything.items() if p in core)
                figs["idle_rss"].tomato.append(mem.rss)
                if mem.uss is not None:
                    figs["idle_uss"].tomato.append(mem.uss)
                figs["idle_rss"].extra["tomato"] = {"processes": mem.count, "pss_mib": mem.pss}
                port = str(system.port)
                tomato_cli = partial(system.cli, "tomato")
                ketchup_cli = partial(system.cli, "ketchup")
                figs["status"].tomato += cli_times(tomato_cli, ["status", "-p", port], n_cli)
                figs["jobs"].tomato += cli_times(ketchup_cli, ["status", "-p", port], n_cli)
        finally:
            t0 = time.perf_counter()
            system.stop()
            if i >= 0:
                figs["stop"].tomato.append(time.perf_counter() - t0)
    figs["start"].extra["tomato_start_command_s"] = cli_start
    figs["start"].tomato_note = "`tomato start` returns before the drivers are up"
    ctx.log(f"tomato start-to-ready {figs['start'].tomato}")


def run(ctx: Ctx) -> list[Figure]:
    figs = figures()
    figs["start"].note = (
        "`sugo start` wall time (it returns once every component is up); "
        "the suite's first start is not counted (cold caches), see the JSON"
    )
    figs["stop"].note = "sugo: `sugo stop --force`; tomato: `tomato stop` + wait for the daemon"
    sugo_side(ctx, figs)
    if ctx.with_tomato:
        tomato_side(ctx, figs)
    return list(figs.values())
