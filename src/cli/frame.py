"""The text of one refresh of the job view: the terminal view (a headline,
then per role a progress line and its latest values, fitted to the width) and
the plain view (one line per role, for logs)."""

import time

from sugo.cli.jobview import STATUS_WORDS
from sugo.cli.output import STATUS_STYLES, Output, clean, pad, width
from sugo.cli.progress import BAR_WIDTH, RoleProgress, bar, fmt_seconds, job_eta
from sugo.cli.screen import visible_width
from sugo.protocol import daemon_api as api
from sugo.protocol.states import QUEUED, RUNNING

MIN_BAR = 5  # narrower than this, the bar is left out
WAITING_LINES = 5  # pipelines shown for a queued job
#: Task state → style of its progress bar.
STATE_STYLES = {"completed": "green", "error": "red", "cancelled": "yellow", "pending": "dim"}


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
