"""Driver hosts: one process per driver, spawned by the daemon (or run by an
agent on an instrument PC, ``remote``), in four parts that share the
``HostTable``:

- ``hosts.HostProcesses``: spawn or re-attach (``records``), hello, restart
  when lost, give up, stop;
- ``registration.Registrar``: register a host's components;
- ``watch.HostWatch`` and ``ComponentHealth``: liveness pings and the
  components' health;
- ``remote.RemoteDrivers``: hosts on agents' PCs.

Beside them: ``procs`` (``DriverProc``, the ``HostTable``, crash loops),
``clients`` (the daemon's connections to hosts) and ``components`` (`sugo
component` verbs forwarded to a host).

The loop thread owns every ``DriverProc``. Each driver has a watcher thread
that checks the PID and pings the host; it reports a dead or hung host to the
loop with ``post``, and the loop replaces the host. Registration runs in the
worker pool and posts its outcome back, so the loop never waits on a driver.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sugo.daemon.agents import AgentRegistry
from sugo.daemon.drivers.clients import HostClients
from sugo.daemon.drivers.hosts import HostProcesses
from sugo.daemon.drivers.procs import (  # noqa: F401 (re-exported: tests import them here)
    CRASH_LIMIT,
    CRASH_WINDOW,
    HEALTHY_AFTER,
    CrashLoop,
    DriverProc,
    HostTable,
)
from sugo.daemon.drivers.registration import Registrar
from sugo.daemon.drivers.watch import ComponentHealth
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.server import Call

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Runtime
    from sugo.protocol.client import Client


class DriverManager:
    def __init__(
        self,
        rt: "Runtime",
        events: "Events",
        agents: AgentRegistry,
        in_use: Callable[[str], bool],
    ) -> None:
        self.rt = rt
        self.table = HostTable(rt)
        self.health = ComponentHealth(rt, events)
        self.registrar = Registrar(rt, events, self.table, self.health, in_use)
        self.hosts = HostProcesses(rt, events, self.table, self.health, self.registrar, agents)
        self.remote = self.hosts.remote  # hosts on agents' PCs
        self.start = self.hosts.start
        self.stop = self.hosts.stop
        self.detach = self.hosts.detach
        self.reregister = self.registrar.reregister
        self.clients = HostClients()

    @property
    def procs(self) -> dict[str, DriverProc]:
        return self.table.procs

    def handlers(self) -> dict[type, Callable[[Any, Call], Any]]:
        return {
            api.HostHello: self.hosts.on_hello,
            api.HostFailed: self.hosts.on_host_failed,
            api.ComponentRestart: self.registrar.on_component_restart,
        }

    def start_all(self) -> None:
        for name in self.rt.devices.drivers():
            self.start(name)

    # -- what others ask (sugo.daemon.runtime.Hosts) ------------------------------------

    def client_for(self, driver: str, timeout: float = 5.0) -> "AbstractContextManager[Client]":
        """``with client_for(driver) as client:`` a connection to its host,
        kept for the thread's next request (`sugo.daemon.drivers.clients`)."""
        dp = self.table.procs.get(driver)
        if dp is None or dp.endpoint is None:
            raise SugoError(f"driver {driver} is not running")
        return self.clients.lease(driver, dp.endpoint, timeout)

    def endpoint_of(self, driver: str) -> str | None:
        dp = self.table.procs.get(driver)
        return dp.endpoint if dp else None
