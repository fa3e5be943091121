"""`sugo pipeline load|eject|ready`."""

from sugo.cli.context import OK, Context
from sugo.cli.output import clean
from sugo.protocol import daemon_api as api


def _done(ctx: Context, p: api.PipelineInfo) -> int:
    if ctx.out.json_mode:
        ctx.out.json(p)
        return OK
    ready = "ready" if p.ready else "not ready"
    holds = f"sample '{p.sample}'" if p.sample is not None else "no sample"
    ctx.out.line(clean(f"sugo: pipeline {p.name}: {holds}, {ready}"))
    return OK


def cmd_load(ctx: Context) -> int:
    return _done(ctx, ctx.client().pipeline_load(ctx.args.pipeline, ctx.args.sample))


def cmd_eject(ctx: Context) -> int:
    return _done(ctx, ctx.client().pipeline_eject(ctx.args.pipeline))


def cmd_ready(ctx: Context) -> int:
    return _done(ctx, ctx.client().pipeline_ready(ctx.args.pipeline))
