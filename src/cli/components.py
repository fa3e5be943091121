"""`sugo component VERB NAME ...`: one driver verb on one component, through
the daemon (which refuses changes to a component a job uses, unless --force).

Verbs: status → dev_status, attrs → attrs, capabilities → capabilities,
get → dev_get_attr (one call per attr), set → dev_set_attr (VALUE is sent as
text; the driver coerces it), reset → dev_reset, constants → dev_constants,
last → dev_last_data (the last point, also between tasks), measure →
dev_measure (one measurement now, as tomato's `cmp_measure`).
"""

from typing import Any

from sugo.cli.context import OK, Context
from sugo.cli.output import Output, clean, fmt_time, fmt_value

VERBS = {
    "status": "dev_status",
    "attrs": "attrs",
    "capabilities": "capabilities",
    "reset": "dev_reset",
    "constants": "dev_constants",
    "last": "dev_last_data",
}


def _activity(out: Output, status: dict[str, Any]) -> str:
    """``running count (task 'x'): 12 points since ...`` or ``idle``."""
    if status.get("running"):
        task = status.get("task")
        technique = status.get("technique") or "?"
        named = f" (task {task!r})" if task and task != technique else ""
        since = fmt_time(status.get("started_at"))
        text = f"running {technique}{named}: {status.get('points', 0)} points since {since}"
        return out.paint(text, "blue")
    text = out.paint("idle", "green")
    if status.get("finished"):
        text += f" ({status['finished']} task(s) finished)"
    return text


def _show_values(out: Output, values: dict[str, Any]) -> None:
    width = max((len(k) for k in values), default=0)
    for key, value in values.items():
        out.line(f"  {key.ljust(width)}  {fmt_value(value)}")


def _show_status(out: Output, name: str, status: dict[str, Any]) -> None:
    out.line(f"{name}: {_activity(out, status)}")
    if status.get("error"):
        out.line("  " + out.paint(f"error: {clean(str(status['error']))}", "red"))
    if status.get("queued"):
        out.line(f"  {status['queued']} task(s) queued")
    _show_values(out, status.get("attrs") or {})


def _limits(spec: dict[str, Any]) -> str:
    if spec.get("options"):
        return " | ".join(str(o) for o in spec["options"])
    lo, hi = spec.get("minimum"), spec.get("maximum")
    if lo is not None and hi is not None:
        return f"{lo} .. {hi}"
    if lo is not None:
        return f">= {lo}"
    if hi is not None:
        return f"<= {hi}"
    return "-"


def _show_attrs(out: Output, attrs: dict[str, Any]) -> None:
    out.table(
        ["ATTR", "TYPE", "UNITS", "RW", "STATUS", "LIMITS", "DEFAULT"],
        [
            [
                name,
                str(spec.get("type", "-")),
                spec.get("units") or "-",
                fmt_value(bool(spec.get("rw"))),
                fmt_value(bool(spec.get("status"))),
                _limits(spec),
                fmt_value(spec.get("default")),
            ]
            for name, spec in attrs.items()
        ],
    )


def _show_point(out: Output, name: str, point: dict[str, Any] | None) -> None:
    """One point (columns of one value each) as ``name: at TIME`` and its values."""
    if not point or not point.get("columns"):
        out.line(f"{name}: no data yet")
        return
    columns, units = point["columns"], point.get("units") or {}
    uts = (columns.get("uts") or [None])[-1]
    out.line(f"{name}: at {fmt_time(uts)}")
    values = {}
    for key, column in columns.items():
        if key != "uts" and column:
            unit = units.get(key)
            values[key] = f"{fmt_value(column[-1])} {unit}" if unit else column[-1]
    _show_values(out, values)


def cmd_component(ctx: Context) -> int:
    args = ctx.args
    client = ctx.client()
    out = ctx.out
    force = bool(getattr(args, "force", False))
    if args.verb == "measure":
        technique = getattr(args, "technique", None)
        extra = {"technique": technique} if technique else {}
        point = client.component(args.name, "dev_measure", force=force, **extra)
        if out.json_mode:
            out.json({"component": args.name, "measure": point})
        else:
            _show_point(out, args.name, point)
        return OK
    data = client.component(args.name, VERBS[args.verb], force=force)
    if out.json_mode:
        out.json({"component": args.name, args.verb: data})
    elif args.verb == "status":
        _show_status(out, args.name, data)
    elif args.verb == "attrs":
        _show_attrs(out, data)
    elif args.verb == "capabilities":
        for technique in data:
            out.line(technique)
    elif args.verb == "last":
        _show_point(out, args.name, data)
    elif args.verb == "constants":
        _show_values(out, data or {})
    else:
        out.line(f"sugo: {data.get('msg') if isinstance(data, dict) else data}")
    return OK


def cmd_get(ctx: Context) -> int:
    args = ctx.args
    client = ctx.client()
    values = {attr: client.component(args.name, "dev_get_attr", attr=attr) for attr in args.attrs}
    if ctx.out.json_mode:
        ctx.out.json({"component": args.name, "values": values})
    elif len(values) == 1:
        ctx.out.line(fmt_value(next(iter(values.values()))))
    else:
        _show_values(ctx.out, values)
    return OK


def cmd_set(ctx: Context) -> int:
    args = ctx.args
    value = ctx.client().component(
        args.name, "dev_set_attr", force=args.force, attr=args.attr, val=args.value
    )
    if ctx.out.json_mode:
        ctx.out.json({"component": args.name, "attr": args.attr, "value": value})
    else:
        ctx.out.line(f"sugo: {args.name}: {args.attr} = {fmt_value(value)}")
    return OK
