"""The job process's entry point (`sugo.jobs.RUNNER_MODULE`): the daemon
starts it, forked from a warm parent or as a fresh interpreter
(`sugo.platform.launcher`), as

    run JOBID --daemon ENDPOINT        one running job (`sugo.jobs.run`)
    write JOBID --daemon ENDPOINT --path FILE [--status S] [--error E]
                                       a running job's results or snapshot file,
                                       for the daemon's writer (`sugo.jobs.results`)
    finalize JOBID --daemon ENDPOINT [--report FILE]
                                       an ended job's results file (`sugo.jobs.results`)

Each mode first asks the daemon for the job's spec. The run mode takes the
daemon's control requests before that (`sugo.jobs.controls`): a cancel may
come at any moment of its start. (A fork server holds them from the fork
until the handlers are in place: `sugo.platform.forkserver`.)
"""

import argparse
import logging
import sys
import time
from pathlib import Path

from sugo.errors import RequestTimeout, SugoError
from sugo.jobs.controls import Controls
from sugo.jobs.folder import write_json
from sugo.jobs.progress import DAEMON_TIMEOUT
from sugo.jobs.results import finalize, write
from sugo.jobs.run import DONE_DEADLINE, JobRunner
from sugo.platform.forkserver import release_held_signals
from sugo.protocol import daemon_api as api
from sugo.protocol.client import Client

log = logging.getLogger("sugo.job")


def fetch_spec(client: Client, jobid: int, patient: bool) -> api.JobSpec:
    """The job's spec from the daemon. ``patient``: keep asking for
    DONE_DEADLINE seconds (a finalize may start just before a daemon restart)."""
    deadline = time.monotonic() + (DONE_DEADLINE if patient else 0.0)
    while True:
        try:
            spec: api.JobSpec = client.call(api.JobSpecRequest(jobid=jobid), api.JobSpec, retries=2)
            return spec
        except RequestTimeout:
            if time.monotonic() > deadline:
                raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sugo-job-runner")
    parser.add_argument("mode", choices=["run", "write", "finalize"])
    parser.add_argument("jobid", type=int)
    parser.add_argument("--daemon", required=True)
    parser.add_argument("--report", type=Path, help="finalize: write the outcome here as JSON")
    parser.add_argument("--path", type=Path, help="write: the file to write")
    parser.add_argument("--status", default="r", help="write: the job status to record")
    parser.add_argument("--error", help="write: the job error to record")
    return parser


# Built once, at import: in the fork server, so that a forked runner does not
# pay for it (argparse's help formatters and gettext look-ups: ~7 ms of CPU
# per runner, half a second of a 64-job burst).
PARSER = _parser()


def main(argv: list[str] | None = None) -> int:
    parser = PARSER
    args = parser.parse_args(argv)
    controls = None
    if args.mode == "run":
        # First of all: a cancel (a signal, in the fast mode) may come already.
        controls = Controls(args.jobid, args.daemon)
        controls.listen()
    from sugo.logs import setup_logging

    setup_logging(None, "INFO", f"job {args.jobid}")
    # What came before the handlers were in place is delivered now: in the run
    # mode to them, in the others as it would have been (SIGTERM ends them).
    release_held_signals()
    # The run mode's progress reporter takes this connection over: each
    # connection to the daemon is a CURVE handshake (~1 ms of CPU on both sides).
    client = Client(args.daemon, timeout=DAEMON_TIMEOUT)
    try:
        spec = fetch_spec(client, args.jobid, patient=args.mode == "finalize")
    except SugoError as e:
        client.close()
        log.error("job %d: cannot get the job from the daemon: %s", args.jobid, e)
        if args.report is not None:
            write_json(args.report, {"ok": False, "respath": None, "error": str(e)})
        return 1
    logging.getLogger().setLevel(spec.verbosity)
    if args.mode != "run":
        client.close()
    if args.mode == "finalize":
        return finalize(spec, args.report)
    if args.mode == "write":
        if args.path is None:
            parser.error("write needs --path")
        return write(spec, args.daemon, args.path, args.status, args.error)
    assert controls is not None
    return JobRunner(spec, args.daemon, controls, client).run()


if __name__ == "__main__":
    sys.exit(main())
