"""Entry point of the daemon process: `python -m sugo.daemon --appdir D --port N`."""

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sugo.errors import SugoError
from sugo.logs import LOG_LEVEL_ENV, setup_logging

if TYPE_CHECKING:
    from sugo.platform import oslock

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

    # One daemon per appdir, decided before anything is spawned: a second one
    # must not start (and later adopt or kill) driver hosts of the first.
    from sugo.platform import oslock

    try:
        lock = oslock.acquire(oslock.lock_path(args.appdir), os.getpid(), args.port)
    except oslock.LockHeld as e:
        print(
            f"sugo daemon: a daemon already runs on {args.appdir} ({e.holder.describe()});"
            " stop it first, or talk to it on its port",
            file=sys.stderr,
        )
        return 1
    except OSError as e:
        print(f"sugo daemon: cannot lock {args.appdir}: {e}", file=sys.stderr)
        return 1

    # The driver hosts start while this process imports and validates; they
    # log at the daemon's level, which they inherit through the environment.
    from sugo.daemon import prestart
    from sugo.platform import procs

    args.verbosity = args.verbosity or prestart.quick_log_level(args.appdir) or "INFO"
    os.environ[LOG_LEVEL_ENV] = args.verbosity

    with lock:  # held until the daemon has shut down
        prestart.start_hosts(args.appdir, args.port)
        try:
            return _main(args, lock)
        finally:
            procs.discard_early()  # not adopted: bad files, or the daemon failed to start


def _main(args: argparse.Namespace, lock: "oslock.HeldLock") -> int:
    from sugo.daemon.core import Daemon, load_config
    from sugo.daemon.network import ListenFailed
    from sugo.daemon.startup import DatabaseInUse, DatabaseRefused
    from sugo.daemon.store import DamagedDatabase

    try:
        settings, devices = load_config(args.appdir)
    except SugoError as e:
        print(f"sugo daemon: {e}", file=sys.stderr)
        return 1
    from sugo import platform

    try:  # before anything is started, so every process agrees (see sugo.platform)
        mode = platform.export(os.environ.get(platform.MODE_ENV) or settings.daemon.process_mode)
    except ValueError as e:
        print(f"sugo daemon: {e}", file=sys.stderr)
        return 1
    from sugo.platform.logfiles import daemon_log

    setup_logging(daemon_log(settings.logdir, args.port), args.verbosity, "daemon")
    log.info("daemon: process mode %s", mode)
    try:
        daemon = Daemon(args.appdir, args.port, settings, devices, ready_fd=args.ready_fd)
    except (DamagedDatabase, DatabaseInUse, DatabaseRefused, ListenFailed) as e:  # one line
        log.error("daemon: %s", e)
        print(f"sugo daemon: {e}", file=sys.stderr)
        return 1
    except (SugoError, OSError) as e:
        log.error("daemon: cannot start: %s", e)
        print(f"sugo daemon: cannot start: {e}", file=sys.stderr)
        return 1
    # Listening: clients find it at this address, even once the file says another.
    lock.note(os.getpid(), args.port, settings.daemon.bind)
    # SIGTERM (kill PID, systemd, OS shutdown) ends the daemon alone, as a
    # SIGKILL would: running jobs and driver hosts go on, and the next start
    # re-attaches. Ctrl-C and `sugo stop` stop everything in order.
    from sugo.platform import procs

    procs.on_termination(daemon.detach, lambda _name: daemon.loop.stop())
    try:
        daemon.run()
    except DatabaseRefused as e:  # at its first write, before anything was started
        log.error("daemon: %s", e)
        print(f"sugo daemon: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
