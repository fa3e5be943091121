"""`sugo job plot ID [-o FILE.png]`: every variable of a job against time.

One figure part per role; in it one panel per unit (variables that share
units share a panel, so every y axis carries its units), against the time
since the job's first point. Dashed lines mark where each task starts.

A finished job is read from its results file; a running one from its staging
files (the data so far, read directly from the job's folder: run this on the
daemon's machine). matplotlib is an optional extra, ``sugo[plot]``; it is
driven through its Agg canvas, so no display is needed.
"""

import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sugo.cli.context import OK, Context
from sugo.cli.jobview import STATUS_WORDS, fetch_plan
from sugo.cli.output import CliError, clean
from sugo.jobs.folder import staging_dir
from sugo.protocol import daemon_api as api
from sugo.protocol.states import FINAL, QUEUED

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import SubFigure

INSTALL_HINT = (
    "plotting needs matplotlib: install it with pip install 'sugo[plot]'"
    " (in a clone of sugo: pip install -e '.[plot]')"
)
DPI = 100
WIDTH_PX = 1200
TITLE_PX = 60  # the job's title
ROLE_PX = 50  # a role's heading
PANEL_PX = 200  # one panel (one unit)
MAX_PANELS = 8  # per role; more units than this are left out (and said so)
SHORT_UNITS = {"percent": "%", "1": "", "dimensionless": ""}


@dataclass
class RoleSeries:
    """The numeric 1-D variables of one role, along ``uts`` (unix seconds)."""

    role: str
    uts: np.ndarray
    task: np.ndarray  # task index of each point
    variables: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    component: str = ""
    labels: dict[str, str] = field(default_factory=dict)  # shown name, where not the key

    def add(
        self, name: str, values: np.ndarray, units: str, task_units: dict[int, str] | None = None
    ) -> None:
        """A variable; one whose units differ between tasks (`task_units`: task
        index -> units) becomes one series per units, each on the panel of its
        units, with the points of the other tasks left out."""
        per_units: dict[str, list[int]] = {}
        for index, u in (task_units or {}).items():
            per_units.setdefault(u, []).append(index)
        if len(per_units) < 2:
            self.variables[name] = values
            units = units or next(iter(per_units), "")
            if units:
                self.units[name] = units
            return
        for u, tasks in per_units.items():
            key = f"{name}\0{u}"  # unique; shown as the name on its units' panel
            self.variables[key] = np.where(np.isin(self.task, tasks), values, np.nan)
            self.units[key], self.labels[key] = u, name

    def label(self, key: str) -> str:
        return self.labels.get(key, key)

    def panels(self) -> list[tuple[str, list[str]]]:
        """(units, variables) for each panel, in the order variables first appear."""
        groups: dict[str, list[str]] = {}
        for name in self.variables:
            groups.setdefault(self.units.get(name, ""), []).append(name)
        return list(groups.items())


def plottable(arr: np.ndarray) -> bool:
    return arr.ndim == 1 and arr.dtype.kind in "biuf"


def from_results(path: Path) -> list[RoleSeries]:
    """The roles of a results file, sugo's or tomato's."""
    from sugo.cli.plotfile import read_results

    return read_results(path)


def from_staging(jobdir: Path, roles: Iterable[str] = ()) -> list[RoleSeries]:
    """The roles staged so far in ``jobdir`` (duplicates dropped, sorted by time);
    ``roles`` without data get an empty series."""
    from sugo.jobs.staging import scalar_series, summarise

    out: dict[str, RoleSeries] = {}
    for role, summary in summarise(jobdir).items():
        uts, task, values = scalar_series(summary)
        s = RoleSeries(role, uts, task)
        for n, v in values.items():
            var = summary.variables[n]
            s.add(n, v, var.units or "", var.task_units)
        out[role] = s
    for role in roles:
        out.setdefault(role, RoleSeries(role, np.empty(0), np.empty(0, int)))
    wanted = list(dict.fromkeys(roles))
    return [out[r] for r in wanted] + [s for r, s in out.items() if r not in wanted]


def figure_px(series: list[RoleSeries]) -> tuple[int, int]:
    """The PNG size in pixels of the default layout."""
    panels = sum(max(1, min(MAX_PANELS, len(s.panels()))) for s in series)
    return WIDTH_PX, TITLE_PX + ROLE_PX * len(series) + PANEL_PX * panels


def _time_axis(span: float) -> tuple[float, str]:
    if span > 2 * 3600:
        return 3600.0, "h"
    if span > 300:
        return 60.0, "min"
    return 1.0, "s"


def _units_label(units: str) -> str:
    return SHORT_UNITS.get(units, units)


def render(
    series: list[RoleSeries],
    path: Path,
    title: str,
    task_labels: dict[int, str],
    size: tuple[int, int] | None = None,
) -> Path:
    """Draw ``series`` into a PNG at ``path`` (``size`` in pixels, default `figure_px`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = size or figure_px(series)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    starts = [s.uts[0] for s in series if len(s.uts)]
    t0 = min(starts) if starts else 0.0
    ends = [s.uts[-1] for s in series if len(s.uts)]
    scale, tunit = _time_axis((max(ends) - t0) if ends else 0.0)
    heights = [ROLE_PX + PANEL_PX * max(1, min(MAX_PANELS, len(s.panels()))) for s in series]
    subfigs = fig.subfigures(len(series), 1, height_ratios=heights, squeeze=False)[:, 0]
    tmax = ((max(ends) - t0) / scale) if ends else 1.0
    for sub, s in zip(subfigs, series, strict=True):
        ax = _draw_role(sub, s, t0, scale, tunit, task_labels)
        # One time range for every role, so their panels line up.
        ax.set_xlim(-0.02 * tmax, 1.02 * tmax or 1.0)
    with warnings.catch_warnings():
        # A name with an emoji the font lacks is drawn as a box, not an error.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(path, dpi=DPI, format="png")
    return path


def _draw_role(
    sub: "SubFigure",
    s: RoleSeries,
    t0: float,
    scale: float,
    tunit: str,
    task_labels: dict[int, str],
) -> "Axes":
    """Draw one role; returns its lowest axes (they share the time axis)."""
    heading = f"{s.role} ({s.component})" if s.component else s.role
    panels = s.panels()
    shown = panels[:MAX_PANELS]
    if len(panels) > len(shown):
        heading += f" - {len(panels) - len(shown)} more units not shown"
    sub.suptitle(heading, fontweight="bold")
    axes: list[Axes] = list(sub.subplots(max(1, len(shown)), 1, sharex=True, squeeze=False)[:, 0])
    t = (s.uts - t0) / scale
    if not shown:
        axes[0].text(0.5, 0.5, "no data yet", ha="center", va="center", transform=axes[0].transAxes)
    for ax, (units, names) in zip(axes, shown, strict=False):
        for name in names:
            ax.plot(
                t, s.variables[name], marker="." if len(t) < 200 else None, lw=1.2,
                label=s.label(name),
            )  # fmt: skip
        unit = _units_label(units)
        if len(names) == 1:
            ax.set_ylabel(f"{s.label(names[0])} [{unit}]" if unit else s.label(names[0]))
        else:
            ax.set_ylabel(f"[{unit}]" if unit else "(no units)")
            ax.legend(loc="upper left", fontsize="small", ncols=min(4, len(names)))
        ax.grid(True, alpha=0.3)
    _mark_tasks(axes, t, s.task, task_labels)
    axes[-1].set_xlabel(f"time since the job's first point [{tunit}]")
    return axes[-1]


def _mark_tasks(
    axes: list["Axes"], t: np.ndarray, task: np.ndarray, labels: dict[int, str]
) -> None:
    if not len(t):
        return
    firsts = np.concatenate(([0], np.flatnonzero(np.diff(task) != 0) + 1))
    for k in firsts:
        for ax in axes:
            ax.axvline(t[k], color="0.4", ls="--", lw=0.8)
        index = int(task[k])
        label = labels.get(index, f"task {index}")
        axes[0].annotate(
            f" {label}",
            (t[k], 1.0),
            xycoords=("data", "axes fraction"),
            va="bottom",
            fontsize="small",
            color="0.3",
        )


def _labels_from_results(path: Path) -> dict[int, str]:
    import h5netcdf

    labels: dict[int, str] = {}
    with h5netcdf.File(path, "r") as f:
        for g in f.groups.values():
            if "task" not in g.variables:
                continue
            attrs = g.variables["task"].attrs
            try:
                indices = json.loads(attrs.get("task_indices", "[]"))
                techniques = json.loads(attrs.get("techniques", "[]"))
                names = json.loads(attrs.get("task_names", "[]"))
            except (TypeError, ValueError):
                continue
            for i, tech, name in zip(indices, techniques, names, strict=False):
                labels[int(i)] = f"{tech} ({name})" if name else str(tech)
    return labels


def load(client: Any, job: api.JobInfo) -> tuple[list[RoleSeries], dict[int, str], str]:
    """The job's series, task labels and where they came from ("results" or "staging")."""
    respath = Path(job.respath) if job.respath else None
    if job.status in FINAL and respath is not None and respath.exists():
        return from_results(respath), _labels_from_results(respath), "results"
    jobdir = Path(job.jobdir)
    if not staging_dir(jobdir).is_dir():
        if job.status in QUEUED:
            raise CliError(f"job {job.id} has not started yet: nothing to plot")
        raise CliError(f"job {job.id}: no results file and no staging data in {jobdir}")
    plan = fetch_plan(client, job.id)
    roles = [r.role for r in plan.roles] if plan else []
    labels = plan.task_labels() if plan else {}
    for t in job.tasks:
        labels.setdefault(t.index, t.technique or "?")
    series = from_staging(jobdir, roles)
    if plan:
        names = {r.role: r.component for r in plan.roles}
        for s in series:
            s.component = names.get(s.role, "")
    return series, labels, "staging"


def cmd_plot(ctx: Context) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CliError(INSTALL_HINT) from None
    target = ctx.args.id
    if isinstance(target, int):
        return _plot_job(ctx, target)
    # A results file: read as it is, no daemon needed.
    from sugo.cli.plotfile import file_title

    path = Path(target)
    if not path.is_file():
        raise CliError(f"{path}: no such file (give a job id or a results file)")
    try:
        series, labels, title = from_results(path), _labels_from_results(path), file_title(path)
    except (OSError, KeyError, ValueError) as e:
        raise CliError(f"{path}: not a results file sugo can read ({e})") from None
    if not series:
        raise CliError(f"{path}: no group with data along 'uts' to plot")
    out = Path(ctx.args.output or f"plot.{path.stem}.png")
    return _draw(ctx, series, labels, title, out, {"file": str(path), "source": "results"})


def _plot_job(ctx: Context, jobid: int) -> int:
    from sugo.client import DaemonUnreachable

    client = ctx.client()
    try:
        job = client.job(jobid)
    except DaemonUnreachable:
        return _plot_offline(ctx, jobid)
    series, labels, source = load(client, job)
    name = f" {job.jobname!r}" if job.jobname else ""
    state = STATUS_WORDS.get(job.status, job.status)
    so_far = ", data so far" if source == "staging" else ""
    title = f"job {job.id}{name} - sample {job.sample} - {state}{so_far}"
    out = Path(ctx.args.output or f"plot.{job.id}.png")
    return _draw(ctx, series, labels, title, out, {"id": job.id, "source": source})


def _plot_offline(ctx: Context, jobid: int) -> int:
    """The daemon is down: the job's results file or staged data, found
    through its job folder."""
    from sugo.cli.plotfile import file_title, offline_source

    source, where = offline_source(ctx, jobid)
    if source == "results":
        series, labels, title = from_results(where), _labels_from_results(where), file_title(where)
    else:
        series, labels = from_staging(where), {}
        title = f"job {jobid} - data so far (no daemon)"
    ctx.out.note(f"sugo: no daemon on port {ctx.port}; plotting job {jobid} from {where}")
    out = Path(ctx.args.output or f"plot.{jobid}.png")
    return _draw(ctx, series, labels, title, out, {"id": jobid, "source": source})


def _draw(
    ctx: Context,
    series: list[RoleSeries],
    labels: dict[int, str],
    title: str,
    path: Path,
    doc: dict[str, Any],
) -> int:
    if not series:
        what = f"job {doc['id']}" if "id" in doc else doc.get("file", "")
        raise CliError(f"{what}: no data to plot yet")
    render(series, path, clean(title), labels, size=ctx.args.size)
    if ctx.out.json_mode:
        ctx.out.json({**doc, "path": str(path), "points": {s.role: len(s.uts) for s in series}})
    else:
        ctx.out.line(clean(str(path)))
    return OK
