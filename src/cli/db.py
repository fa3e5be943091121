"""`sugo db rebuild`: restore the jobs table from the job folders, with the
daemon stopped (a lost or damaged database loses no history)."""

from sugo.cli.context import OK, Context
from sugo.cli.output import CliError


def cmd_db_rebuild(ctx: Context) -> int:
    from sugo.config import load_settings
    from sugo.daemon.startup import DatabaseInUse, rebuild_offline
    from sugo.errors import SugoError
    from sugo.paths import settings_path
    from sugo.platform.oslock import LockHeld

    appdir = ctx.appdir
    settings = load_settings(settings_path(appdir))
    dbpath, storage = settings.jobs.dbpath, settings.jobs.storage
    try:
        done = rebuild_offline(appdir, dbpath, storage)
    except LockHeld as e:
        raise CliError(
            f"a daemon runs on {appdir} ({e.holder.describe()}): stop it first"
            f" ('sugo --port {e.holder.port or 'PORT'} stop'); it restores a lost jobs table"
            " itself at start"
        ) from None
    except DatabaseInUse as e:
        raise CliError(str(e)) from None
    except (SugoError, OSError) as e:
        raise CliError(f"cannot rebuild {dbpath}: {e}") from None
    report = done.report
    if ctx.out.json_mode:
        ctx.out.json(
            {
                "dbpath": str(dbpath),
                "storage": str(storage),
                "restored": report.restored,
                "skipped": {str(k): v for k, v in sorted(report.skipped.items())},
                "partial": {str(k): v for k, v in sorted(report.partial.items())},
                "pipelines": report.pipelines,
                "pipelines_problem": report.pipelines_problem,
                "moved_aside": [str(p) for p in done.moved],
            }
        )
        return OK
    if done.moved:
        moved = ", ".join(map(str, done.moved))
        ctx.out.line(f"sugo: the damaged database was moved aside: {moved}")
    ctx.out.line(f"sugo: {dbpath}: {report.summary()} (from {storage})")
    return OK
