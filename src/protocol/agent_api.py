"""Requests between an agent (`sugo agent` on an instrument PC) and the
daemon's registry, and the typed data of their replies (docs/network.md).

An agent registers under a proposed name and gets an identity; it proves it
is alive within the timeout it declared; it unregisters on a clean stop.
"""

from typing import Annotated, Any

import msgspec

from sugo.protocol.wire import Request

#: Seconds an agent may stay silent before the daemon counts it lost.
AliveTimeout = Annotated[float, msgspec.Meta(gt=0.2, le=3600)]


class AgentRegister(Request, tag="agent_register"):
    name: str
    alive_timeout: AliveTimeout = 10.0
    overwrite: bool = False
    address: str = ""  # the agent's own IP address as it reaches the daemon
    fresh: bool = True  # the agent process's first registration: none of its hosts run yet
    version: str = ""


class AgentAlive(Request, tag="agent_alive"):
    identity: str
    alive_timeout: AliveTimeout = 10.0


class AgentUnregister(Request, tag="agent_unregister"):
    identity: str


class Agents(Request, tag="agents"):
    """`sugo status agents`."""


class HostedDriver(msgspec.Struct):
    """A driver whose host the agent runs: its name and `[drivers.NAME]` settings."""

    name: str
    settings: dict[str, object]
    known: bool = False  # the daemon reaches its running host: no restart needed


class Registered(msgspec.Struct):
    """The reply to ``agent_register``."""

    name: str
    identity: str
    drivers: list[HostedDriver]


class AgentStateReply(msgspec.Struct):
    """The reply to ``agent_alive`` and ``agent_unregister``: the agent's state now."""

    state: str  # alive | lost | removed


class AgentInfo(msgspec.Struct):
    """One row of `sugo status agents --json`."""

    name: str
    identity: str
    address: str
    state: str  # alive | lost | removed
    last_heartbeat: float | None  # unix time
    alive_timeout: float
    devices: list[str]
    key: str | None = None  # its CURVE public key (z85); None on the local socket
    registered_at: float | None = None


AGENT_REQUESTS: list[type[Request]] = [AgentRegister, AgentAlive, AgentUnregister, Agents]

#: The reply of every agent request: the type its ``Reply.data`` decodes into
#: (``agents`` answers with a list, one AgentInfo per agent).
AGENT_REPLIES: dict[type[Request], Any] = {
    AgentRegister: Registered,
    AgentAlive: AgentStateReply,
    AgentUnregister: AgentStateReply,
    Agents: list[AgentInfo],
}
