"""Driver hosts: spawn or re-attach, register components, watch, restart, stop.

The loop thread owns every ``DriverProc``. Each driver has a watcher thread that
checks the PID and pings the host; it reports a dead or hung host to the loop
with ``post``, and the loop replaces the host. Registration runs in the worker
pool and posts its outcome back, so the loop never waits on a driver.
"""

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sugo import __version__
from sugo.daemon.processes import Tracked, spawn_python
from sugo.daemon.states import ComponentState, DriverState
from sugo.errors import RequestFailed, RequestTimeout, SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.client import Client, endpoint
from sugo.protocol.server import Call

if TYPE_CHECKING:
    from sugo.config.devices import ComponentSpec
    from sugo.daemon.core import Daemon

log = logging.getLogger("sugo.daemon.drivers")

PING_EVERY = 0.4  # seconds between liveness pings
PING_TIMEOUT = 0.5
MISSES_ALLOWED = 2  # a host missing this many pings in a row is hung (~1.3 s)
REGISTER_TIMEOUT = 10.0


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
    stop_watch: threading.Event = field(default_factory=threading.Event)

    @property
    def endpoint(self) -> str | None:
        return endpoint("127.0.0.1", self.port) if self.port else None


class DriverManager:
    def __init__(self, daemon: "Daemon") -> None:
        self.d = daemon
        self.procs: dict[str, DriverProc] = {}
        self._stopping = False

    def handlers(self) -> dict[type, Callable[[Any, Call], Any]]:
        return {api.HostHello: self.on_hello}

    # -- start ---------------------------------------------------------------------

    def start_all(self) -> None:
        for name in self.d.devices.drivers():
            self.start(name)

    def start(self, name: str) -> None:
        """Re-attach to a host that outlived the previous daemon, or spawn one."""
        dp = self.procs.get(name) or DriverProc(name)
        self.procs[name] = dp
        row = self.d.store.get_driver(name)
        if row and row.pid and row.port and row.create_time:
            tracked = Tracked.attach(row.pid, row.create_time)
            if tracked and self._ping(endpoint("127.0.0.1", row.port)):
                dp.proc, dp.port = tracked, row.port
                log.info("driver %s: re-attached to running host (pid %d)", name, row.pid)
                self._set_state(dp, DriverState.STARTING)
                self._register(dp)
                self._watch(dp)
                return
        self._spawn(dp)

    def _spawn(self, dp: DriverProc) -> None:
        dp.generation += 1
        dp.port = None
        dp.error = None
        logfile = self.d.settings.logdir / f"driver-{dp.name}-{self.d.port}.log"
        args = [
            "--driver", dp.name,
            "--daemon", endpoint("127.0.0.1", self.d.port),
            "--bind", self.d.settings.daemon.bind,
            "--logfile", str(logfile),
        ]  # fmt: skip
        dp.proc = spawn_python("sugo.driverinterface.host", args, logfile)
        self.d.store.upsert_driver(
            dp.name,
            state=DriverState.STARTING,
            pid=dp.proc.pid,
            version=__version__,
            settings=self.d.settings.driver_settings(dp.name),
            started_at=dp.proc.create_time,
            create_time=dp.proc.create_time,
        )
        dp.state = DriverState.STARTING
        self.d.events.emit("driver.started", f"driver {dp.name}", pid=dp.proc.pid)
        log.info("driver %s: host spawned (pid %d)", dp.name, dp.proc.pid)
        self._watch(dp)

    def on_hello(self, req: api.HostHello, call: Call) -> Any:
        dp = self.procs.get(req.driver)
        if dp is None or self._stopping:
            raise SugoError(f"driver {req.driver!r} is not configured on this daemon")
        if dp.proc is None or dp.proc.pid != req.pid:
            # A host we did not spawn (or an old one): refuse it rather than guess.
            raise SugoError(f"driver {req.driver}: unexpected host pid {req.pid}")
        dp.port = req.port
        row = self.d.store.get_driver(dp.name)
        self.d.store.upsert_driver(
            dp.name,
            state=DriverState.STARTING,
            pid=req.pid,
            port=req.port,
            version=__version__,
            settings=self.d.settings.driver_settings(dp.name),
            started_at=row.started_at if row else None,
            create_time=dp.proc.create_time,
        )
        log.info("driver %s: host up on port %d", dp.name, req.port)
        # Register once the host has had our reply and serves requests.
        self.d.loop.call_later(0, lambda: self._register(dp))
        return {"settings": self.d.settings.driver_settings(dp.name)}

    # -- registration ---------------------------------------------------------------

    def reregister(self, name: str) -> None:
        """Register the driver's components again (after a reload added some)."""
        dp = self.procs.get(name)
        if dp is not None and dp.endpoint:
            self._register(dp)

    def components_of(self, driver: str) -> list["ComponentSpec"]:
        return [c for c in self.d.devices.components() if c.driver == driver]

    def _register(self, dp: DriverProc) -> None:
        ep, gen = dp.endpoint, dp.generation
        specs = self.components_of(dp.name)
        for spec in specs:
            old = self.d.store.get_component(spec.name)
            self.d.store.upsert_component(
                spec.name,
                driver=spec.driver,
                device=spec.device,
                address=spec.address,
                channel=spec.channel,
                pollrate=spec.pollrate,
                capabilities=old.capabilities if old else (),
                state=ComponentState.REGISTERING,
            )

        def work() -> None:
            results: list[tuple[str, list[str] | None, str | None]] = []
            with Client(ep or "", timeout=REGISTER_TIMEOUT) as client:
                for spec in specs:
                    try:
                        client.call(
                            host_api.DevRegister(address=spec.address, channel=spec.channel)
                        )
                        caps = client.call(
                            host_api.Capabilities(address=spec.address, channel=spec.channel)
                        )
                        results.append((spec.name, sorted(caps or []), None))
                    except SugoError as e:
                        results.append((spec.name, None, str(e)))
            self.d.loop.post(lambda: self._registered(dp, gen, results))

        self.d.pool.submit(work)

    def _registered(
        self, dp: DriverProc, gen: int, results: list[tuple[str, list[str] | None, str | None]]
    ) -> None:
        if gen != dp.generation or self._stopping:
            return
        failed = 0
        for name, caps, error in results:
            row = self.d.store.get_component(name)
            if row is None:
                continue
            if caps is None:
                failed += 1
                log.error("component %s: registration failed: %s", name, error)
                self.d.store.upsert_component(
                    name, driver=row.driver, device=row.device, address=row.address,
                    channel=row.channel, pollrate=row.pollrate, state=ComponentState.FAILED,
                )  # fmt: skip
                self.d.events.emit("component.failed", name, error=error)
                continue
            busy = self.d.jobs.component_in_use(name)
            self.d.store.upsert_component(
                name, driver=row.driver, device=row.device, address=row.address,
                channel=row.channel, pollrate=row.pollrate, capabilities=caps,
                state=ComponentState.BUSY if busy else ComponentState.IDLE,
            )  # fmt: skip
            self.d.events.emit("component.registered", name, capabilities=caps)
        dp.error = f"{failed} component(s) failed to register" if failed else None
        self._set_state(dp, DriverState.READY)
        log.info("driver %s: ready (%d components, %d failed)", dp.name, len(results), failed)
        self.d.scheduler.kick()

    def _set_state(self, dp: DriverProc, state: DriverState) -> None:
        dp.state = state
        row = self.d.store.get_driver(dp.name)
        if row is not None and row.state != state:
            self.d.store.upsert_driver(
                dp.name, state=state, pid=row.pid, port=row.port, version=row.version,
                settings=row.settings, started_at=row.started_at, create_time=row.create_time,
            )  # fmt: skip

    # -- liveness -----------------------------------------------------------------

    def _ping(self, ep: str | None, timeout: float = PING_TIMEOUT) -> bool:
        if not ep:
            return False
        try:
            with Client(ep, timeout=timeout) as client:
                client.call(host_api.HostPing())
            return True
        except (RequestTimeout, RequestFailed):
            return False

    def _watch(self, dp: DriverProc) -> None:
        dp.stop_watch.set()
        dp.stop_watch = stop = threading.Event()
        gen, proc = dp.generation, dp.proc

        def watch() -> None:
            misses = 0
            while not stop.wait(PING_EVERY):
                if proc is None or not proc.alive():
                    self.d.loop.post(lambda: self._lost(dp, gen, "host process exited"))
                    return
                ep = dp.endpoint
                if ep is None:
                    continue  # not said hello yet; the PID check covers a crash
                if self._ping(ep):
                    misses = 0
                    continue
                misses += 1
                if misses >= MISSES_ALLOWED:
                    self.d.loop.post(lambda: self._lost(dp, gen, "host not answering pings"))
                    return

        threading.Thread(target=watch, name=f"watch-{dp.name}", daemon=True).start()

    def _lost(self, dp: DriverProc, gen: int, reason: str) -> None:
        if gen != dp.generation or self._stopping:
            return
        log.error("driver %s: %s; restarting it", dp.name, reason)
        dp.restarts += 1
        self._set_state(dp, DriverState.RESTARTING)
        self.d.events.emit("driver.died", f"driver {dp.name}", reason=reason)
        for spec in self.components_of(dp.name):
            row = self.d.store.get_component(spec.name)
            if row is not None and row.state != ComponentState.REGISTERING:
                self.d.store.set_component_state(spec.name, ComponentState.REGISTERING)
        self.d.jobs.wake_runners_using(dp.name)
        if dp.proc is not None:
            dp.proc.signal(9)  # it may be hung: SIGKILL is the only sure stop
            dp.proc.wait(1.0)
        self._spawn(dp)

    # -- stop -------------------------------------------------------------------------

    def stop(self, names: list[str] | None = None) -> None:
        """Stop hosts (all by default): ask, then SIGTERM, then SIGKILL. Blocking."""
        targets = [self.procs[n] for n in (names or list(self.procs)) if n in self.procs]
        if names is None:
            self._stopping = True
        threads = []
        for dp in targets:
            dp.stop_watch.set()
            dp.generation += 1
            threads.append(threading.Thread(target=self._stop_one, args=(dp,), daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(10.0)
        for dp in targets:
            self.procs.pop(dp.name, None)

    def _stop_one(self, dp: DriverProc) -> None:
        if dp.proc is None:
            return
        if dp.endpoint:
            try:
                with Client(dp.endpoint, timeout=2.0) as client:
                    client.call(host_api.HostShutdown())
            except SugoError as e:
                log.warning("driver %s: shutdown request failed: %s", dp.name, e)
        dp.proc.stop(grace=2.0)
        log.info("driver %s: stopped (pid %d)", dp.name, dp.proc.pid)

    def client_for(self, driver: str, timeout: float = 5.0) -> Client:
        dp = self.procs.get(driver)
        if dp is None or dp.endpoint is None:
            raise SugoError(f"driver {driver} is not running")
        return Client(dp.endpoint, timeout=timeout)

    @property
    def all_ready(self) -> bool:
        return all(dp.state == DriverState.READY for dp in self.procs.values())

    def pids(self) -> list[int]:
        return [dp.proc.pid for dp in self.procs.values() if dp.proc] + [os.getpid()]
