"""`sugo job rebuild ID`: write an ended job's results file again from its
staging store, once what stopped it (a full disk, an unwritable folder) is fixed.

The daemon does the work in a runner process (``finalize`` mode), so the file
is written exactly as at the end of a job; this command waits for it.
"""

from sugo.cli.context import OK, Context
from sugo.protocol.states import FINAL
from sugo.protocol.wire import to_builtins


def cmd_rebuild(ctx: Context) -> int:
    job = ctx.client().rebuild(ctx.args.id)
    if ctx.out.json_mode:
        ctx.out.json(to_builtins(job))
    else:
        ctx.out.line(str(job.respath))
    return OK


def cmd_crate(ctx: Context) -> int:
    """`sugo job crate ID`: results.<id>.zip beside the results file."""
    from pathlib import Path

    from sugo.errors import SugoError

    job = ctx.client().job(ctx.args.id)
    if job.status not in FINAL:
        raise SugoError(f"job {job.id} has not ended (status {job.status})")
    if not job.respath or not Path(job.respath).is_file():
        raise SugoError(f"job {job.id} has no results file ({job.respath or 'none written'})")
    from sugo.jobs.crate import make_crate

    path = make_crate(job.respath)
    if ctx.out.json_mode:
        ctx.out.json({"id": job.id, "crate": str(path), "respath": job.respath})
    else:
        ctx.out.line(str(path))
    return OK
