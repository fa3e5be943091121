"""Entry point of the daemon process: `python -m sugo.daemon --appdir D --port N`."""

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from sugo.errors import SugoError
from sugo.logs import LOG_LEVEL_ENV, setup_logging

log = logging.getLogger("sugo.daemon")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sugo-daemon")
    parser.add_argument("--appdir", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument(
        "--verbosity", type=str.upper, help="log level (default: [logging] level, else INFO)"
    )
    parser.add_argument(
        "--ready-fd", type=int, help="pipe to write a line to once every driver host is up"
    )
    args = parser.parse_args(argv)
    if args.ready_fd is not None:
        os.set_inheritable(args.ready_fd, False)  # ours alone: EOF when we exit

    # The driver hosts start while this process imports and validates; they
    # log at the daemon's level, which they inherit through the environment.
    from sugo.daemon import prestart, processes

    args.verbosity = args.verbosity or prestart.quick_log_level(args.appdir) or "INFO"
    os.environ[LOG_LEVEL_ENV] = args.verbosity

    prestart.start_hosts(args.appdir, args.port)
    try:
        return _main(args)
    finally:
        processes.discard_early()  # not adopted: bad files, or the daemon failed to start


def _main(args: argparse.Namespace) -> int:
    from sugo.daemon.core import Daemon, load_config

    try:
        settings, devices = load_config(args.appdir)
    except SugoError as e:
        print(f"sugo daemon: {e}", file=sys.stderr)
        return 1
    setup_logging(settings.logdir / f"daemon-{args.port}.log", args.verbosity, "daemon")
    try:
        daemon = Daemon(args.appdir, args.port, settings, devices, ready_fd=args.ready_fd)
    except (SugoError, OSError) as e:
        log.error("daemon: cannot start: %s", e)
        print(f"sugo daemon: cannot start: {e}", file=sys.stderr)
        return 1
    # SIGTERM is a stop request: finish the loop and shut down in order.
    signal.signal(signal.SIGTERM, lambda *_: daemon.loop.stop())
    signal.signal(signal.SIGINT, lambda *_: daemon.loop.stop())
    daemon.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
