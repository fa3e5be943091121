"""Entry point of the `sugo` command: parse, run one command, map errors to
exit codes (0 ok, 1 refused/failed, 2 usage, 3 daemon not reachable, 4 wait
timed out).

Only the module of the command being run is imported, so that queue and status
commands stay fast (no numpy, xarray, pydantic or pint).
"""

import importlib
import sys
from collections.abc import Sequence

from sugo.cli.context import FAILED, INTERRUPTED, OK, UNREACHABLE, USAGE, Context
from sugo.cli.output import CliError, Output
from sugo.cli.parser import COMMON_DEFAULTS, build_parser, parse_args
from sugo.errors import RequestTimeout, SugoError


def main(argv: Sequence[str] | None = None) -> int:
    """Run `sugo` with ``argv`` (default: the process's arguments); returns the
    exit code instead of exiting, so tests and scripts can call it."""
    try:
        args = parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        return e.code if isinstance(e.code, int) else USAGE
    for key, value in COMMON_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    handler = getattr(args, "handler", None)
    if handler is None:
        build_parser().print_usage(sys.stderr)
        print("sugo: error: a command is required (see 'sugo --help')", file=sys.stderr)
        return USAGE
    _setup_logging(args.verbose, args.quiet, getattr(args, "verbosity", None))
    ctx = Context(args, Output(json_mode=args.json, quiet=args.quiet > 0))
    try:
        return _run(ctx, handler)
    except BrokenPipeError:
        if not _stdout_gone():
            raise
        return _reader_gone()
    finally:
        ctx.close()


def _run(ctx: Context, handler: str) -> int:
    module, func = handler.split(":")
    try:
        command = getattr(importlib.import_module(f"sugo.cli.{module}"), func)
        return int(command(ctx))
    except CliError as e:
        ctx.out.error(e.message, **e.extra)
        return e.code
    except RequestTimeout as e:
        return _not_answering(ctx, e)
    except SugoError as e:  # refused by the daemon, bad file, bad reply...
        ctx.out.error(str(e))
        return FAILED
    except OSError as e:
        if isinstance(e, BrokenPipeError) and _stdout_gone():
            return _reader_gone()
        ctx.out.error(str(e))
        return FAILED
    except KeyboardInterrupt:
        ctx.out.error("interrupted")
        return INTERRUPTED


def _stdout_gone() -> bool:
    """Whether stdout's reader has hung up (``sugo jobs | head``), as opposed
    to a broken pipe or socket elsewhere, which is a real error."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        return False
    import select

    if not hasattr(select, "poll"):  # Windows: the pipe error is stdout's, most likely
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    # The write end of a pipe whose reader has gone reports an error.
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _reader_gone() -> int:
    """End quietly when the reader of our output has gone: what it read is
    all it wanted. Only stdout is affected: SIGPIPE stays ignored, so a
    long-running command whose peer (a socket) hangs up is not killed by it."""
    import os

    # Python flushes stdout again at exit; point it at nothing so that flush
    # does not print "Exception ignored ... BrokenPipeError".
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
    return OK


def _not_answering(ctx: Context, e: RequestTimeout) -> int:
    from sugo.client import DaemonUnreachable

    where = ctx.where
    hint = "start it with 'sugo start'"
    if ctx.args.connect:
        # A CURVE listener says nothing to a key it does not allow: silence
        # may mean a refused key as well as a daemon that is down.
        hint = f"is this app folder's key allowed there? ('sugo keys list' in {ctx.appdir})"
    if isinstance(e, DaemonUnreachable):
        ctx.out.error(f"no daemon {where} (connection refused); {hint}")
        return UNREACHABLE
    if not ctx.args.connect:
        # Something listens but says nothing: the local socket is CURVE too,
        # and another app folder's daemon does not answer this one's key.
        hint = f"is it the daemon of {ctx.appdir}? (it answers only its own keys)"
    # A slow answer to one request is not a dead daemon: ask it directly.
    try:
        ctx.client(timeout=1.0).ping()
    except SugoError:
        ctx.out.error(f"no daemon answers {where} ({e}); {hint}")
        return UNREACHABLE
    ctx.out.error(str(e))
    return FAILED


def _setup_logging(verbose: int, quiet: int, verbosity: str | None = None) -> None:
    if not verbose and not quiet and not verbosity:
        return  # Python's default: warnings and errors on stderr
    import logging  # only here: ~3 ms that `sugo status` need not pay

    level = logging.WARNING - 10 * verbose + 10 * quiet
    if verbosity:
        level = logging.getLevelNamesMapping()[verbosity]
    logging.basicConfig(
        stream=sys.stderr,
        level=max(logging.DEBUG, min(level, logging.CRITICAL)),
        format="sugo: %(levelname)s %(name)s: %(message)s",
    )


if __name__ == "__main__":
    sys.exit(main())
