"""Every `sugo` command's arguments, in the order of `sugo --help`.

Each function adds one command (with its verbs) to the top-level parser and
records its handler as ``"module:function"`` (relative to ``sugo.cli``), so
that `main` imports only the code of the command it runs.
"""

import argparse
from collections.abc import Callable

from sugo.cli.argtypes import count, job_id, job_or_file, path, pixels, seconds
from sugo.cli.options import Adder

TABLES = ("pipelines", "drivers", "devices", "components")

#: How many of the newest jobs `sugo jobs` lists (besides every queued or running one).
RECENT_JOBS = 50


def _init(add: Adder) -> None:
    p = add("init", "setup:cmd_init", "write settings.toml and devices.toml into the app folder")
    p.add_argument("--datadir", type=path, help="job data folder (default: <appdir>/data)")
    p.add_argument("--logdir", type=path, help="log folder (default: <appdir>/logs)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def _start(add: Adder) -> None:
    p = add(
        "start",
        "lifecycle:cmd_start",
        "start the daemon in the background (-v: it and its drivers log debug lines,"
        " -q: only warnings; default: [logging] level of settings.toml)",
    )
    p.add_argument(
        "--timeout", type=seconds, default=30.0, help="seconds to wait for it (default 30)"
    )


def _stop(add: Adder) -> None:
    p = add("stop", "lifecycle:cmd_stop", "stop the daemon, its drivers and jobs")
    p.add_argument("--force", action="store_true", help="cancel running jobs first")
    p.add_argument(
        "--timeout", type=seconds, default=30.0, help="seconds to wait for it (default 30)"
    )


def _status(add: Adder) -> None:
    p = add("status", "status:cmd_status", "the daemon's pipelines, drivers and components")
    p.add_argument("table", nargs="?", choices=(*TABLES, "agents"), help="show only this table")


def _reload(add: Adder) -> None:
    p = add(
        "reload",
        "status:cmd_reload",
        "re-read settings and devices file, apply the changes; returns once new drivers are up",
    )
    p.add_argument(
        "--timeout",
        type=seconds,
        default=30.0,
        help="seconds to wait for new drivers (default 30)",
    )


def _pipeline(add: Adder) -> None:
    p = add("pipeline", None, "load, eject or mark ready a pipeline's sample")
    padd = add.verbs(p)
    q = padd("load", "pipelines:cmd_load", "load a sample into an empty pipeline")
    q.add_argument("pipeline")
    q.add_argument("sample")
    q = padd("eject", "pipelines:cmd_eject", "remove the pipeline's sample")
    q.add_argument("pipeline")
    q = padd("ready", "pipelines:cmd_ready", "mark the pipeline ready for the next job")
    q.add_argument("pipeline")


def _submit(add: Adder) -> None:
    p = add("submit", "jobs:cmd_submit", "queue a job; prints its id")
    p.add_argument("payload", type=path, help="payload file (.toml, .yml, .yaml or .json)")
    p.add_argument("--jobname", help="a name for the job")
    p.add_argument("--wait", action="store_true", help="wait until the job has ended")
    p.add_argument(
        "--watch",
        dest="handler",
        action="store_const",
        const="watch:cmd_submit_watch",
        help="watch the job live until it has ended (see 'sugo job watch')",
    )


def _jobs(add: Adder) -> None:
    p = add("jobs", "jobs:cmd_jobs", "the job queue, or the named jobs")
    p.add_argument("ids", nargs="*", type=job_id, metavar="ID")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--last",
        type=count,
        metavar="N",
        help=f"the N newest jobs and every queued or running one (default {RECENT_JOBS})",
    )
    which.add_argument("--all", action="store_true", help="every job the daemon knows")


def _cancel(add: Adder) -> None:
    p = add("cancel", "jobs:cmd_cancel", "cancel jobs")
    p.add_argument("ids", nargs="+", type=job_id, metavar="ID")


def _snapshot(add: Adder) -> None:
    p = add("snapshot", "jobs:cmd_snapshot", "write the data of a running job so far")
    p.add_argument("id", type=job_id, metavar="ID")


def _wait(add: Adder) -> None:
    p = add("wait", "jobs:cmd_wait", "wait until jobs have ended (exit 0 if all completed)")
    p.add_argument("ids", nargs="+", type=job_id, metavar="ID")
    p.add_argument("--timeout", type=seconds, help="give up after this many seconds (exit 4)")


def _search(add: Adder) -> None:
    p = add("search", "jobs:cmd_search", "jobs whose name contains TEXT")
    p.add_argument("text", metavar="TEXT")


def _job(add: Adder) -> None:
    p = add("job", None, "more about one job: watch, plot, its log; pruning old jobs")
    jadd = add.verbs(p)
    q = jadd("log", "registry:cmd_job_log", "the job's log, with its drivers' lines")
    q.add_argument("id", type=job_id, metavar="ID")
    q.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    q = jadd("rebuild", "jobtools:cmd_rebuild", "write an ended job's results file again")
    q.add_argument("id", type=job_id, metavar="ID")
    q = jadd("crate", "jobtools:cmd_crate", "an RO-Crate (.zip) of a finished job's results")
    q.add_argument("id", type=job_id, metavar="ID")
    q = jadd("prune", "registry:cmd_job_prune", "delete old finished jobs (not results files)")
    q.add_argument("--older-than", type=float, metavar="DAYS",
                   help="default: jobs.retention_days of settings.toml")  # fmt: skip
    q = jadd("watch", "watch:cmd_watch", "a live view of a job until it has ended")
    q.add_argument("id", type=job_id, metavar="ID")
    q.add_argument(
        "--every", type=seconds, help="seconds between refreshes (default 1 on a terminal, else 5)"
    )
    q = jadd("plot", "plot:cmd_plot", "plot a job's data, so far or final, into a PNG file")
    q.add_argument(
        "id",
        type=job_or_file,
        metavar="ID|FILE",
        help="a job id, or a results file (sugo's or tomato's; no daemon needed)",
    )
    q.add_argument(
        "-o", "--output", type=path, metavar="FILE.png", help="where to write (default plot.ID.png)"
    )
    q.add_argument(
        "--size", type=pixels, metavar="WxH", help="image size in pixels (default: by panels)"
    )


def _events(add: Adder) -> None:
    p = add("events", "registry:cmd_events", "the event log (--follow to keep watching)")
    p.add_argument("--follow", "-f", action="store_true", help="wait for new events")
    p.add_argument("--after", type=int, default=0, metavar="ID", help="events after this id")
    p.add_argument("--last", type=int, metavar="N", help="start with the last N events")


def _maintenance(add: Adder) -> None:
    p = add("maintenance", None, "maintenance reminders of devices")
    madd = add.verbs(p)
    madd("status", "registry:cmd_maintenance_status", "every item: used, remaining, due")
    q = madd("done", "registry:cmd_maintenance_done", "reset an item after the work is done")
    q.add_argument("device", metavar="DEVICE")
    q.add_argument("label", metavar="LABEL")


def _demo(add: Adder) -> None:
    p = add("demo", "demo:cmd_demo", "run a short demo job on simulated devices, then clean up")
    p.add_argument(
        "--seconds", type=seconds, default=4.0, help="length of the demo job (default 4)"
    )


def _check(add: Adder) -> None:
    p = add("check", "check:cmd_check", "validate a payload; say which pipelines could run it")
    p.add_argument("payload", type=path, help="payload file (.toml, .yml, .yaml or .json)")


def _schema(add: Adder) -> None:
    p = add("schema", "check:cmd_schema", "print the JSON Schema of a file kind (for editors)")
    p.add_argument("kind", choices=("payload", "devices", "settings"))


def _driver(add: Adder) -> None:
    p = add("driver", None, "start a new driver package")
    dadd = add.verbs(p)
    q = dadd("new", "driverkit:cmd_driver_new", "write a ready-to-install driver package")
    q.add_argument("name", metavar="NAME", help="the driver's name: lowercase letters, digits, _")
    q.add_argument("--dir", type=path, help="folder to write it into (default ./sugo-driver-NAME)")


#: `sugo component VERB NAME`'s verbs (`NAME VERB` is read the same way).
COMPONENT_VERBS = (
    "status", "attrs", "capabilities", "reset", "measure", "constants", "last", "restart",
    "get", "set",
)  # fmt: skip


def _component(add: Adder) -> None:
    p = add(
        "component",
        None,
        "look at or act on one component: VERB NAME, e.g. status 'counter:(sim,1)'",
    )
    cadd = add.verbs(p)
    for verb, text in (
        ("status", "runtime status and status attrs"),
        ("attrs", "the component's attrs"),
        ("capabilities", "the techniques it can run"),
        ("reset", "stop its task and restore attr defaults"),
        ("measure", "one measurement now (tomato's cmp_measure), outside any task"),
        ("constants", "the driver's and the component's constants"),
        ("last", "the last point it took, also between tasks"),
    ):
        q = cadd(verb, "components:cmd_component", text)
        q.add_argument("name", metavar="NAME")
        if verb in ("reset", "measure"):
            q.add_argument("--force", action="store_true", help="even while a job uses it")
        if verb == "measure":
            q.add_argument("--technique", help="for drivers without a measurement of their own")
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


def _db(add: Adder) -> None:
    p = add("db", None, "the daemon's database")
    dadd = add.verbs(p)
    dadd(
        "rebuild",
        "db:cmd_db_rebuild",
        "restore the jobs table from the job folders (daemon stopped; a damaged"
        " database is moved aside first)",
    )


def _keys(add: Adder) -> None:
    p = add("keys", None, "CURVE keys: the daemon's, and those of clients and agents")
    kadd = add.verbs(p)
    q = kadd("new", "keys:cmd_keys_new", "make a key pair and allow its public key")
    q.add_argument("name", metavar="NAME")
    kadd("list", "keys:cmd_keys_list", "the keys in the app folder, and which are allowed")
    q = kadd("export", "keys:cmd_keys_export", "copy what NAME needs on another PC into DIR")
    q.add_argument("name", metavar="NAME")
    q.add_argument("dir", metavar="DIR", type=path, help="another app folder (its keys/)")


def _agent(add: Adder) -> None:
    p = add("agent", "agent:cmd_agent", "register this PC's instruments with a remote daemon")
    p.add_argument(
        "--daemon", required=True, metavar="tcp://HOST:PORT", help="its [network] listen"
    )
    p.add_argument("--name", required=True, help="the name to register under")
    p.add_argument(
        "--alive-timeout", type=seconds, default=10.0,
        help="seconds of silence after which the daemon counts this agent lost (default 10)",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="take the name even if in use")


def _web(add: Adder) -> None:
    p = add("web", "web:cmd_web", "the HTTP API and live dashboard, in the foreground")
    p.add_argument(
        "--listen", metavar="HOST:PORT",
        help="where to listen (default: settings [web] listen, else 127.0.0.1:9280);"
        " beyond loopback needs tokens",
    )  # fmt: skip
    # The daemon's own: end when the daemon that started it ends (its stdin closes).
    p.add_argument("--tied", action="store_true", help=argparse.SUPPRESS)
    wadd = Adder(p.add_subparsers(dest="verb", metavar="VERB"), add.common)
    t = wadd("token", None, "the tokens that let clients in beyond loopback")
    tadd = add.verbs(t)
    q = tadd("new", "web:cmd_token_new", "make a token (printed once) for NAME")
    q.add_argument("name", metavar="NAME")
    q.add_argument(
        "--role",
        choices=("viewer", "operator"),
        default="viewer",
        help="viewer: read and follow; operator: also submit, cancel, change",
    )
    tadd("list", "web:cmd_token_list", "the tokens' names and roles")
    q = tadd("remove", "web:cmd_token_remove", "remove the token of NAME")
    q.add_argument("name", metavar="NAME")


#: Every command and the function that adds it, in the order of `sugo --help`.
COMMANDS: dict[str, Callable[[Adder], None]] = {
    "init": _init,
    "start": _start,
    "stop": _stop,
    "status": _status,
    "reload": _reload,
    "pipeline": _pipeline,
    "submit": _submit,
    "jobs": _jobs,
    "cancel": _cancel,
    "snapshot": _snapshot,
    "wait": _wait,
    "search": _search,
    "job": _job,
    "events": _events,
    "maintenance": _maintenance,
    "demo": _demo,
    "check": _check,
    "schema": _schema,
    "driver": _driver,
    "component": _component,
    "db": _db,
    "keys": _keys,
    "agent": _agent,
    "web": _web,
}
