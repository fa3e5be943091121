"""Where each role of a running job stands (its current task, elapsed and
remaining time, points and latest values), and the number formats of the
job view (`sugo job watch`, `sugo check`)."""

import math
from dataclasses import dataclass
from typing import Any

from sugo.cli.jobview import RoleData, RolePlan
from sugo.protocol import daemon_api as api

BAR_WIDTH = 20
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
    states: dict[int, api.TaskInfo],
    data: RoleData | None,
    now: float,
    running: bool,
) -> RoleProgress:
    """The progress of ``role`` from the daemon's task states (by task index)
    and the staged data."""
    tasks = role.tasks
    own = [states.get(t.index) for t in tasks]
    kinds = [s.state if s is not None else "pending" for s in own]
    if "running" in kinds:
        at = kinds.index("running")
    elif not any(s for s in own) and data is not None and data.last_task is not None:
        # No task states (the daemon restarted): the staged data tells which task.
        at = next((i for i, t in enumerate(tasks) if t.index == data.last_task), 0)
    elif running and "pending" in kinds:
        at = kinds.index("pending")
    else:
        started = [i for i, s in enumerate(own) if s is not None and s.started_at is not None]
        at = started[-1] if started else 0
    task, state = tasks[at], own[at]
    elapsed: float | None = None
    if state is not None and state.started_at is not None:
        end = state.ended_at or now
        elapsed = min(max(0.0, end - state.started_at), task.max_duration)
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
