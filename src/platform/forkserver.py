"""A warm parent for child processes (the fast mode, Linux): starting one
costs a fork, not a cold interpreter and its imports.

    python -m sugo.platform.forkserver NAME MODULE [PRELOAD ...]

imports the PRELOAD modules and MODULE, then forks a child per request that
runs ``MODULE.main(argv)``; NAME is for ``ps``. The daemon runs two (see
`sugo.daemon.core`): one for job runners, which only move bytes (ZeroMQ,
msgspec: a runner forked from it stays small, and 64 of them are 64 small
processes), one for the processes that write results files (numpy, h5py,
h5netcdf), of which few run at once.

Protocol on stdin/stdout, one JSON object per line (no pickle):
  request  {"argv": [...runner arguments...], "logfile": "..."}
  answer   {"pid": N} or {"error": "..."}
The server is single-threaded and creates no ZeroMQ context, so forking is safe.
Children start a new session: they outlive the server and the daemon.

Children start with the signals the daemon sends them (`sugo.platform.control`)
held: one sent before a child's handlers are in place would kill it (a job
cancelled in its first milliseconds would end in error). The child's main
calls `release_held_signals` once its handlers are installed; a held signal
is delivered then.
"""

import faulthandler
import gc
import importlib
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable

# SIGTERM, SIGUSR1, SIGUSR2: the control signals (`sugo.platform.control`).
HELD = frozenset(
    getattr(signal, name) for name in ("SIGTERM", "SIGUSR1", "SIGUSR2") if hasattr(signal, name)
)


def release_held_signals() -> None:
    """In a child: receive the signals held since its fork (at once, those
    that came meanwhile). Does nothing in a process not forked by a server."""
    if HELD and hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)


def _child(main: Callable[[list[str]], int], argv: list[str], logfile: str | None) -> None:
    os.setsid()
    fd = os.open(logfile or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # A crash (SIGSEGV, SIGABRT, ...) leaves its Python traceback in the log.
    faulthandler.enable()
    code = 1
    try:
        code = main(argv)
    except BaseException:
        # os._exit below skips the interpreter's report: make it here.
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reap(*_: object) -> None:
    """Reap every child that ended (SIGCHLD handler). Reaping them ourselves,
    rather than letting the kernel discard them, leaves no zombies and adds
    their CPU time to our children's times, so a whole run can be accounted."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if os.WIFSIGNALED(status):
            # A killed child could not say so itself (os.write: safe in a handler).
            sig = signal.Signals(os.WTERMSIG(status)).name
            os.write(2, f"sugo.platform.forkserver: child {pid} was killed by {sig}\n".encode())


def serve(module: str, preload: list[str]) -> int:
    for name in preload:
        importlib.import_module(name)
    main = importlib.import_module(module).main
    # The preloaded objects go to a generation the collector never scans, so
    # the children's collections do not touch (and copy) the shared pages.
    gc.freeze()
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = sys.stdout
    print(json.dumps({"ready": True, "pid": os.getpid()}), file=out, flush=True)
    for line in sys.stdin:
        try:
            request = json.loads(line)
            argv = [str(a) for a in request["argv"]]
            logfile = request.get("logfile")
        except (ValueError, KeyError, TypeError) as e:
            print(json.dumps({"error": f"bad request: {e}"}), file=out, flush=True)
            continue
        held = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
        pid = os.fork()
        if pid == 0:
            _child(main, argv, logfile)  # held until its main releases them
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        print(json.dumps({"pid": pid}), file=out, flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python -m sugo.platform.forkserver NAME MODULE [PRELOAD ...]")
    sys.exit(serve(sys.argv[2], sys.argv[3:]))
