"""`sugo check PAYLOAD` and `sugo schema KIND`.

`check` validates a payload without submitting it: first offline (the file's
syntax, the schema, durations with units, task names and start/stop
triggers, tomato versions upgraded), then, when a daemon answers, against its
pipelines: which could run the job and why each other one cannot. The daemon
decides, in a dry run of `submit` (``SubmitCheck``): every check a submit
makes (output files, repositories, a pipeline with every role and technique,
its drivers accepting every task), nothing queued. So `check` passes exactly
what `submit` accepts.
"""

import getpass
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sugo.cli.context import FAILED, OK, Context
from sugo.cli.output import clean, to_json_text
from sugo.errors import RequestTimeout, SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.wire import to_builtins

if TYPE_CHECKING:
    from sugo.client import SugoClient
    from sugo.config.payload import Payload

DRY_RUN_TIMEOUT = 30.0  # the daemon asks a driver host of each kind of pipeline

SCHEMA_KINDS = ("payload", "devices", "settings")


def verdicts(client: "SugoClient", path: Path) -> list[api.PipelineVerdict]:
    """One verdict per pipeline of the daemon, from a dry run of submitting
    ``path``; a RequestFailed (a SugoError) says why a submit would be
    refused outright (an output file that clashes, an unknown repository,
    a payload over the daemon's size limit...)."""
    from sugo.client import payload_format

    req = api.Submit(
        payload=path.read_text(encoding="utf-8"),
        fmt=payload_format(path),
        source=str(path),
        cwd=os.getcwd(),
        user=getpass.getuser(),
    )
    return client.dry_run(req, timeout=DRY_RUN_TIMEOUT).pipelines


def _describe(payload: "Payload") -> str:
    roles = payload.roles()
    longest = max(sum(t.max_duration for _, t in payload.tasks_of(r)) for r in roles)
    from sugo.cli.watch import fmt_seconds

    # Each duration is finite, but their sum can overflow (1e308 s twice).
    most = fmt_seconds(longest) if math.isfinite(longest) else f"more than {sys.float_info.max:g} s"
    return (
        f"{len(payload.method)} task(s) on role(s) {', '.join(roles)},"
        f" sample {payload.sample.identifier!r}, at most {most}"
    )


def _original_version(path: Path) -> str | None:
    from sugo.config.files import load_mapping

    try:
        version = load_mapping(path).get("version")
    except SugoError:
        return None
    return None if version is None else str(version)


def _next_step(v: api.PipelineVerdict, sample: str) -> str:
    if v.sample == sample and v.ready:
        return "can run it now"
    if v.sample == sample:
        return "can run it once marked ready"
    loaded = f"{v.sample!r} is loaded" if v.sample else "it is empty"
    return f"can run it once sample {sample!r} is loaded and marked ready ({loaded})"


def cmd_check(ctx: Context) -> int:
    from sugo.config.payload import load_payload

    path: Path = ctx.args.payload
    out = ctx.out
    payload = load_payload(path)  # a ConfigError names the file, key and problem
    version = _original_version(path)
    upgraded = version is not None and version != payload.version
    doc: dict[str, Any] = {
        "path": str(path),
        "valid": True,
        "version": version or payload.version,
        "upgraded": upgraded,
        "tasks": len(payload.method),
        "roles": payload.roles(),
        "sample": payload.sample.identifier,
    }
    note = f" (tomato payload {version}, upgraded to {payload.version})" if upgraded else ""
    out.line(clean(f"{path}: valid payload{note}: {_describe(payload)}"))
    client = ctx.client(timeout=3.0)
    try:
        client.ping()
    except RequestTimeout as e:
        doc.update(daemon=False, pipelines=[])
        if out.json_mode:
            out.json(doc)
        else:
            out.line(f"no daemon answers on port {ctx.port} ({e}): checked offline only")
        return OK
    try:
        found = verdicts(client, path)
    except RequestTimeout:
        raise
    except SugoError as e:  # submit would refuse it, whatever the pipelines
        doc.update(daemon=True, pipelines=[], error=str(e))
        if out.json_mode:
            out.json(doc)
        out.reason(str(e))
        return FAILED
    sample = payload.sample.identifier
    doc["daemon"] = True
    doc["pipelines"] = to_builtins(found)
    able = [v for v in found if v.can_run]
    problem = None
    if not able:
        why = "; ".join(f"{v.name}: {v.reason}" for v in found) or "no pipelines configured"
        problem = f"no pipeline of the daemon on port {ctx.port} can run {path}: {why}"
        doc["error"] = problem
    if out.json_mode:
        out.json(doc)
    else:
        out.line(f"pipelines of the daemon on port {ctx.port}:")
        width = max((len(v.name) for v in found), default=0)
        for v in found:
            text = _next_step(v, sample) if v.can_run else f"cannot: {v.reason}"
            style = "green" if v.can_run else "dim"
            out.line(f"  {v.name.ljust(width)}  {out.paint(clean(text), style)}")
    if problem:
        out.reason(problem)
        return FAILED
    return OK


def cmd_schema(ctx: Context) -> int:
    """Print the JSON Schema of a file kind (for editors and validators)."""
    from sugo.config.schema import json_schema

    text = to_json_text(json_schema(ctx.args.kind))
    print(text, file=ctx.out.out, flush=True)
    return OK
