"""Driver hosts on agents' PCs (a device's ``host = "NAME"``, docs/network.md).

The agent spawns and supervises them; each says hello to the daemon over the
network listener with the agent's key. The daemon reaches them at the agent's
address with CURVE (their endpoint carries the agent's public key, see
``sugo.protocol.keys.curve_endpoint``), and so do job runners. The registry
drives their state: an agent lost or removed turns its components 4xx and
publishes ``host.lost`` for each of its drivers (the runners of jobs on them
wake, and those jobs end ``ce`` with what was staged); the agent back (same
key) registers its components again.
"""

import logging
from typing import TYPE_CHECKING

from sugo import __version__
from sugo.daemon.agents import Agent, AgentRegistry, AgentState
from sugo.daemon.bus import HOST_LOST
from sugo.daemon.drivers.procs import DriverProc, HostTable
from sugo.daemon.drivers.watch import ComponentHealth, HostWatch
from sugo.driverinterface.health import StatusCode
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.server import Call
from sugo.protocol.states import ComponentState, DriverState

if TYPE_CHECKING:
    from sugo.daemon.drivers.registration import Registrar
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Runtime

log = logging.getLogger("sugo.daemon.drivers.remote")

HEALTH_EVERY = 2.0  # as the local hosts' watcher


class RemoteDrivers:
    def __init__(
        self,
        rt: "Runtime",
        table: HostTable,
        agents: AgentRegistry,
        registrar: "Registrar",
        health: ComponentHealth,
        watch: HostWatch,
        events: "Events",
    ) -> None:
        self.rt = rt
        self.table = table
        self.agents = agents
        self.registrar = registrar
        self.health = health
        self.watch = watch
        self.bus = events.bus
        agents.watch(self._on_agent)
        self._ticking = False

    def agent_of(self, driver: str) -> str | None:
        return self.rt.devices.driver_hosts().get(driver)

    def known(self, agent: str) -> list[str]:
        """Drivers of ``agent`` the daemon can reach now (no new hello needed)."""
        return [
            dp.name for dp in self.table.procs.values() if dp.agent == agent and dp.port is not None
        ]

    def forget(self, agent: str) -> None:
        """The hosts of ``agent`` are gone (a new agent process): wait for hellos."""
        for dp in self.table.procs.values():
            if dp.agent == agent:
                dp.port = None

    def start(self, dp: DriverProc) -> bool:
        """Take ``dp`` if its devices are on an agent: wait for its hello."""
        agent = self.agent_of(dp.name)
        dp.agent = agent
        if agent is None:  # (a reload may have brought it home)
            dp.addr = dp.server_key = None
            return False
        self.rt.store.upsert_driver(
            dp.name, state=DriverState.STARTING, version=__version__,
            settings=self.rt.settings.driver_settings(dp.name),
        )  # fmt: skip
        if self.agents.alive(agent) is None:
            dp.port = None
            self._down(dp, f"agent {agent} not registered")
        else:  # a reload while the agent runs: it starts the host at its next registration
            self._down(dp, f"waiting for agent {agent} to start the host")
        self._tick()
        return True

    def hello(
        self, dp: DriverProc, req: api.HostHello, call: Call[api.HostHelloReply]
    ) -> api.HostHelloReply:
        agent = self.agents.alive(dp.agent or "")
        if agent is None or agent.key != call.peer:
            raise SugoError(f"driver {dp.name}: a host is only accepted from agent {dp.agent}")
        dp.generation += 1
        dp.port, dp.addr, dp.server_key = req.port, agent.address, (agent.key or "").encode()
        dp.error = None
        self.rt.store.upsert_driver(
            dp.name, state=DriverState.STARTING, pid=None, port=req.port, version=__version__,
            settings=self.rt.settings.driver_settings(dp.name),
        )  # fmt: skip
        log.info("driver %s: host up on agent %s (%s:%d)", dp.name, agent.name, dp.addr, req.port)
        self.rt.loop.call_later(0, lambda: self.registrar.register(dp))
        return api.HostHelloReply(settings=self.rt.settings.driver_settings(dp.name))

    def _on_agent(self, agent: Agent) -> None:
        for dp in list(self.table.procs.values()):
            if dp.agent != agent.name:
                continue
            if agent.state == AgentState.ALIVE and self.agents.alive(agent.name) is agent:
                if dp.port is not None and dp.server_key == (agent.key or "").encode():
                    # Back after a cut: the host kept running; register its components again.
                    dp.addr = agent.address
                    dp.generation += 1
                    self.registrar.register(dp)
                continue
            reason = f"agent {agent.name} {agent.state}"
            if agent.state == AgentState.REMOVED:
                dp.port = None  # its hosts stop with it
            self._down(dp, reason)
            self.bus.publish(HOST_LOST, f"driver {dp.name}", driver=dp.name)

    def _down(self, dp: DriverProc, reason: str) -> None:
        """The driver's components 4xx: no new job starts on them."""
        dp.generation += 1  # late registration or health reports are ignored
        dp.error = reason
        dp.ready_since = None
        self.table.set_state(dp, DriverState.STARTING)
        for spec in self.table.components_of(dp.name):
            row = self.rt.store.get_component(spec.name)
            if row is None:
                self.rt.store.upsert_component(
                    spec.name, driver=spec.driver, device=spec.device, address=spec.address,
                    channel=spec.channel, pollrate=spec.pollrate, capabilities=(),
                    state=ComponentState.REGISTERING,
                )  # fmt: skip
            elif row.state != ComponentState.REGISTERING:
                self.rt.store.set_component_state(spec.name, ComponentState.REGISTERING)
            self.health.set_code(spec.name, StatusCode.AGENT_LOST, reason)

    def _tick(self) -> None:
        """Every HEALTH_EVERY s: the health of the components of reachable
        remote hosts (their liveness is the agent's heartbeat)."""
        if self._ticking:
            return
        self._ticking = True

        def tick() -> None:
            if self.table.stopping:
                return
            for dp in list(self.table.procs.values()):
                ep = dp.endpoint
                if (
                    dp.agent is None or ep is None or dp.state != DriverState.READY
                    or dp.health_busy.is_set()
                ):  # fmt: skip
                    continue
                dp.health_busy.set()
                self.watch.check_in_thread(dp, dp.generation, ep)
            self.rt.loop.call_later(HEALTH_EVERY, tick)

        self.rt.loop.call_later(HEALTH_EVERY, tick)
