"""The agent registry: instrument PCs that register over the network.

An agent registers under a proposed name (refused while another agent holds
it, unless ``overwrite``, or unless it is the same key coming back after it
was lost), gets an identity, and proves it is alive within the timeout it
declared. States, each change an event (`sugo events`, hooks):

    alive    registered, heard from within its timeout   (agent.registered, agent.alive)
    lost     silent for longer than its timeout          (agent.lost)
    removed  unregistered, or replaced with --overwrite   (agent.removed)

Everything runs on the daemon's loop thread. Others follow the registry with
``watch(fn)``: ``fn(agent)`` after every state change.
"""

import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from sugo.errors import SugoError
from sugo.protocol import agent_api as api
from sugo.protocol.server import Call

if TYPE_CHECKING:
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Runtime

log = logging.getLogger("sugo.daemon.agents")

KEEP_REMOVED = 50  # removed agents still listed by `sugo status agents`
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AgentState(StrEnum):
    ALIVE = "alive"
    LOST = "lost"
    REMOVED = "removed"


@dataclass
class Agent:
    name: str
    identity: str
    key: str | None  # CURVE public key (z85) it registered with; None: local socket
    address: str
    alive_timeout: float
    registered_at: float
    last_heartbeat: float  # unix time, for people
    last_seen: float  # monotonic, for the timeout
    state: AgentState = AgentState.ALIVE
    armed: bool = False  # a loss check is scheduled

    def info(self, devices: list[str]) -> api.AgentInfo:
        return api.AgentInfo(
            name=self.name, identity=self.identity, address=self.address, state=str(self.state),
            last_heartbeat=self.last_heartbeat, alive_timeout=self.alive_timeout,
            devices=devices, key=self.key, registered_at=self.registered_at,
        )  # fmt: skip


class AgentHosts(Protocol):
    """The driver hosts on agents' PCs as the registry asks about them
    (``sugo.daemon.drivers.remote.RemoteDrivers``)."""

    def known(self, agent: str) -> list[str]: ...

    def forget(self, agent: str) -> None: ...


class AgentRegistry:
    def __init__(self, rt: "Runtime", events: "Events") -> None:
        self.rt = rt
        self.events = events
        self.hosts: AgentHosts | None = None  # set once the driver manager is made
        self.agents: dict[str, Agent] = {}  # by name: alive or lost
        self.removed: deque[Agent] = deque(maxlen=KEEP_REMOVED)
        self._watchers: list[Callable[[Agent], None]] = []

    def handlers(self) -> dict[type, Callable[[Any, Call], Any]]:
        return {
            api.AgentRegister: self.on_register,
            api.AgentAlive: self.on_alive,
            api.AgentUnregister: self.on_unregister,
            api.Agents: self.on_agents,
        }

    def watch(self, fn: Callable[[Agent], None]) -> None:
        self._watchers.append(fn)

    def _hosts(self) -> AgentHosts:
        if self.hosts is None:
            raise RuntimeError("the agent registry has no driver hosts attached")
        return self.hosts

    def devices_of(self, name: str) -> list[str]:
        return [dev.name for dev in self.rt.devices.devices if dev.host == name]

    def alive(self, name: str) -> Agent | None:
        agent = self.agents.get(name)
        return agent if agent is not None and agent.state == AgentState.ALIVE else None

    # -- handlers ---------------------------------------------------------------------

    def on_register(self, req: api.AgentRegister, call: Call[api.Registered]) -> api.Registered:
        if call.peer is None:
            # Only a key proves who an agent is (its hosts' hellos are checked against it).
            raise SugoError("agents register on the daemon's [network] listen endpoint only")
        if not _NAME.match(req.name):
            raise SugoError(f"agent name {req.name!r}: use letters, digits, '.', '_' or '-'")
        old = self.agents.get(req.name)
        again = False
        if old is not None:
            # The same key after a loss (a cut link, a restarted agent) takes
            # its name back; anyone else needs --overwrite.
            again = old.key == call.peer
            if not req.overwrite and not (again and old.state == AgentState.LOST):
                raise SugoError(
                    f"agent name {req.name!r} is in use by {old.address or 'a local agent'} "
                    f"({old.state}); choose another name or use --overwrite"
                )
            if again:  # the same agent, back: its old entry just goes
                del self.agents[old.name]
            else:
                self._set(old, AgentState.REMOVED, "agent.removed", reason="replaced")
        now = time.time()
        agent = Agent(
            name=req.name,
            identity=uuid.uuid4().hex,
            key=call.peer,
            address=call.peer_address or req.address or "127.0.0.1",
            alive_timeout=req.alive_timeout,
            registered_at=now,
            last_heartbeat=now,
            last_seen=time.monotonic(),
        )
        self.agents[agent.name] = agent
        if req.fresh:  # a new agent process: hosts the daemon knew of it are gone
            self._hosts().forget(agent.name)
        self._arm(agent)
        devices = self.devices_of(agent.name)
        self.events.emit(
            "agent.registered", f"agent {agent.name}", identity=agent.identity,
            address=agent.address, alive_timeout=agent.alive_timeout, devices=devices,
            again=again,
        )  # fmt: skip
        log.info("agent %s: registered from %s (%s)", agent.name, agent.address, agent.identity)
        self._notify(agent)
        hosts = self.rt.devices.driver_hosts()
        known = self._hosts().known(agent.name)
        drivers = [
            api.HostedDriver(drv, self.rt.settings.driver_settings(drv), known=drv in known)
            for drv, host in hosts.items()
            if host == agent.name
        ]
        return api.Registered(agent.name, agent.identity, drivers)

    def on_alive(self, req: api.AgentAlive, call: Call[api.AgentStateReply]) -> api.AgentStateReply:
        agent = self._known(req.identity, call)
        now = time.monotonic()
        silent, agent.last_seen = now - agent.last_seen, now
        agent.last_heartbeat = time.time()
        agent.alive_timeout = req.alive_timeout
        if agent.state == AgentState.LOST:
            self._set(agent, AgentState.ALIVE, "agent.alive", silent_for=round(silent, 3))
        self._arm(agent)
        return api.AgentStateReply(state=str(agent.state))

    def on_unregister(
        self, req: api.AgentUnregister, call: Call[api.AgentStateReply]
    ) -> api.AgentStateReply:
        agent = self._known(req.identity, call)
        self._set(agent, AgentState.REMOVED, "agent.removed", reason="unregistered")
        return api.AgentStateReply(state=str(agent.state))

    def on_agents(self, req: api.Agents, call: Call[list[api.AgentInfo]]) -> list[api.AgentInfo]:
        rows = [*self.agents.values(), *reversed(self.removed)]
        return [a.info(self.devices_of(a.name)) for a in rows]

    # -- states -------------------------------------------------------------------------

    def _known(self, identity: str, call: Call) -> Agent:
        for agent in self.agents.values():
            if agent.identity == identity and agent.key == call.peer:
                return agent
        # The daemon restarted, or the agent was replaced: it must register again.
        raise SugoError(f"unknown agent identity {identity[:12]!r}; register again")

    def _arm(self, agent: Agent) -> None:
        if agent.armed:
            return
        agent.armed = True
        due = agent.last_seen + agent.alive_timeout - time.monotonic()
        self.rt.loop.call_later(max(0.0, due), lambda: self._check(agent))

    def _check(self, agent: Agent) -> None:
        agent.armed = False
        if agent.state != AgentState.ALIVE or self.agents.get(agent.name) is not agent:
            return
        silent = time.monotonic() - agent.last_seen
        if silent < agent.alive_timeout:
            self._arm(agent)
            return
        log.warning("agent %s: lost (silent for %.2f s)", agent.name, silent)
        self._set(agent, AgentState.LOST, "agent.lost", silent_for=round(silent, 3))

    def _set(
        self, agent: Agent, state: AgentState, kind: str, quiet: bool = False, **data: Any
    ) -> None:
        agent.state = state
        if state == AgentState.REMOVED:
            if self.agents.get(agent.name) is agent:
                del self.agents[agent.name]
            self.removed.append(agent)
        self.events.emit(kind, f"agent {agent.name}", identity=agent.identity, **data)
        self._notify(agent)

    def _notify(self, agent: Agent) -> None:
        for fn in self._watchers:
            try:
                fn(agent)
            except Exception:
                log.exception("agent %s: a watcher failed", agent.name)
