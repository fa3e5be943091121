"""`sugo events`, `sugo maintenance`, `sugo job log`, `sugo job prune` and
`sugo component restart`: the instrument-registry commands."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

from sugo.cli.context import FAILED, OK, Context
from sugo.cli.output import clean, fmt_value
from sugo.protocol import daemon_api as api
from sugo.protocol.wire import to_builtins

FOLLOW_WAIT = 10.0  # seconds each long poll of `--follow` waits for news


def _event_line(ev: api.EventInfo) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ev.time))
    data = " ".join(f"{k}={v}" for k, v in ev.data.items() if v is not None)
    return f"{stamp}  {ev.id:>6}  {ev.kind:<24} {ev.subject}  {data}".rstrip()


def cmd_events(ctx: Context) -> int:
    """Print events (one JSON line each with --json); --follow keeps going."""
    client = ctx.client()
    after = ctx.args.after
    if ctx.args.last is not None and after == 0:
        # Start so that the last N events are shown.
        everything = client.events(after=0, limit=100000)
        after = everything[-ctx.args.last - 1].id if len(everything) > ctx.args.last else 0
    while True:
        batch = client.events(after=after, wait=FOLLOW_WAIT if ctx.args.follow else 0.0)
        for ev in batch:
            text = json.dumps(to_builtins(ev)) if ctx.out.json_mode else clean(_event_line(ev))
            print(text, flush=True)
            after = ev.id
        if not ctx.args.follow and len(batch) < 1000:
            return OK


def cmd_maintenance_status(ctx: Context) -> int:
    items = ctx.client().maintenance()
    if ctx.out.json_mode:
        ctx.out.json({"items": to_builtins(items)})
        return OK
    if not items:
        ctx.out.line("sugo: no maintenance items (add them to devices in the devices file)")
        return OK
    units = {"task_hours": "h", "jobs": "jobs", "days": "days"}
    ctx.out.table(
        ["DEVICE", "ITEM", "TRIGGER", "USED", "THRESHOLD", "REMAINING", "STATE"],
        [
            [
                i.device,
                i.label,
                i.trigger,
                f"{i.used:.3g} {units[i.trigger]}",
                f"{i.threshold:g}",
                f"{i.remaining:.3g}",
                ("DUE" + (", blocking" if i.blocking else ""), "red") if i.due else ("ok", "green"),
            ]
            for i in items
        ],
    )
    return OK


def cmd_maintenance_done(ctx: Context) -> int:
    done = ctx.client().maintenance_done(ctx.args.device, ctx.args.label)
    if ctx.out.json_mode:
        ctx.out.json(to_builtins(done))
    else:
        ctx.out.line(f"sugo: maintenance {done.label!r} on {done.device} reset")
    return OK


def cmd_component_restart(ctx: Context) -> int:
    got = ctx.client().component_restart(ctx.args.name)
    if ctx.out.json_mode:
        ctx.out.json(to_builtins(got))
    else:
        ctx.out.line(f"sugo: {got.name} registered again ({', '.join(got.capabilities)})")
    return OK


def cmd_job_prune(ctx: Context) -> int:
    got = ctx.client().prune(ctx.args.older_than)
    if ctx.out.json_mode:
        ctx.out.json(to_builtins(got))
    else:
        ids = ", ".join(str(i) for i in got.pruned) or "none"
        ctx.out.line(f"sugo: pruned jobs ended over {got.days:g} days ago: {ids}")
    return OK


def job_log_lines(info: api.JobLogInfo) -> list[tuple[str, str]]:
    """The job's lines: its runner log, plus the driver-log lines about its
    components while it ran; (timestamp text, line) sorted by time."""
    lines: list[tuple[str, str]] = [(_stamp(line), line) for line in _read(info.job_log)]
    start, end = info.started_at, info.completed_at
    lo = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start)) if start else ""
    hi = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(end + 1)) if end else "~"
    for drv in info.driver_logs:
        for line in _read(drv.path):
            stamp = _stamp(line)
            if lo <= stamp[:19] <= hi and any(m in line for m in drv.match):
                lines.append((stamp, f"[{drv.driver}] {line}"))
    lines.sort(key=lambda x: x[0])
    return lines


def _stamp(line: str) -> str:
    return line[:23] if line[:4].isdigit() else ""


def _read(path: str) -> Iterator[str]:
    p = Path(path)
    if p.is_file():
        with p.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                yield line.rstrip("\n")


def cmd_job_log(ctx: Context) -> int:
    client = ctx.client()
    info = client.job_log(ctx.args.id)
    shown = 0
    while True:
        lines = job_log_lines(info)
        for _, line in lines[shown:]:
            print(clean(line), flush=True)
        shown = len(lines)
        if not ctx.args.follow or info.status in ("c", "ce", "cd"):
            break
        time.sleep(0.5)  # following a file: there is no event to wait on
        info = client.job_log(ctx.args.id)
    if not shown and not ctx.out.json_mode:
        ctx.out.error(f"job {ctx.args.id} has no log lines yet ({fmt_value(info.job_log)})")
        return FAILED
    return OK
