"""`sugo status` and `sugo reload`."""

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sugo.cli.context import FAILED, OK, Context
from sugo.cli.output import Cell, Output, fmt_value
from sugo.protocol import daemon_api as api
from sugo.protocol.wire import to_builtins

if TYPE_CHECKING:
    from sugo.client import SugoClient

STATE_STYLES = {
    "ready": "green",
    "idle": "green",
    "busy": "blue",
    "starting": "yellow",
    "registering": "yellow",
    "restarting": "yellow",
    "failed": "red",
    "stopped": "dim",
    "removed": "dim",
}


def _code_style(code: int) -> str:
    return {1: "green", 2: "yellow", 3: "red", 4: "red"}.get(code // 100, "dim")


def _state(state: str) -> Cell:
    return (state, STATE_STYLES.get(state, ""))


def pipeline_rows(pipelines: Sequence[api.PipelineInfo]) -> list[list[Cell]]:
    return [
        [
            p.name,
            ("yes", "green") if p.ready else ("no", "dim"),
            p.sample or "-",
            ("-", "") if p.jobid is None else (str(p.jobid), "blue"),
            ", ".join(f"{role}={comp}" for role, comp in p.components.items()),
        ]
        for p in pipelines
    ]


def show_table(out: Output, st: api.StatusInfo, table: str) -> None:
    """Print one of the status tables."""
    if table == "pipelines":
        out.table(["PIPELINE", "READY", "SAMPLE", "JOB", "COMPONENTS"], pipeline_rows(st.pipelines))
    elif table == "drivers":
        out.table(
            ["DRIVER", "STATE", "CODE", "PID", "PORT", "VERSION", "RUNS", "ERROR"],
            [
                [
                    d.name,
                    _state(d.state),
                    (f"{d.code} {d.label}", _code_style(d.code)),
                    fmt_value(d.pid),
                    fmt_value(d.port),
                    d.version or "-",
                    d.source or "-",
                    (d.error, "red") if d.error else "",
                ]
                for d in st.drivers
            ],
        )
    elif table == "devices":
        out.table(
            ["DEVICE", "DRIVER", "ADDRESS", "CHANNELS", "POLLRATE"],
            [
                [d.name, d.driver, d.address, ", ".join(d.channels), f"{d.pollrate:g} s"]
                for d in st.devices
            ],
        )
    else:
        out.table(
            ["COMPONENT", "DEVICE", "STATE", "CODE", "STATUS", "ERRORS", "CAPABILITIES"],
            [
                [
                    c.name,
                    c.device,
                    _state(c.state),
                    (str(c.code), _code_style(c.code)),
                    (c.label + (f": {c.text}" if c.text else ""), _code_style(c.code)),
                    (str(c.error_count), "red") if c.error_count else "0",
                    ", ".join(c.capabilities),
                ]
                for c in st.components
            ],
        )


def _summary(out: Output, st: api.StatusInfo) -> str:
    state = out.paint("ready", "green") if st.ready else out.paint("starting", "yellow")
    running = sum(1 for p in st.pipelines if p.jobid is not None)
    return (
        f"sugo {st.version} daemon on port {st.port} (pid {st.pid}), {state}; "
        f"appdir {st.appdir}; {len(st.pipelines)} pipelines ({running} running a job), "
        f"{len(st.drivers)} drivers, {len(st.devices)} devices, {len(st.components)} components"
    )


def cmd_status(ctx: Context) -> int:
    table = ctx.args.table
    if table == "agents":  # the agent registry: its own request (docs/network.md)
        from sugo.cli.agent import cmd_status_agents

        return cmd_status_agents(ctx)
    st = ctx.client().status()
    out = ctx.out
    if out.json_mode:
        data: dict[str, Any] = to_builtins(st)
        if table:
            data = {k: data[k] for k in ("port", "pid", "version", "ready", table)}
        out.json(data)
        return OK
    if table:
        show_table(out, st, table)
        return OK
    out.line(_summary(out, st))
    for notice in st.notices:
        out.line(out.paint(f"note: {notice}", "yellow"))
    if st.web:
        out.line(f"web dashboard and API: {st.web}")
    for name in ("pipelines", "drivers", "components"):
        out.line()
        show_table(out, st, name)
    return OK


def cmd_reload(ctx: Context) -> int:
    client = ctx.client()
    changes = client.reload()
    started = [*changes.drivers_added, *changes.drivers_restarted]
    pending, failed = wait_drivers_up(client, started, ctx.args.timeout)
    if ctx.out.json_mode:
        ctx.out.json({**to_builtins(changes), "starting": pending, "failed": failed})
    else:
        parts = []
        for names, label in (
            (changes.drivers_added, "drivers added"),
            (changes.drivers_removed, "drivers removed"),
            (changes.drivers_restarted, "drivers restarted"),
            (changes.components_removed, "components removed"),
        ):
            if names:
                parts.append(f"{label}: {', '.join(names)}")
        done = "; ".join(parts) if parts else "no driver or component changes"
        ctx.out.line(f"sugo: reloaded: {done}; {len(changes.pipelines)} pipelines")
        if pending:
            ctx.out.line(
                f"sugo: still starting after {ctx.args.timeout:g} s: {', '.join(pending)}"
                " (see 'sugo status')"
            )
    if failed:
        ctx.out.reason("reloaded, but " + "; ".join(failed))
        return FAILED
    return OK


def wait_drivers_up(
    client: "SugoClient", names: list[str], timeout: float
) -> tuple[list[str], list[str]]:
    """Wait, as `sugo start` does, until the drivers ``names`` and their
    components are up. Returns what is still starting and what failed."""
    deadline = time.monotonic() + timeout
    while True:
        st = client.status()
        drivers = {d.name: d for d in st.drivers if d.name in names}
        failed = [
            f"driver {d.name} failed: {d.error or d.state}"
            for d in drivers.values()
            if d.state == "failed"
        ]
        pending = [
            f"driver {d.name} ({d.state})"
            for d in drivers.values()
            if d.state not in ("ready", "failed")
        ]
        pending += [f"driver {n} (not listed yet)" for n in names if n not in drivers]
        pending += [
            f"component {c.name}"
            for c in st.components
            if c.driver in drivers and c.state == "registering"
        ]
        if not pending or time.monotonic() >= deadline:
            return pending, failed
        time.sleep(0.05)
