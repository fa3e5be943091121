"""Driver hosts: spawn or re-attach, register components, watch, restart, stop.

The loop thread owns every ``DriverProc``. Each driver has a watcher thread that
checks the PID and pings the host; it reports a dead or hung host to the loop
with ``post``, and the loop replaces the host. Registration runs in the worker
pool and posts its outcome back, so the loop never waits on a driver.
"""

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sugo import __version__
from sugo.daemon import hostrecords
from sugo.daemon.remote import RemoteDrivers
from sugo.driverinterface.health import StatusCode, label
from sugo.errors import RequestFailed, RequestTimeout, SugoError
from sugo.platform.procs import Tracked, spawn_python
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.client import Client, endpoint
from sugo.protocol.keys import curve_endpoint
from sugo.protocol.server import DEFERRED, Call
from sugo.protocol.states import ComponentState, DriverState

if TYPE_CHECKING:
    from sugo.config.devices import ComponentSpec
    from sugo.daemon.core import Daemon

log = logging.getLogger("sugo.daemon.drivers")

# (component name, capabilities or None, error or None, health record or None)
Registration = tuple[str, list[str] | None, str | None, dict[str, Any] | None]
_EMPTY_HEALTH: dict[str, Any] = {
    "code": 500, "label": "unknown", "severity": "unknown", "text": "", "errors": [],
    "error_count": 0, "properties": {},
}  # fmt: skip

PING_EVERY = 0.4  # seconds between liveness pings
PING_TIMEOUT = 0.5
START_PINGS = 3  # a host of the previous daemon not answering this many pings is hung
MISSES_ALLOWED = 2  # a host missing this many pings in a row is hung (~1.3 s)
REGISTER_TIMEOUT = 10.0
SHUTDOWN_GRACE = 2.0  # a host still running this long after the shutdown request gets SIGTERM
HEALTH_EVERY = 2.0  # seconds between dev_ping checks of every component
HEALTH_TIMEOUT = 2.0
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
    agent: str | None = None  # the agent whose PC runs the host (sugo.daemon.remote)
    addr: str | None = None  # ...its address
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
        return endpoint("127.0.0.1", self.port)


class DriverManager:
    def __init__(self, daemon: "Daemon") -> None:
        self.d = daemon
        self.procs: dict[str, DriverProc] = {}
        self._stopping = False
        self.remote = RemoteDrivers(self)  # hosts on agents' PCs

    def handlers(self) -> dict[type, Callable[[Any, Call], Any]]:
        return {
            api.HostHello: self.on_hello,
            api.HostFailed: self.on_host_failed,
            api.ComponentRestart: self.on_component_restart,
        }

    # -- start ---------------------------------------------------------------------

    def start_all(self) -> None:
        for name in self.d.devices.drivers():
            self.start(name)

    def start(self, name: str) -> None:
        """Re-attach to a host that outlived the previous daemon, or spawn one."""
        dp = self.procs.get(name) or DriverProc(name)
        dp.failed, dp.error, dp.ready_since = False, None, None
        dp.crashes.clear()
        self.procs[name] = dp
        if self.remote.start(dp):
            return
        for rec in self._earlier_hosts(name):
            tracked = Tracked.attach(rec.pid, rec.create_time)
            if tracked is None or not tracked.alive():
                continue
            if rec.port and self._answers(endpoint("127.0.0.1", rec.port)):
                dp.proc, dp.port = tracked, rec.port
                log.info("driver %s: re-attached to running host (pid %d)", name, rec.pid)
                if self.d.store.get_driver(name) is None:  # the database was lost
                    self._record(dp, DriverState.STARTING)
                self._set_state(dp, DriverState.STARTING)
                self._register(dp)
                self._watch(dp)
                return
            # Alive but silent (hung, or never said hello): a second host beside
            # it would share the instrument with it, and it would live on for good.
            log.warning(
                "driver %s: host of the previous daemon (pid %d) does not answer; killing it",
                name, rec.pid,
            )  # fmt: skip
            tracked.kill()
            tracked.wait(2.0)
        self._spawn(dp)

    def _earlier_hosts(self, name: str) -> list[hostrecords.HostRecord]:
        """The hosts a previous daemon left: from the database, and from the
        record in the app folder (which outlives a deleted database)."""
        out = []
        row = self.d.store.get_driver(name)
        if row and row.pid and row.create_time:
            out.append(
                hostrecords.HostRecord(pid=row.pid, create_time=row.create_time, port=row.port)
            )
        rec = hostrecords.load(self.d.appdir, name)
        if rec is not None and all(
            (r.pid, r.create_time) != (rec.pid, rec.create_time) for r in out
        ):
            out.append(rec)
        return out

    def _answers(self, ep: str) -> bool:
        """Pinged a few times: a busy machine must not make a working host look hung."""
        return any(self._ping(ep) for _ in range(START_PINGS))

    def _record(self, dp: DriverProc, state: DriverState) -> None:
        """Note the host in the database and in the app folder."""
        assert dp.proc is not None
        row = self.d.store.get_driver(dp.name)
        same = row is not None and row.pid == dp.proc.pid and row.started_at
        self.d.store.upsert_driver(
            dp.name,
            state=state,
            pid=dp.proc.pid,
            port=dp.port,
            version=__version__,
            settings=self.d.settings.driver_settings(dp.name),
            started_at=row.started_at if same and row else dp.proc.create_time,
            create_time=dp.proc.create_time,
        )
        hostrecords.save(
            self.d.appdir,
            dp.name,
            hostrecords.HostRecord(pid=dp.proc.pid, create_time=dp.proc.create_time, port=dp.port),
        )

    def _spawn(self, dp: DriverProc) -> None:
        dp.generation += 1
        dp.port = None
        dp.ready_since = None
        dp.error = None
        logfile = self.d.settings.logdir / f"driver-{dp.name}-{self.d.port}.log"
        args = [
            "--driver", dp.name,
            "--daemon", endpoint("127.0.0.1", self.d.port),
            "--bind", self.d.settings.daemon.bind,
            "--logfile", str(logfile),
        ]  # fmt: skip
        dp.proc = spawn_python("sugo.driverinterface.host", args, logfile)
        dp.state = DriverState.STARTING
        self._record(dp, DriverState.STARTING)
        self.d.events.emit("driver.started", f"driver {dp.name}", pid=dp.proc.pid)
        log.info("driver %s: host spawned (pid %d)", dp.name, dp.proc.pid)
        self._watch(dp)

    def on_host_failed(self, req: api.HostFailed, call: Call) -> Any:
        dp = self.procs.get(req.driver)
        if dp is None:
            raise SugoError(f"driver {req.driver}: unexpected host pid {req.pid}")
        remote = self.d.agents.alive(dp.agent) if dp.agent else None
        if remote is not None and remote.key == call.peer:
            pass  # a host on that agent's PC (its pid is of another machine)
        elif dp.proc is None or dp.proc.pid != req.pid:
            raise SugoError(f"driver {req.driver}: unexpected host pid {req.pid}")
        self._give_up(dp, req.error)
        return {"ok": True}

    def _give_up(self, dp: DriverProc, error: str) -> None:
        """Mark a driver failed for good (until a reload): it is not restarted."""
        dp.failed, dp.error = True, error
        log.error("driver %s: not started: %s", dp.name, error)
        self._set_state(dp, DriverState.FAILED)
        self.d.events.emit("driver.failed", f"driver {dp.name}", error=error)
        for spec in self.components_of(dp.name):
            if self.d.store.get_component(spec.name) is not None:
                self.d.store.set_component_state(spec.name, ComponentState.FAILED)
            self._health(spec.name, StatusCode.DRIVER_NOT_STARTED, error)

    def _health(self, name: str, code: int, text: str = "") -> None:
        """Set a component's health from the daemon's side (4xx codes)."""
        old = self.d.store.get_health(name) or {}
        new = {**_EMPTY_HEALTH, **old, "code": int(code), "label": label(code), "text": text}
        self._store_health(name, old, new)

    def _store_health(self, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        if new == old:
            return
        self.d.store.set_health(name, new)
        if new.get("code") != old.get("code"):
            self.d.scheduler.kick()  # a job may wait for (or must avoid) this component
            self.d.events.emit(
                "component.status", name, code=new["code"], label=new.get("label"),
                text=new.get("text"), was=old.get("code"),
            )  # fmt: skip

    def on_component_restart(self, req: api.ComponentRestart, call: Call) -> Any:
        comp = self.d.store.get_component(req.name)
        if comp is None:
            raise SugoError(f"no component {req.name!r}")
        if self.d.jobs.component_in_use(req.name):
            raise SugoError(f"component {req.name} is used by a running job; cancel it first")
        dp = self.procs.get(comp.driver)
        if dp is None or dp.endpoint is None or dp.failed:
            raise SugoError(f"driver {comp.driver} is not running")
        self.d.store.set_component_state(req.name, ComponentState.REGISTERING)
        spec = next(c for c in self.components_of(comp.driver) if c.name == req.name)
        ep, gen = dp.endpoint, dp.generation
        # The teardown resets the instrument first: wait as long as its driver allows.
        wait = max(REGISTER_TIMEOUT, self.d.settings.driver_timeouts(comp.driver).verb_timeout)

        def work() -> None:
            with Client(ep, timeout=wait) as client:
                try:
                    client.call(host_api.DevTeardown(address=spec.address, channel=spec.channel))
                except SugoError as e:
                    log.warning("component %s: teardown before restart failed: %s", spec.name, e)
                result = self._register_one(client, spec)
            self.d.loop.post(lambda: self._registered(dp, gen, [result], restart=True))
            if result[1] is None:
                call.fail(f"component {spec.name}: restart failed: {result[2]}")
            else:
                call.reply({"name": spec.name, "capabilities": result[1]})

        self.d.pool.submit(work)
        self.d.events.emit("component.restarting", req.name)
        return DEFERRED

    def on_hello(self, req: api.HostHello, call: Call) -> Any:
        dp = self.procs.get(req.driver)
        if dp is None or self._stopping:
            raise SugoError(f"driver {req.driver!r} is not configured on this daemon")
        if dp.agent is not None:
            return self.remote.hello(dp, req, call)
        if dp.proc is None or dp.proc.pid != req.pid:
            # A host we did not spawn (or an old one): refuse it rather than guess.
            raise SugoError(f"driver {req.driver}: unexpected host pid {req.pid}")
        dp.port = req.port
        dp.source = req.source
        self._record(dp, DriverState.STARTING)
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
        if dp.failed:
            return
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
            with Client(ep or "", timeout=REGISTER_TIMEOUT) as client:
                results = [self._register_one(client, spec) for spec in specs]
            self.d.loop.post(lambda: self._registered(dp, gen, results))

        self.d.pool.submit(work)

    @staticmethod
    def _register_one(client: Client, spec: "ComponentSpec") -> Registration:
        try:
            client.call(host_api.DevRegister(address=spec.address, channel=spec.channel))
            caps = client.call(host_api.Capabilities(address=spec.address, channel=spec.channel))
            health = client.call(host_api.DevPing(address=spec.address, channel=spec.channel))
            return (spec.name, sorted(caps or []), None, health)
        except SugoError as e:
            return (spec.name, None, str(e), None)

    def _registered(
        self, dp: DriverProc, gen: int, results: list[Registration], restart: bool = False
    ) -> None:
        if gen != dp.generation or self._stopping or dp.failed:
            return
        failed = 0
        for name, caps, error, health in results:
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
                self._health(name, StatusCode.REGISTER_FAILED, error or "")
                continue
            busy = self.d.jobs.component_in_use(name)
            self.d.store.upsert_component(
                name, driver=row.driver, device=row.device, address=row.address,
                channel=row.channel, pollrate=row.pollrate, capabilities=caps,
                state=ComponentState.BUSY if busy else ComponentState.IDLE,
            )  # fmt: skip
            self.d.events.emit("component.registered", name, capabilities=caps)
            self._store_health(name, self.d.store.get_health(name) or {}, health or {})
        if restart:
            self.d.scheduler.kick()
            return
        dp.error = f"{failed} component(s) failed to register" if failed else None
        if dp.ready_since is None:
            dp.ready_since = time.monotonic()
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
            next_health = time.monotonic() + HEALTH_EVERY
            while not stop.wait(PING_EVERY):
                if proc is None or not proc.alive():
                    self.d.loop.post(lambda: self._lost(dp, gen, "host process exited"))
                    return
                ep = dp.endpoint
                if ep is None:
                    continue  # not said hello yet; the PID check covers a crash
                if self._ping(ep):
                    misses = 0
                    if (
                        time.monotonic() >= next_health
                        and dp.state == DriverState.READY
                        and not dp.health_busy.is_set()
                    ):
                        dp.health_busy.set()
                        next_health = time.monotonic() + HEALTH_EVERY
                        # Its own thread: a hung component must not delay liveness pings.
                        threading.Thread(
                            target=self._check_health, args=(dp, gen, ep), daemon=True,
                            name=f"health-{dp.name}",
                        ).start()  # fmt: skip
                    continue
                misses += 1
                if misses >= MISSES_ALLOWED:
                    self.d.loop.post(lambda: self._lost(dp, gen, "host not answering pings"))
                    return

        threading.Thread(target=watch, name=f"watch-{dp.name}", daemon=True).start()

    def _check_health(self, dp: DriverProc, gen: int, ep: str) -> None:
        """Ping every component (own thread); the loop stores what changed."""
        try:
            self._check_health_once(dp, gen, ep)
        finally:
            dp.health_busy.clear()

    def _check_health_once(self, dp: DriverProc, gen: int, ep: str) -> None:
        specs = self.components_of(dp.name)
        if not specs:
            return
        silent = {**_EMPTY_HEALTH, "code": 310, "label": label(310),
                  "text": f"no answer to ping within {HEALTH_TIMEOUT:g} s"}  # fmt: skip
        # One request for all the host's components: the host pings each on its
        # own worker, so a hung one only times out itself.
        req = host_api.HostHealth(
            components=[(s.address, s.channel) for s in specs],
            timeout=HEALTH_TIMEOUT,
            busy_limit=self.d.settings.driver_timeouts(dp.name).verb_timeout,
        )
        try:
            with Client(ep, timeout=HEALTH_TIMEOUT + 1.0) as client:
                answers = client.call(req, list[host_api.ComponentHealth])
        except (RequestTimeout, RequestFailed):
            answers = [
                host_api.ComponentHealth(s.address, s.channel, timed_out=True) for s in specs
            ]
        results: list[tuple[str, dict[str, Any]]] = []
        for spec, one in zip(specs, answers, strict=False):
            if one.busy:
                continue  # in a slow verb (a reset): its health is what it was
            if one.health is not None:
                h = one.health
            elif one.error is not None:
                h = {**_EMPTY_HEALTH, "code": 320, "label": label(320), "text": one.error}
            else:
                h = silent
            results.append((spec.name, h))

        def store() -> None:
            if gen != dp.generation or self._stopping:
                return
            for name, health in results:
                self._store_health(name, self.d.store.get_health(name) or {}, health)

        self.d.loop.post(store)

    def _lost(self, dp: DriverProc, gen: int, reason: str) -> None:
        if gen != dp.generation or self._stopping:
            return
        if dp.failed:
            return  # it said why it cannot start; restarting would only loop
        self.d.events.emit("driver.died", f"driver {dp.name}", reason=reason)
        if dp.crashes.lost(time.monotonic(), dp.ready_since):
            if dp.proc is not None:
                dp.proc.kill()
            self._give_up(
                dp, f"host died {CRASH_LIMIT} times in {CRASH_WINDOW:g} s ({reason}); see its log"
            )
            return
        log.error("driver %s: %s; restarting it", dp.name, reason)
        dp.restarts += 1
        self._set_state(dp, DriverState.RESTARTING)
        for spec in self.components_of(dp.name):
            row = self.d.store.get_component(spec.name)
            if row is not None and row.state != ComponentState.REGISTERING:
                self.d.store.set_component_state(spec.name, ComponentState.REGISTERING)
            self._health(spec.name, StatusCode.HOST_RESTARTING, reason)
        self.d.jobs.wake_runners_using(dp.name)
        if dp.proc is not None:
            dp.proc.kill()  # it may be hung: a kill is the only sure stop
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

    def detach(self) -> int:
        """Stop watching the hosts and leave them running (the daemon ends
        alone; the next one re-attaches to them); how many are left."""
        self._stopping = True
        for dp in self.procs.values():
            dp.stop_watch.set()
            dp.generation += 1  # late reports about them are ignored
        return sum(1 for dp in self.procs.values() if dp.proc is not None and dp.proc.alive())

    def _stop_one(self, dp: DriverProc) -> None:
        if dp.proc is None:
            return
        if dp.endpoint:
            # The host tears its components down and exits, possibly before its
            # reply leaves: wait for the process to end, not for the reply.
            threading.Thread(target=self._ask_shutdown, args=(dp, dp.endpoint), daemon=True).start()
        dp.proc.stop(grace=SHUTDOWN_GRACE)
        log.info("driver %s: stopped (pid %d)", dp.name, dp.proc.pid)

    @staticmethod
    def _ask_shutdown(dp: DriverProc, ep: str) -> None:
        try:
            with Client(ep, timeout=SHUTDOWN_GRACE) as client:
                client.call(host_api.HostShutdown())
        except SugoError as e:
            if dp.proc is not None and dp.proc.alive():
                log.warning("driver %s: shutdown request failed: %s", dp.name, e)

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
