"""`sugo job rebuild ID`: write an ended job's results file again from its
staging store, once what stopped it (a full disk, an unwritable folder) is fixed.

The daemon does the work in a runner process (``finalize`` mode), so the file
is written exactly as at the end of a job; this command waits for it.
"""

from sugo.cli.context import OK, Context
from sugo.protocol.wire import to_builtins


def cmd_rebuild(ctx: Context) -> int:
    job = ctx.client().rebuild(ctx.args.id)
    if ctx.out.json_mode:
        ctx.out.json(to_builtins(job))
    else:
        ctx.out.line(str(job.respath))
    return OK
