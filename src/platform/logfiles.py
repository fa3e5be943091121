"""The log files of the daemon's family of processes, named in one place
(the daemon writes them, `sugo job log` and `sugo status` point at them, an
agent writes its hosts' own). Each carries the daemon's port, so daemons of
several app folders can share a log folder; an agent's hosts carry "agent".

Light on purpose: imported before the driver hosts start (``sugo.daemon.prestart``).
"""

from pathlib import Path

AGENT = "agent"  # in place of the port: a host an agent runs


def driver_log(logdir: Path, driver: str, port: int | str) -> Path:
    """The log of a driver's host (``port``: the daemon's, or ``AGENT``)."""
    return logdir / f"driver-{driver}-{port}.log"


def daemon_log(logdir: Path, port: int) -> Path:
    return logdir / f"daemon-{port}.log"


def daemon_output(logdir: Path, port: int) -> Path:
    """What the daemon process prints (before its log is set up, and crashes)."""
    return logdir / f"daemon-{port}.out"


def web_log(logdir: Path, port: int) -> Path:
    """The log of the web server the daemon supervises."""
    return logdir / f"web-{port}.log"


def forkserver_log(logdir: Path, port: int) -> Path:
    """The log of the fork server that starts job runners."""
    return logdir / f"forkserver-{port}.log"


def writer_log(logdir: Path, port: int) -> Path:
    """The log of the fork server that writes results files."""
    return logdir / f"writer-{port}.log"
