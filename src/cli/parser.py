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

    p = add("demo", "demo:cmd_demo", "run a short demo job on simulated devices, then clean up")
    p.add_argument(
        "--seconds", type=seconds, default=4.0, help="length of the demo job (default 4)"
    )

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
    q = cadd("get", "components:cmd_get", "the values of attrs")
    q.add_argument("name", metavar="NAME")
    q.add_argument("attrs", nargs="+", metavar="ATTR")
    q = cadd("set", "components:cmd_set", "set an attr (VALUE is coerced by the driver)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("attr", metavar="ATTR")
    q.add_argument("value", metavar="VALUE")
    q.add_argument("--force", action="store_true", help="even while a job uses it")
    return parser
