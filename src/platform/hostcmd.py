"""The command line of a driver host, built in one place: the daemon spawns
hosts with it (early in ``sugo.daemon.prestart``, and later in
``sugo.daemon.drivers.hosts``: the two must match, or the early host is not
adopted), and an agent runs its hosts with the same arguments through its
own wrapper module.

Light on purpose: imported before the driver hosts start.
"""

from pathlib import Path

HOST_MODULE = "sugo.driverinterface.host"


def host_args(driver: str, daemon: str, bind: str, logfile: Path) -> list[str]:
    """The arguments of the host of ``driver``: the daemon endpoint it says
    hello to, the address it binds, and its log file."""
    return ["--driver", driver, "--daemon", daemon, "--bind", bind, "--logfile", str(logfile)]
