"""`sugo demo`: the whole round on a fresh machine, then clean up.

A temporary app folder with the built-in simulated devices, a daemon on a free
port, the two-role pipeline ``pip-demo`` loaded and marked ready, a short job
(a counter counting and the machine's CPU/memory figures, side by side) with a
progress line per second, then the results file's path and a summary. The
daemon is always stopped and the app folder removed; only the results file
is kept.
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sugo.cli.context import FAILED, OK, Context
from sugo.cli.output import STATUS_STYLES, CliError, Output
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.wire import to_builtins

if TYPE_CHECKING:
    from sugo.client import SugoClient

PIPELINE = "pip-demo"
SAMPLE = "demo-sample"
PROGRESS_EVERY = 1.0


def demo_payload(seconds: float, outdir: Path) -> str:
    """The demo job: both roles run for ``seconds``, sampling 5 and 2 times a second."""
    return f"""\
[sample]
identifier = "{SAMPLE}"

[settings.output]
path = {_toml_str(outdir)}
prefix = "sugo-demo"

[[method]]
component_role = "counter"
technique_name = "count"
max_duration = {seconds}
sampling_interval = 0.2

[[method]]
component_role = "psutil"
technique_name = "all_info"
max_duration = {seconds}
sampling_interval = 0.5
"""


def _toml_str(path: Path) -> str:
    import json

    return json.dumps(str(path))  # a JSON string is a valid TOML basic string


def _live_points(client: "SugoClient", components: dict[str, str]) -> dict[str, int]:
    """Points of the running task of each role, from the components themselves
    (the daemon learns a task's points only when it ends)."""
    points = {}
    for role, name in components.items():
        try:
            points[role] = int(client.component(name, "task_status").get("points", 0))
        except SugoError:
            points[role] = 0
    return points


def _progress(job: api.JobInfo, live: dict[str, int], expected: dict[str, int], t0: float) -> str:
    parts = []
    for t in job.tasks:
        done = t.points if t.state != "running" else live.get(t.role, 0)
        parts.append(f"{t.role} {t.state} {done}/{expected.get(t.role, '?')}")
    return f"  {time.monotonic() - t0:5.1f} s  job {job.id} {job.status}: " + ", ".join(parts)


def _summary(path: Path) -> list[str]:
    """One line per role group of the results file: points and variables."""
    try:
        import h5netcdf

        lines = []
        with h5netcdf.File(path, "r") as f:
            for name, group in f.groups.items():
                role = group.attrs.get("role", name)
                points = group.dimensions["uts"].size if "uts" in group.dimensions else 0
                names = sorted(v for v in group.variables if v not in ("uts", "task"))
                lines.append(f"  {role}: {points} points of {', '.join(names)}")
        return lines
    except Exception as e:  # a summary must not turn a good demo into a failure
        return [f"  (cannot summarise {path}: {e})"]


def _run_job(out: Output, port: int, appdir: Path, seconds: float, outdir: Path) -> api.JobInfo:
    from sugo.client import FINAL_STATUSES, SugoClient

    expected = {"counter": round(seconds / 0.2), "psutil": round(seconds / 0.5)}
    with SugoClient(port, appdir) as client:
        client.pipeline_load(PIPELINE, SAMPLE)
        components = client.pipeline_ready(PIPELINE).components
        job = client.submit_text(
            demo_payload(seconds, outdir), "toml", "demo payload", jobname="sugo-demo"
        )
        out.note(f"sugo demo: job {job.id} submitted on {PIPELINE}")
        # The submit's reply predates the scheduling it triggers: ask again, so
        # the first line shows the job running, as it already is.
        job = client.job(job.id)
        t0 = time.monotonic()
        next_line = t0
        deadline = t0 + seconds + 60.0
        while job.status not in FINAL_STATUSES:
            now = time.monotonic()
            if now >= next_line:
                out.note(_progress(job, _live_points(client, components), expected, t0))
                next_line += PROGRESS_EVERY
            if now > deadline:
                raise CliError(f"demo job {job.id} still {job.status} after {now - t0:.0f} s")
            time.sleep(0.1)
            job = client.job(job.id)
        out.note(_progress(job, {}, expected, t0))
        return job


def run_demo(args: argparse.Namespace, out: Output | None = None) -> int:
    """Run the demo; returns the exit code (0 when the job completed)."""
    from sugo.cli import lifecycle
    from sugo.cli.setup import write_config
    from sugo.client import SugoClient

    out = out or Output(json_mode=args.json, quiet=args.quiet > 0)
    seconds = float(getattr(args, "seconds", 4.0))
    tmp = Path(tempfile.mkdtemp(prefix="sugo-demo-"))
    appdir = tmp / "app"
    port = lifecycle.free_port()
    started = None
    try:
        write_config(appdir)
        out.note(f"sugo demo: starting a daemon on port {port} (app folder {appdir})")
        started = lifecycle.start_daemon(appdir, port, timeout=60.0, verbose=args.verbose, out=out)
        out.note(
            f"sugo demo: daemon up in {started.seconds:.2f} s "
            f"({len(started.status.components)} simulated components)"
        )
        job = _run_job(out, port, appdir, seconds, tmp)
    finally:
        if started is not None:
            try:
                with SugoClient(port, appdir, timeout=5.0) as client:
                    lifecycle.stop_daemon(client, force=True, timeout=30.0)
            except SugoError as e:
                out.note(f"sugo demo: stopping the daemon: {e}")
        lifecycle.kill_spawned()
        shutil.rmtree(appdir, ignore_errors=True)
        if not any(tmp.iterdir()):
            tmp.rmdir()
    respath = Path(job.respath) if job.respath else None
    lines = _summary(respath) if respath and respath.exists() else []
    if out.json_mode:
        out.json({"job": to_builtins(job), "respath": job.respath, "summary": lines})
    else:
        status = out.paint(job.status, STATUS_STYLES.get(job.status))
        out.line(f"sugo demo: job {job.id} ended {status} in {_took(job)}")
        if respath:
            out.line(f"sugo demo: results in {respath}")
        for line in lines:
            out.line(line)
    if job.status != "c":
        out.reason(f"demo job {job.id} ended {job.status}: {job.error or 'no reason given'}")
        return FAILED
    return OK


def _took(job: api.JobInfo) -> str:
    if job.started_at is None or job.completed_at is None:
        return "-"
    return f"{job.completed_at - job.started_at:.1f} s"


def cmd_demo(ctx: Context) -> int:
    return run_demo(ctx.args, ctx.out)
