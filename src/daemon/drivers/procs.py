"""The driver hosts as the loop sees them: one ``DriverProc`` per driver, in
the ``HostTable`` that every part of the driver manager shares, and the
crash-loop guard."""

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sugo.driverinterface.health import StatusCode
from sugo.platform.procs import Tracked
from sugo.protocol.endpoints import endpoint
from sugo.protocol.keys import curve_endpoint
from sugo.protocol.states import DriverState

if TYPE_CHECKING:
    from sugo.config.devices import ComponentSpec
    from sugo.daemon.runtime import Runtime

CRASH_WINDOW = 60.0  # a host that dies CRASH_LIMIT times in this many seconds stays down
CRASH_LIMIT = 5
HEALTHY_AFTER = 60.0  # a host ready this long before it is lost was working: not a crash loop


@dataclass
class CrashLoop:
    """The crash-loop guard: a driver whose host is lost `limit` times within
    `window` seconds is given up, unless the host had been ready for
    `healthy_after` seconds. Such a host was working; its loss starts the
    count afresh, so a driver is never given up for faults days apart.
    """

    limit: int = CRASH_LIMIT
    window: float = CRASH_WINDOW
    healthy_after: float = HEALTHY_AFTER
    losses: deque[float] = field(default_factory=deque)  # times of the counted losses

    def lost(self, now: float, ready_since: float | None) -> bool:
        """Note a host lost at `now` (ready since `ready_since`, None if it
        never was); True if the driver is in a crash loop."""
        if ready_since is not None and now - ready_since >= self.healthy_after:
            self.losses.clear()
            return False
        self.losses.append(now)
        while now - self.losses[0] >= self.window:
            self.losses.popleft()
        return len(self.losses) >= self.limit

    def clear(self) -> None:
        self.losses.clear()


@dataclass
class DriverProc:
    """One driver host as the loop sees it. ``generation`` grows on every
    restart, so a late report about an old process is ignored."""

    name: str
    proc: Tracked | None = None
    port: int | None = None
    state: DriverState = DriverState.STARTING
    generation: int = 0
    error: str | None = None
    restarts: int = 0
    failed: bool = False  # cannot start (bad settings, crash loop): no more restarts
    ready_since: float | None = None  # monotonic time the current host became ready
    crashes: CrashLoop = field(default_factory=CrashLoop)
    stop_watch: threading.Event = field(default_factory=threading.Event)
    health_busy: threading.Event = field(default_factory=threading.Event)
    agent: str | None = None  # the agent whose PC runs the host (sugo.daemon.drivers.remote)
    addr: str | None = None  # ...its address
    local_addr: str = "127.0.0.1"  # where a host of this PC listens (`Runtime.local_host`)
    server_key: bytes | None = None  # ...its CURVE public key (z85)
    source: str = ""  # what the host says it runs (tomato package or sugo driver)

    @property
    def code(self) -> int:
        if self.failed:
            return int(StatusCode.DRIVER_NOT_STARTED)
        if self.state == DriverState.READY:
            return int(StatusCode.CONNECTED)
        if self.state == DriverState.RESTARTING:
            return int(StatusCode.HOST_RESTARTING)
        return int(StatusCode.UNKNOWN)

    @property
    def endpoint(self) -> str | None:
        if not self.port:
            return None
        if self.agent is not None and self.addr and self.server_key:
            return curve_endpoint(endpoint(self.addr, self.port), self.server_key)
        return endpoint(self.local_addr, self.port)


class HostTable:
    """Every driver's ``DriverProc`` (loop thread), and whether the daemon
    is letting its hosts go (late reports are then ignored)."""

    def __init__(self, rt: "Runtime") -> None:
        self.rt = rt
        self.procs: dict[str, DriverProc] = {}
        self.stopping = False

    def components_of(self, driver: str) -> list["ComponentSpec"]:
        return [c for c in self.rt.devices.components() if c.driver == driver]

    def set_state(self, dp: DriverProc, state: DriverState) -> None:
        dp.state = state
        store = self.rt.store
        row = store.get_driver(dp.name)
        if row is not None and row.state != state:
            store.set_driver_state(dp.name, state)
