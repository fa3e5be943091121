"""`sugo job watch ID` and `sugo submit --watch`: a live view of one job.

Per role: the current task (i of n, technique), its elapsed and total time with
a progress bar, the points staged so far and the latest value of each
variable with its units; for the job: elapsed time and an ETA. On a terminal
the view is redrawn in place; otherwise it prints plain lines, one per role at
every refresh. It ends with the job's final status and its results file.

Job status and task states come from the daemon (`jobs`), the task durations
from its `job_spec` answer, the points and latest values from the job's
staging files (so this runs on the daemon's machine).

The view's parts: ``sugo.cli.progress`` (where each role stands),
``sugo.cli.frame`` (the text of one refresh), ``sugo.cli.screen`` (redrawing
in place).
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from sugo.cli.context import FAILED, INTERRUPTED, OK, Context
from sugo.cli.frame import Frame
from sugo.cli.jobview import STATUS_WORDS, JobPlan, StagingTail, fetch_plan
from sugo.cli.output import STATUS_STYLES, CliError, Output, clean
from sugo.cli.progress import RoleProgress, fmt_seconds, role_progress
from sugo.cli.screen import Screen
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.states import FINAL, QUEUED, RUNNING
from sugo.protocol.wire import to_builtins

if TYPE_CHECKING:
    from sugo.client import SugoClient

__all__ = ["cmd_submit_watch", "cmd_watch", "fmt_seconds", "still_runs_on_interrupt", "watch"]

#: Seconds between refreshes: a terminal redraws often, a log file wants fewer lines.
EVERY_TTY = 1.0
EVERY_PLAIN = 5.0
STATUS_POLL = 0.25  # seconds between status requests while watching


def watch(
    client: "SugoClient",
    jobid: int,
    out: Output,
    every: float | None = None,
    live: bool | None = None,
) -> api.JobInfo:
    """Show job ``jobid`` until it is final; returns its final record.

    ``live``: redraw in place (default: when stdout is a terminal);
    ``every``: seconds between refreshes (default 1 on a terminal, else 5).
    Nothing is printed in ``--json`` mode.
    """
    if live is None:
        live = out.colour or _isatty(out.out)
    every = every or (EVERY_TTY if live else EVERY_PLAIN)
    frame = Frame(out)
    screen = Screen(out.out) if live and not out.json_mode else None
    plan: JobPlan | None = None
    tail: StagingTail | None = None
    job = client.job(jobid)
    next_draw = time.monotonic()
    if screen is not None:
        out.out.write("\033[?25l")  # hide the cursor while redrawing
    try:
        while True:
            if plan is None and job.status not in QUEUED:
                plan = fetch_plan(client, jobid)
                tail = StagingTail(plan.jobdir) if plan else None
            final = job.status in FINAL
            if final or time.monotonic() >= next_draw:
                next_draw = time.monotonic() + every
                now = (job.completed_at or time.time()) if final else time.time()
                progress = _progress(job, plan, tail, now)
                if screen is not None:
                    screen.draw(frame.live(job, progress, now, screen.columns()))
                elif not out.json_mode:
                    for line in frame.plain(job, progress, now):
                        out.line(line)
            if final:
                return job
            # The status is asked for more often than the view is drawn, so
            # the end of the job shows at once.
            time.sleep(max(0.0, min(STATUS_POLL, next_draw - time.monotonic())))
            job = client.job(jobid)
    finally:
        if screen is not None:
            out.out.write("\033[?25h")
            out.out.flush()


def _progress(
    job: api.JobInfo, plan: JobPlan | None, tail: StagingTail | None, now: float
) -> list[RoleProgress]:
    if plan is None:
        return []
    data = tail.poll() if tail is not None else {}
    states = {t.index: t for t in job.tasks}
    running = job.status in RUNNING
    return [role_progress(r, states, data.get(r.role), now, running) for r in plan.roles]


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def report(ctx: Context, job: api.JobInfo) -> int:
    """The job's final status and results path; exit 0 only if it completed."""
    out = ctx.out
    ok = job.status == "c"
    problem = (
        "" if ok else f"job {job.id} ended {job.status}" + (f": {job.error}" if job.error else "")
    )
    if out.json_mode:
        doc = to_builtins(job)
        if problem:
            doc["error"] = doc["error"] or problem
        out.json(doc)
    else:
        took = ""
        if job.started_at is not None and job.completed_at is not None:
            took = f" in {fmt_seconds(job.completed_at - job.started_at)}"
        word = out.paint(
            f"{STATUS_WORDS.get(job.status, job.status)} ({job.status})",
            STATUS_STYLES.get(job.status),
        )
        out.line(f"job {job.id} ended {word}{took}")
        if job.respath:
            out.line(f"results: {clean(job.respath)}")
        if job.error:
            out.line(out.paint(f"error: {clean(job.error)}", "red"))
    if not ok:
        out.reason(problem)
        return FAILED
    return OK


def cmd_watch(ctx: Context) -> int:
    client = ctx.client()
    with still_runs_on_interrupt(ctx, ctx.args.id):
        job = watch(client, ctx.args.id, ctx.out, every=ctx.args.every)
    return report(ctx, job)


def cmd_submit_watch(ctx: Context) -> int:
    """`sugo submit PAYLOAD --watch`: submit, then watch the job to its end."""
    client = ctx.client()
    job = client.submit(ctx.args.payload, jobname=ctx.args.jobname)
    ctx.out.line(f"job {job.id} submitted")
    with still_runs_on_interrupt(ctx, job.id):
        job = watch(client, job.id, ctx.out, every=getattr(ctx.args, "every", None))
    return report(ctx, job)


@contextmanager
def still_runs_on_interrupt(ctx: Context, jobid: int) -> Iterator[None]:
    """Ctrl-C stops watching or waiting, not the job: say so, and how to
    follow or cancel it, then end with exit code 130 (as for any Ctrl-C)."""
    try:
        yield
    except KeyboardInterrupt:
        raise CliError(interrupted_note(ctx, jobid), code=INTERRUPTED) from None


def interrupted_note(ctx: Context, jobid: int) -> str:
    """What Ctrl-C left behind: the job's status now and the commands for it."""
    try:
        with ctx.client(timeout=3.0) as client:
            status: str | None = client.job(jobid).status
    except (SugoError, KeyboardInterrupt):
        status = None  # a slow or gone daemon: the job's fate is not ours to tell
    if status in FINAL:
        return f"interrupted; job {jobid} has ended ({STATUS_WORDS.get(status, status)})"
    now = f" is still {STATUS_WORDS.get(status, status)} ({status}) and" if status else ""
    return (
        f"stopped watching; job {jobid}{now} goes on without you:"
        f" 'sugo job watch {jobid}' follows it again, 'sugo cancel {jobid}' stops it"
    )
