"""`sugo job watch ID` and `sugo submit --watch`: a live view of one job.

Per role: the current task (i of n, technique), its elapsed and total time with
a progress bar, the points staged so far and the latest value of each
variable with its units; for the job: elapsed time and an ETA. On a terminal
the view is redrawn in place; otherwise it prints plain lines, one per role at
every refresh. It ends with the job's final status and its results file.

Job status and task states come from the daemon (`jobs`), the task durations
from its `job_spec` answer, the points and latest values from the job's
staging files (so this runs on the daemon's machine).
"""

import math
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from sugo.cli.context import FAILED, INTERRUPTED, OK, Context
from sugo.cli.jobview import STATUS_WORDS, JobPlan, RoleData, RolePlan, StagingTail, fetch_plan
from sugo.cli.output import STATUS_STYLES, CliError, Output, clean, pad, width
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.states import FINAL, QUEUED, RUNNING
from sugo.protocol.wire import to_builtins

if TYPE_CHECKING:
    from sugo.client import SugoClient

BAR_WIDTH = 20
MIN_BAR = 5  # narrower than this, the bar is left out
WAITING_LINES = 5  # pipelines shown for a queued job
#: Seconds between refreshes: a terminal redraws often, a log file wants fewer lines.
EVERY_TTY = 1.0
EVERY_PLAIN = 5.0
STATUS_POLL = 0.25  # seconds between status requests while watching
#: Task state → style of its progress bar.
STATE_STYLES = {"completed": "green", "error": "red", "cancelled": "yellow", "pending": "dim"}
#: Unit spellings worth shortening on screen.
SHORT_UNITS = {"percent": "%", "1": "", "dimensionless": "", "degree_Celsius": "°C"}


@dataclass
class RoleProgress:
    """Where one role of a job stands."""

    role: str
    component: str
    task_no: int  # 1-based position of the current task among the role's tasks
    n_tasks: int
    label: str  # technique (task name)
    state: str  # pending, running, completed, cancelled, error
    elapsed: float | None  # seconds into the current task, None if unknown
    duration: float  # max_duration of the current task
    remaining: float  # upper bound of the seconds left for this role
    points: int
    values: list[tuple[str, str]]  # (variable, value with units)


def role_progress(
    role: RolePlan,
    states: dict[int, dict[str, Any]],
    data: RoleData | None,
    now: float,
    running: bool,
) -> RoleProgress:
    """The progress of ``role`` from the daemon's task states (by task index)
    and the staged data."""
    tasks = role.tasks
    own = [states.get(t.index, {}) for t in tasks]
    kinds = [str(s.get("state", "pending")) for s in own]
    if "running" in kinds:
        at = kinds.index("running")
    elif not any(s for s in own) and data is not None and data.last_task is not None:
        # No task states (the daemon restarted): the staged data tells which task.
        at = next((i for i, t in enumerate(tasks) if t.index == data.last_task), 0)
    elif running and "pending" in kinds:
        at = kinds.index("pending")
    else:
        started = [i for i, s in enumerate(own) if s.get("started_at") is not None]
        at = started[-1] if started else 0
    task, state = tasks[at], own[at]
    elapsed: float | None = None
    if state.get("started_at") is not None:
        end = state.get("ended_at") or now
        elapsed = min(max(0.0, float(end) - float(state["started_at"])), task.max_duration)
    elif kinds[at] == "pending" and any(own):
        elapsed = 0.0
    remaining = 0.0
    if running:
        if kinds[at] == "running":
            remaining = task.max_duration - (elapsed or 0.0)
        elif kinds[at] == "pending":
            remaining = task.max_duration
        remaining += sum(
            t.max_duration
            for t, k in zip(tasks[at + 1 :], kinds[at + 1 :], strict=True)
            if k == "pending"
        )
    state_word = kinds[at] if any(own) else ("running" if running else "?")
    return RoleProgress(
        role=role.role,
        component=role.component,
        task_no=at + 1,
        n_tasks=len(tasks),
        label=task.label,
        state=state_word,
        elapsed=elapsed,
        duration=task.max_duration,
        remaining=max(0.0, remaining),
        points=data.points if data else 0,
        values=_values(data),
    )


def _values(data: RoleData | None) -> list[tuple[str, str]]:
    if data is None:
        return []
    out = []
    for name, value in data.latest.items():
        units = data.units.get(name, "")
        units = SHORT_UNITS.get(units, units)
        text = fmt_number(value)
        out.append((name, f"{text} {units}" if units else text))
    return out


def fmt_number(value: Any) -> str:
    """A staged value for the screen: 4 significant digits, arrays by size."""
    shape = getattr(value, "shape", ())
    if shape:
        return f"[{math.prod(shape)} values]"
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e9:
            return f"{value:.0f}"
        if 1000 <= abs(value) < 1e9:
            return f"{value:.1f}"
        return f"{value:.4g}"
    return str(value)


def fmt_seconds(seconds: float | None) -> str:
    """``7.0 s``, ``2:05`` or ``1:02:05``; ``-`` when unknown."""
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A progress bar of ``width`` cells."""
    full = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * full + "░" * (width - full)


def job_eta(progress: list[RoleProgress]) -> float | None:
    """Seconds until every role is done (an upper bound: stop triggers can end
    tasks earlier); None when nothing is known."""
    return max((p.remaining for p in progress), default=None)


class Frame:
    """The text of one refresh of the view."""

    def __init__(self, out: Output) -> None:
        self.out = out

    def headline(self, job: api.JobInfo, eta: float | None, now: float) -> str:
        return "; ".join(self.headline_parts(job, eta, now))

    def headline_parts(self, job: api.JobInfo, eta: float | None, now: float) -> list[str]:
        """The job line in parts: what and where; then timing or why it waits."""
        status = self.out.paint(
            f"{STATUS_WORDS.get(job.status, job.status)} ({job.status})",
            STATUS_STYLES.get(job.status),
        )
        name = f" '{clean(job.jobname)}'" if job.jobname else ""
        where = f" on {clean(job.pipeline)}" if job.pipeline else ""
        parts = [f"job {job.id}{name}: {status}{where}, sample {clean(job.sample)}"]
        timing = ""
        if job.started_at is not None:
            end = job.completed_at or now
            timing = f"elapsed {fmt_seconds(end - job.started_at)}"
        if job.status in RUNNING and eta is not None:
            clock = time.strftime("%H:%M:%S", time.localtime(now + eta))
            timing += f", ETA {fmt_seconds(eta)} ({clock})"
        if timing:
            parts.append(timing)
        if job.status in QUEUED and job.waiting:
            parts.append(clean(job.waiting))
        return parts

    def live(
        self, job: api.JobInfo, progress: list[RoleProgress], now: float, columns: int = 100
    ) -> list[str]:
        """The terminal view: a headline, then per role a progress line and its
        latest values, fitted to ``columns`` (the progress bar shrinks first,
        so the times, the points and the state stay on screen)."""
        parts = self.headline_parts(job, job_eta(progress), now)
        if job.status in QUEUED and job.waiting_for:
            # One line per pipeline that could run it, rather than one long line.
            parts = [p for p in parts if p != clean(job.waiting or "")]
            reasons = list(job.waiting_for.items())
            parts += [f"waiting on {clean(k)}: {clean(v)}" for k, v in reasons[:WAITING_LINES]]
            if len(reasons) > WAITING_LINES:
                parts.append(f"and {len(reasons) - WAITING_LINES} more pipeline(s)")
            return [parts[0]] + ["  " + part for part in parts[1:]]
        joined = "; ".join(parts)
        lines = (
            [joined]
            if visible_width(joined) <= columns
            else [parts[0]] + ["  " + part for part in parts[1:]]
        )
        width_ = max((width(clean(p.role)) for p in progress), default=0)
        label_width = max((width(clean(p.label)) for p in progress), default=0)
        for p in progress:
            fraction = (p.elapsed or 0.0) / p.duration if p.duration else 0.0
            if p.state == "completed":
                fraction = 1.0
            style = STATE_STYLES.get(p.state, "blue")
            state = self.out.paint(p.state, None if p.state == "running" else style)
            role = self.out.paint(pad(clean(p.role), width_), "bold")
            head = f"  {role}  task {p.task_no}/{p.n_tasks}"
            label = pad(clean(p.label), label_width)
            tail = (
                f"{fmt_seconds(p.elapsed)} / {fmt_seconds(p.duration)}  {p.points} points  {state}"
            )
            room = columns - visible_width(f"{head}  {label}    {tail}")
            if room >= MIN_BAR:
                middle = f"{label}  {self.out.paint(bar(fraction, min(BAR_WIDTH, room)), style)}"
            elif room >= 0:
                middle = label
            else:  # not even the label fits: it goes last, where clipping may cut it
                middle, tail = (
                    f"{fmt_seconds(p.elapsed)} / {fmt_seconds(p.duration)}",
                    (f"{p.points} points  {state}  {clean(p.label)}"),
                )
            lines.append(f"{head}  {middle}  {tail}")
            indent = " " * (width_ + 4)
            if not p.values:
                lines.append(indent + self.out.paint("(no data yet)", "dim"))
            values = [(clean(k), clean(v)) for k, v in p.values]
            for row in wrap(values, columns - len(indent)):
                lines.append(indent + "  ".join(f"{self.out.paint(k, 'dim')} {v}" for k, v in row))
        return lines

    def plain(self, job: api.JobInfo, progress: list[RoleProgress], now: float) -> list[str]:
        """The log view: one line for the job, one per role."""
        clock = f"[{fmt_seconds(now - job.started_at) if job.started_at else '-':>8}]"
        lines = [f"{clock} {self.headline(job, job_eta(progress), now)}"]
        for p in progress:
            pct = f" ({100 * (p.elapsed or 0) / p.duration:.0f}%)" if p.duration else ""
            values = ", ".join(f"{clean(k)}={clean(v)}" for k, v in p.values)
            lines.append(
                f"{clock} {clean(p.role)}: task {p.task_no}/{p.n_tasks} {clean(p.label)} {p.state}"
                f" {fmt_seconds(p.elapsed)}/{fmt_seconds(p.duration)}{pct}, {p.points} points"
                + (f"; {values}" if values else "")
            )
        return lines


def wrap(values: list[tuple[str, str]], columns: int) -> list[list[tuple[str, str]]]:
    """``(name, value)`` pairs in rows of at most ``columns`` characters
    (``name value`` items, two spaces apart); an item wider than that gets a row."""
    rows: list[list[tuple[str, str]]] = []
    used = columns
    for name, value in values:
        size = len(name) + 1 + len(value)
        if rows and used + 2 + size <= columns:
            rows[-1].append((name, value))
            used += 2 + size
        else:
            rows.append([(name, value)])
            used = size
    return rows


_ESCAPE = re.compile(r"\033\[[0-9;?]*[A-Za-z]")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` terminal columns (escape codes kept intact)."""
    out: list[str] = []
    seen = 0
    pos = 0
    while pos < len(text):
        m = _ESCAPE.match(text, pos)
        if m:
            out.append(m.group())
            pos = m.end()
            continue
        cells = width(text[pos])
        if seen + cells > limit:
            out.append("\033[0m")
            break
        out.append(text[pos])
        seen += cells
        pos += 1
    return "".join(out)


def visible_width(text: str) -> int:
    """Terminal columns of ``text`` without its escape codes."""
    return width(_ESCAPE.sub("", text))


class Screen:
    """Redraws a block of lines in place on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.height = 0

    @staticmethod
    def columns() -> int:
        """Usable width: one less than the terminal's, so no line wraps."""
        return max(20, shutil.get_terminal_size().columns - 1)

    def draw(self, lines: list[str]) -> None:
        width = self.columns()
        parts = [f"\033[{self.height}F"] if self.height else []
        parts += [f"\033[2K{clip(line, width)}\n" for line in lines]
        if len(lines) < self.height:
            parts.append("\033[J")
        self.stream.write("".join(parts))
        self.stream.flush()
        self.height = len(lines)


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
    states = {int(t["index"]): t for t in job.tasks if "index" in t}
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
