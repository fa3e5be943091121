"""`sugo submit | jobs | cancel | snapshot | wait | search`."""

from collections import Counter
from collections.abc import Sequence

from sugo.cli.commands import RECENT_JOBS
from sugo.cli.context import FAILED, OK, TIMED_OUT, USAGE, Context
from sugo.cli.output import STATUS_STYLES, CliError, Output, clean, fmt_time
from sugo.client import FINAL_STATUSES, SugoClient
from sugo.protocol import daemon_api as api
from sugo.protocol.states import QUEUED
from sugo.protocol.wire import to_builtins

JOB_HEADERS = [
    "ID", "NAME", "STATUS", "PIPELINE", "SAMPLE", "SUBMITTED", "STARTED", "COMPLETED",
]  # fmt: skip


TASK_STYLES = {"completed": "green", "running": "blue", "error": "red", "cancelled": "yellow"}


def show_jobs(out: Output, jobs: Sequence[api.JobInfo], details: bool = False) -> None:
    """The jobs as a table; with ``details``, each job's results and error below."""
    out.table(
        JOB_HEADERS,
        [
            [
                str(j.id),
                j.jobname or "-",
                (j.status, STATUS_STYLES.get(j.status, "")),
                j.pipeline or "-",
                j.sample,
                fmt_time(j.submitted_at),
                fmt_time(j.started_at),
                fmt_time(j.completed_at),
            ]
            for j in jobs
        ],
    )
    if not details:
        return
    for j in jobs:
        show_waiting(out, j)
        for t, (no, of) in zip(j.tasks, role_positions(j.tasks), strict=True):
            took = ""
            if t.started_at:
                took = f"  {fmt_time(t.started_at)} → {fmt_time(t.ended_at)}"
            out.line(
                f"  job {j.id}: {clean(t.role)} task {no}/{of} {clean(t.technique)}"
                f"  {out.paint(t.state, TASK_STYLES.get(t.state, ''))}"
                f"  {t.points} points{took}"
                + (f"  {out.paint(clean(t.error), 'red')}" if t.error else "")
            )
        if j.respath:
            out.line(f"  job {j.id}: results {clean(j.respath)}")
        if j.snappath:
            out.line(f"  job {j.id}: snapshot {clean(j.snappath)}")
        if j.error:
            out.line(f"  job {j.id}: " + out.paint(f"error: {clean(j.error)}", "red"))


def role_positions(tasks: Sequence[api.TaskInfo]) -> list[tuple[int, int]]:
    """(i, n) for each task: it is the i-th of the n tasks of its role, counted
    from 1 in the payload's order, as `sugo job watch` numbers them."""
    totals = Counter(t.role for t in tasks)
    seen: Counter[str] = Counter()
    positions = [(0, 0)] * len(tasks)
    for i in sorted(range(len(tasks)), key=lambda i: tasks[i].index):
        role = tasks[i].role
        seen[role] += 1
        positions[i] = (seen[role], totals[role])
    return positions


def show_waiting(out: Output, j: api.JobInfo) -> None:
    """Why a queued job waits: one line per pipeline that could run it."""
    if j.status not in QUEUED:
        return
    if not j.waiting_for:
        if j.waiting:
            out.line(f"  job {j.id}: waiting: " + out.paint(clean(j.waiting), "yellow"))
        return
    for name, why in j.waiting_for.items():
        out.line(f"  job {j.id}: waiting on {clean(name)}: " + out.paint(clean(why), "yellow"))


def _ended_badly(jobs: Sequence[api.JobInfo]) -> str:
    bad = [
        f"{j.id} ({j.status}{': ' + j.error if j.error else ''})" for j in jobs if j.status != "c"
    ]
    return "not all jobs completed: " + ", ".join(bad) if bad else ""


def cmd_submit(ctx: Context) -> int:
    args = ctx.args
    client = ctx.client()
    job = client.submit(args.payload, jobname=args.jobname)
    if not args.wait:
        if ctx.out.json_mode:
            ctx.out.json(job)
        else:
            ctx.out.line(str(job.id))
        return OK
    if not ctx.out.json_mode:
        ctx.out.line(str(job.id))
    ctx.out.note(f"sugo: waiting for job {job.id}...")
    from sugo.cli.watch import still_runs_on_interrupt

    with still_runs_on_interrupt(ctx, job.id):
        [job] = client.wait([job.id])
    problem = _ended_badly([job])
    if ctx.out.json_mode:
        doc = to_builtins(job)
        if problem:
            doc["error"] = doc["error"] or problem
        ctx.out.json(doc)
    else:
        show_jobs(ctx.out, [job], details=True)
    if problem:
        ctx.out.reason(problem)
        return FAILED
    return OK


def recent_jobs(client: SugoClient, n: int) -> tuple[list[api.JobInfo], bool]:
    """Every queued or running job and the ``n`` newest jobs, oldest first; and
    whether other (older, finished) jobs are left out."""
    # One more than asked: whether it exists tells if there are more than n jobs.
    jobs = client.jobs(recent=n + 1)
    ids = [j.id for j in jobs]
    newest = set(sorted(ids, reverse=True)[:n])
    shown = [j for j in jobs if j.id in newest or j.status not in FINAL_STATUSES]
    # Ids count from 1: a reply holding ids 1..max holds every job there is;
    # a gap is a job left out (or one pruned long ago).
    every = len(ids) == max(ids, default=0)
    return shown, len(shown) < len(jobs) or (len(jobs) > n and not every)


def cmd_jobs(ctx: Context) -> int:
    args = ctx.args
    if args.ids and (args.all or args.last is not None):
        raise CliError("--all and --last choose among all jobs: give no job ids", code=USAGE)
    client = ctx.client()
    more = False
    if args.ids or args.all:
        jobs = client.jobs(args.ids)
    else:
        last = RECENT_JOBS if args.last is None else args.last
        jobs, more = recent_jobs(client, last)
    if ctx.out.json_mode:
        ctx.out.json({"jobs": to_builtins(jobs)})
    else:
        show_jobs(ctx.out, jobs, details=bool(args.ids))
    if more:
        ctx.out.note(
            f"sugo: older jobs not shown (only the {last} newest and every queued or "
            "running one); 'sugo jobs --all' lists every job"
        )
    return OK


def cmd_search(ctx: Context) -> int:
    jobs = ctx.client().search(ctx.args.text)
    if ctx.out.json_mode:
        ctx.out.json({"jobs": to_builtins(jobs)})
    else:
        show_jobs(ctx.out, jobs)
    return OK


def cmd_cancel(ctx: Context) -> int:
    reply = ctx.client().cancel(ctx.args.ids)
    if ctx.out.json_mode:
        ctx.out.json(to_builtins(reply))
    else:
        ids = ", ".join(str(i) for i in reply.cancelled)
        ctx.out.line(f"sugo: cancelling job(s) {ids} (see 'sugo jobs' for their status)")
    return OK


def cmd_snapshot(ctx: Context) -> int:
    path = ctx.client().snapshot(ctx.args.id)
    if ctx.out.json_mode:
        ctx.out.json({"id": ctx.args.id, "snappath": path})
    else:
        ctx.out.line(path)
    return OK


def cmd_wait(ctx: Context) -> int:
    try:
        jobs = ctx.client().wait(ctx.args.ids, timeout=ctx.args.timeout)
    except TimeoutError as e:
        raise CliError(str(e), code=TIMED_OUT) from None
    problem = _ended_badly(jobs)
    if ctx.out.json_mode:
        doc: dict[str, object] = {"jobs": to_builtins(jobs)}
        if problem:
            doc["error"] = problem
        ctx.out.json(doc)
    else:
        show_jobs(ctx.out, jobs, details=True)
    if problem:
        ctx.out.reason(problem)
        return FAILED
    return OK
