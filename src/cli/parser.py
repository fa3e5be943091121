"""The `sugo` command line: subcommands, their arguments and the common options.

Every (sub)command records its handler as ``"module:function"`` (relative to
``sugo.cli``) so that `main` imports only the code of the command it runs.
"""

import argparse
from pathlib import Path

from sugo import __version__

TABLES = ("pipelines", "drivers", "devices", "components")
COMPONENT_VERBS = ("status", "attrs", "capabilities", "reset", "measure")


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not between 1 and 65535")
    return port


def job_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a job id: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a job id: {text!r} (ids start at 1)")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def pixels(text: str) -> tuple[int, int]:
    """An image size ``WxH`` in pixels, e.g. ``1200x800``."""
    try:
        width, height = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size like 1200x800: {text!r}") from None
    if not (100 <= width <= 20000 and 100 <= height <= 20000):
        raise argparse.ArgumentTypeError(f"size {text!r}: each side must be 100 to 20000 pixels")
    return width, height


def _common() -> argparse.ArgumentParser:
    # SUPPRESS as default: an option given before the subcommand is not
    # overwritten by the subcommand's own (absent) copy of it.
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument(
        "--port",
        type=port_number,
        default=argparse.SUPPRESS,
        help="daemon port (default: $SUGO_PORT, else 9271)",
    )
    group.add_argument(
        "--appdir",
        type=Path,
        default=argparse.SUPPRESS,
        help="folder of settings.toml (default: $SUGO_APPDIR, else the user config folder)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document on stdout",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more logging (repeat for more)",
    )
    group.add_argument(
        "-q", "--quiet", action="count", default=argparse.SUPPRESS, help="less output"
    )
    return common


COMMON_DEFAULTS = {"port": None, "appdir": None, "json": False, "verbose": 0, "quiet": 0}


class _Adder:
    """Adds subcommands that all carry the common options."""

    def __init__(
        self,
        sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
        common: argparse.ArgumentParser,
    ) -> None:
        self.sub = sub
        self.common = common

    def __call__(
        self, name: str, handler: str | None, help: str, **kw: object
    ) -> argparse.ArgumentParser:
        p = self.sub.add_parser(
            name,
            help=help,
            description=help,
            parents=[self.common],
            **kw,  # type: ignore[arg-type]
        )
        if handler is not None:
            p.set_defaults(handler=handler)
        return p


def build_parser() -> argparse.ArgumentParser:
    """The parser of the `sugo` command."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="sugo",
        description="Run jobs on lab instruments through the sugo daemon.",
        parents=[common],
        epilog="exit codes: 0 done, 1 refused or failed, 2 usage error, "
        "3 daemon not reachable, 4 'wait' timed out",
    )
    parser.add_argument("--version", action="version", version=f"sugo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add = _Adder(sub, common)

    # -- daemon -------------------------------------------------------------
    p = add("init", "setup:cmd_init", "write settings.toml and devices.toml into the app folder")
    p.add_argument("--datadir", type=Path, help="job data folder (default: <appdir>/data)")
    p.add_argument("--logdir", type=Path, help="log folder (default: <appdir>/logs)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")

    p = add("start", "lifecycle:cmd_start", "start the daemon in the background")
    p.add_argument(
        "--timeout", type=seconds, default=30.0, help="seconds to wait for it (default 30)"
    )

    p = add("stop", "lifecycle:cmd_stop", "stop the daemon, its drivers and jobs")
    p.add_argument("--force", action="store_true", help="cancel running jobs first")
    p.add_argument(
        "--timeout", type=seconds, default=30.0, help="seconds to wait for it (default 30)"
    )

    p = add("status", "status:cmd_status", "the daemon's pipelines, drivers and components")
    p.add_argument("table", nargs="?", choices=TABLES, help="show only this table")

    add("reload", "status:cmd_reload", "re-read settings and devices file, apply the changes")

    # -- pipelines ----------------------------------------------------------
    p = add("pipeline", None, "load, eject or mark ready a pipeline's sample")
    psub = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    padd = _Adder(psub, common)
    q = padd("load", "pipelines:cmd_load", "load a sample into an empty pipeline")
    q.add_argument("pipeline")
    q.add_argument("sample")
    q = padd("eject", "pipelines:cmd_eject", "remove the pipeline's sample")
    q.add_argument("pipeline")
    q = padd("ready", "pipelines:cmd_ready", "mark the pipeline ready for the next job")
    q.add_argument("pipeline")

    # -- jobs ---------------------------------------------------------------
    p = add("submit", "jobs:cmd_submit", "queue a job; prints its id")
    p.add_argument("payload", type=Path, help="payload file (.toml, .yml, .yaml or .json)")
    p.add_argument("--jobname", help="a name for the job")
    p.add_argument("--wait", action="store_true", help="wait until the job has ended")
    p.add_argument(
        "--watch",
        dest="handler",
        action="store_const",
        const="watch:cmd_submit_watch",
        help="watch the job live until it has ended (see 'sugo job watch')",
    )

    p = add("jobs", "jobs:cmd_jobs", "the job queue, or the named jobs")
    p.add_argument("ids", nargs="*", type=job_id, metavar="ID")

    p = add("cancel", "jobs:cmd_cancel", "cancel jobs")
    p.add_argument("ids", nargs="+", type=job_id, metavar="ID")

    p = add("snapshot", "jobs:cmd_snapshot", "write the data of a running job so far")
    p.add_argument("id", type=job_id, metavar="ID")

    p = add("wait", "jobs:cmd_wait", "wait until jobs have ended (exit 0 if all completed)")
    p.add_argument("ids", nargs="+", type=job_id, metavar="ID")
    p.add_argument("--timeout", type=seconds, help="give up after this many seconds (exit 4)")

    p = add("search", "jobs:cmd_search", "jobs whose name contains TEXT")
    p.add_argument("text", metavar="TEXT")

    p = add("job", None, "more about one job: watch, plot, its log; pruning old jobs")
    jsub = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    jadd = _Adder(jsub, common)
    q = jadd("log", "registry:cmd_job_log", "the job's log, with its drivers' lines")
    q.add_argument("id", type=job_id, metavar="ID")
    q.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    q = jadd("rebuild", "jobtools:cmd_rebuild", "write an ended job's results file again")
    q.add_argument("id", type=job_id, metavar="ID")
    q = jadd("prune", "registry:cmd_job_prune", "delete old finished jobs (not results files)")
    q.add_argument("--older-than", type=float, metavar="DAYS",
                   help="default: jobs.retention_days of settings.toml")  # fmt: skip

    p = add("events", "registry:cmd_events", "the event log (--follow to keep watching)")
    p.add_argument("--follow", "-f", action="store_true", help="wait for new events")
    p.add_argument("--after", type=int, default=0, metavar="ID", help="events after this id")
    p.add_argument("--last", type=int, metavar="N", help="start with the last N events")

    p = add("maintenance", None, "maintenance reminders of devices")
    msub = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    madd = _Adder(msub, common)
    madd("status", "registry:cmd_maintenance_status", "every item: used, remaining, due")
    q = madd("done", "registry:cmd_maintenance_done", "reset an item after the work is done")
    q.add_argument("device", metavar="DEVICE")
    q.add_argument("label", metavar="LABEL")

    p = add("demo", "demo:cmd_demo", "run a short demo job on simulated devices, then clean up")
    p.add_argument(
        "--seconds", type=seconds, default=4.0, help="length of the demo job (default 4)"
    )

    # -- one job: watch, plot (more verbs of the `job` group above) ---------
    q = jadd("watch", "watch:cmd_watch", "a live view of a job until it has ended")
    q.add_argument("id", type=job_id, metavar="ID")
    q.add_argument(
        "--every", type=seconds, help="seconds between refreshes (default 1 on a terminal, else 5)"
    )
    q = jadd("plot", "plot:cmd_plot", "plot a job's data, so far or final, into a PNG file")
    q.add_argument("id", type=job_id, metavar="ID")
    q.add_argument(
        "-o", "--output", type=Path, metavar="FILE.png", help="where to write (default plot.ID.png)"
    )
    q.add_argument(
        "--size", type=pixels, metavar="WxH", help="image size in pixels (default: by panels)"
    )

    # -- payloads and drivers -----------------------------------------------
    p = add("check", "check:cmd_check", "validate a payload; say which pipelines could run it")
    p.add_argument("payload", type=Path, help="payload file (.toml, .yml, .yaml or .json)")
    p = add("schema", "check:cmd_schema", "print the JSON Schema of a file kind (for editors)")
    p.add_argument("kind", choices=("payload", "devices", "settings"))
    p = add("driver", None, "start a new driver package")
    dsub = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    dadd = _Adder(dsub, common)
    q = dadd("new", "driverkit:cmd_driver_new", "write a ready-to-install driver package")
    q.add_argument("name", metavar="NAME", help="the driver's name: lowercase letters, digits, _")
    q.add_argument("--dir", type=Path, help="folder to write it into (default ./sugo-driver-NAME)")

    # -- components ---------------------------------------------------------
    p = add("component", None, "look at or act on one component, e.g. 'counter:(sim,1)'")
    csub = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    cadd = _Adder(csub, common)
    for verb, text in (
        ("status", "runtime status and status attrs"),
        ("attrs", "the component's attrs"),
        ("capabilities", "the techniques it can run"),
        ("reset", "stop its task and restore attr defaults"),
        ("measure", "a quick reading: task progress and status attrs"),
    ):
        q = cadd(verb, "components:cmd_component", text)
        q.add_argument("name", metavar="NAME")
        if verb == "reset":
            q.add_argument("--force", action="store_true", help="even while a job uses it")
    q = cadd("restart", "registry:cmd_component_restart", "tear down and register again")
    q.add_argument("name", metavar="NAME")
    q = cadd("get", "components:cmd_get", "the values of attrs")
    q.add_argument("name", metavar="NAME")
    q.add_argument("attrs", nargs="+", metavar="ATTR")
    q = cadd("set", "components:cmd_set", "set an attr (VALUE is coerced by the driver)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("attr", metavar="ATTR")
    q.add_argument("value", metavar="VALUE")
    q.add_argument("--force", action="store_true", help="even while a job uses it")
    return parser
