"""Every OS-specific process mechanism of sugo, behind one small package.

sugo runs on Linux instrument PCs and on Windows (and macOS) ones. The
mechanisms differ; what the rest of sugo asks for does not:

- start a Python module as a detached child (it outlives its parent):
  `procs.spawn_python`, warm through a fork server (`launcher.Launcher`);
- notice that watched processes ended: `exits.ExitWatch`, `procs.Tracked.wait`;
- stop one, with escalation: `procs.Tracked.stop` / `terminate` / `kill`;
- send a control request to a job runner (cancel, snapshot, poll now):
  `control`.

Two modes, chosen once per process (`mode()`):

``fast`` (Linux): fork from a warm server, pidfds to sleep until a process
ends, POSIX signals (SIGTERM, SIGUSR1, SIGUSR2) for control requests.

``portable`` (any OS): a fresh interpreter per process (``subprocess``), a
poll of each process's liveness, control requests as messages over the
daemon's socket (the runner holds a long-poll request open, see
`sugo.daemon.jobs.runctl`).

The fast mode is used where it is available; ``SUGO_PROCESS_MODE=portable``
(or the ``process_mode`` setting, which the daemon exports to this variable)
forces the portable one, so CI runs the path a Windows user takes on Linux.
Light on purpose: imported before the driver hosts start (no psutil here).
"""

import os
import sys

MODE_ENV = "SUGO_PROCESS_MODE"
MODES = ("auto", "fast", "portable")
WINDOWS = sys.platform == "win32"


def fast_available() -> bool:
    """Fork, pidfds and the user signals: Linux only (macOS has no pidfds)."""
    return sys.platform.startswith("linux") and hasattr(os, "pidfd_open")


def resolve(requested: str | None) -> str:
    """``fast`` or ``portable`` for a requested mode (auto: fast where available).
    ValueError with a one-line reason for anything else."""
    value = (requested or "auto").strip().lower()
    if value not in MODES:
        raise ValueError(f"process mode {requested!r}: expected one of {', '.join(MODES)}")
    if value == "fast" and not fast_available():
        raise ValueError(f"process mode 'fast' is not available on {sys.platform}; use portable")
    if value == "auto":
        return "fast" if fast_available() else "portable"
    return value


def mode() -> str:
    """This process's mode: from ``SUGO_PROCESS_MODE`` (inherited from the
    daemon by every process it starts), else the best available."""
    return resolve(os.environ.get(MODE_ENV))


def fast() -> bool:
    return mode() == "fast"


def export(requested: str | None) -> str:
    """Resolve ``requested`` and put it in the environment, so every process
    started from here on (driver hosts, runners, fork servers) agrees."""
    chosen = resolve(requested)
    os.environ[MODE_ENV] = chosen
    return chosen
