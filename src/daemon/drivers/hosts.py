"""Driver host processes: spawn one or re-attach to the one a previous
daemon left, take its hello, restart it when it is lost (``host.lost`` on the
bus: the runners of jobs on it poll at once), give a driver up (it cannot
start, or it crash-loops), and stop or leave them at the end."""

import logging
import threading
import time
from typing import TYPE_CHECKING

from sugo import __version__
from sugo.daemon.agents import AgentRegistry
from sugo.daemon.bus import HOST_LOST
from sugo.daemon.drivers import records as hostrecords
from sugo.daemon.drivers.procs import CRASH_LIMIT, CRASH_WINDOW, DriverProc, HostTable
from sugo.daemon.drivers.registration import Registrar
from sugo.daemon.drivers.remote import RemoteDrivers
from sugo.daemon.drivers.watch import ComponentHealth, HostWatch, ping
from sugo.driverinterface.health import StatusCode
from sugo.errors import SugoError
from sugo.platform.hostcmd import HOST_MODULE, host_args
from sugo.platform.logfiles import driver_log
from sugo.platform.procs import Tracked, spawn_python
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.client import Client
from sugo.protocol.endpoints import endpoint
from sugo.protocol.server import Call
from sugo.protocol.states import ComponentState, DriverState

if TYPE_CHECKING:
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Runtime

log = logging.getLogger("sugo.daemon.drivers")

START_PINGS = 3  # a host of the previous daemon not answering this many pings is hung
SHUTDOWN_GRACE = 2.0  # a host still running this long after the shutdown request gets SIGTERM


class HostProcesses:
    def __init__(
        self,
        rt: "Runtime",
        events: "Events",
        table: HostTable,
        health: ComponentHealth,
        registrar: Registrar,
        agents: AgentRegistry,
    ) -> None:
        self.rt = rt
        self.events = events
        self.table = table
        self.health = health
        self.registrar = registrar
        self.agents = agents
        self.watch = HostWatch(rt, table, health, self.lost)
        self.remote = RemoteDrivers(rt, table, agents, registrar, health, self.watch, events)

    # -- start ---------------------------------------------------------------------

    def start(self, name: str) -> None:
        """Re-attach to a host that outlived the previous daemon, or spawn one."""
        dp = self.table.procs.get(name) or DriverProc(name)
        dp.failed, dp.error, dp.ready_since = False, None, None
        dp.crashes.clear()
        self.table.procs[name] = dp
        if self.remote.start(dp):
            return
        for rec in self._earlier_hosts(name):
            tracked = Tracked.attach(rec.pid, rec.create_time)
            if tracked is None or not tracked.alive():
                continue
            if rec.port and self._answers(endpoint(self.rt.local_host, rec.port)):
                dp.local_addr = self.rt.local_host
                dp.proc, dp.port = tracked, rec.port
                log.info("driver %s: re-attached to running host (pid %d)", name, rec.pid)
                if self.rt.store.get_driver(name) is None:  # the database was lost
                    self._record(dp, DriverState.STARTING)
                self.table.set_state(dp, DriverState.STARTING)
                self.registrar.register(dp)
                self.watch.watch(dp)
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
        row = self.rt.store.get_driver(name)
        if row and row.pid and row.create_time:
            out.append(
                hostrecords.HostRecord(pid=row.pid, create_time=row.create_time, port=row.port)
            )
        rec = hostrecords.load(self.rt.appdir, name)
        if rec is not None and all(
            (r.pid, r.create_time) != (rec.pid, rec.create_time) for r in out
        ):
            out.append(rec)
        return out

    @staticmethod
    def _answers(ep: str) -> bool:
        """Pinged a few times: a busy machine must not make a working host look hung."""
        return any(ping(ep) for _ in range(START_PINGS))

    def _record(self, dp: DriverProc, state: DriverState) -> None:
        """Note the host in the database and in the app folder."""
        assert dp.proc is not None
        store = self.rt.store
        row = store.get_driver(dp.name)
        same = row is not None and row.pid == dp.proc.pid and row.started_at
        store.upsert_driver(
            dp.name,
            state=state,
            pid=dp.proc.pid,
            port=dp.port,
            version=__version__,
            settings=self.rt.settings.driver_settings(dp.name),
            started_at=row.started_at if same and row else dp.proc.create_time,
            create_time=dp.proc.create_time,
        )
        hostrecords.save(
            self.rt.appdir,
            dp.name,
            hostrecords.HostRecord(pid=dp.proc.pid, create_time=dp.proc.create_time, port=dp.port),
        )

    def _spawn(self, dp: DriverProc) -> None:
        dp.generation += 1
        dp.port = None
        dp.ready_since = None
        dp.error = None
        settings, port = self.rt.settings, self.rt.port
        logfile = driver_log(settings.logdir, dp.name, port)
        # As `prestart.host_command` has them, or the early host is not adopted.
        args = host_args(dp.name, self.rt.endpoint, settings.daemon.bind, logfile)
        dp.local_addr = self.rt.local_host
        dp.proc = spawn_python(HOST_MODULE, args, logfile)
        dp.state = DriverState.STARTING
        self._record(dp, DriverState.STARTING)
        self.events.emit("driver.started", f"driver {dp.name}", pid=dp.proc.pid)
        log.info("driver %s: host spawned (pid %d)", dp.name, dp.proc.pid)
        self.watch.watch(dp)

    def on_hello(self, req: api.HostHello, call: Call[api.HostHelloReply]) -> api.HostHelloReply:
        dp = self.table.procs.get(req.driver)
        if dp is None or self.table.stopping:
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
        self.rt.loop.call_later(0, lambda: self.registrar.register(dp))
        return api.HostHelloReply(settings=self.rt.settings.driver_settings(dp.name))

    # -- failures -----------------------------------------------------------------------

    def on_host_failed(self, req: api.HostFailed, call: Call[api.Ack]) -> api.Ack:
        dp = self.table.procs.get(req.driver)
        if dp is None:
            raise SugoError(f"driver {req.driver}: unexpected host pid {req.pid}")
        remote = self.agents.alive(dp.agent) if dp.agent else None
        if remote is not None and remote.key == call.peer:
            pass  # a host on that agent's PC (its pid is of another machine)
        elif dp.proc is None or dp.proc.pid != req.pid:
            raise SugoError(f"driver {req.driver}: unexpected host pid {req.pid}")
        self._give_up(dp, req.error)
        return api.Ack()

    def _give_up(self, dp: DriverProc, error: str) -> None:
        """Mark a driver failed for good (until a reload): it is not restarted."""
        dp.failed, dp.error = True, error
        log.error("driver %s: not started: %s", dp.name, error)
        self.table.set_state(dp, DriverState.FAILED)
        self.events.emit("driver.failed", f"driver {dp.name}", error=error)
        store = self.rt.store
        for spec in self.table.components_of(dp.name):
            if store.get_component(spec.name) is not None:
                store.set_component_state(spec.name, ComponentState.FAILED)
            self.health.set_code(spec.name, StatusCode.DRIVER_NOT_STARTED, error)

    def lost(self, dp: DriverProc, gen: int, reason: str) -> None:
        """The host of generation ``gen`` died or hangs (loop thread): restart it."""
        if gen != dp.generation or self.table.stopping:
            return
        if dp.failed:
            return  # it said why it cannot start; restarting would only loop
        self.events.emit("driver.died", f"driver {dp.name}", reason=reason)
        if dp.crashes.lost(time.monotonic(), dp.ready_since):
            if dp.proc is not None:
                dp.proc.kill()
            self._give_up(
                dp, f"host died {CRASH_LIMIT} times in {CRASH_WINDOW:g} s ({reason}); see its log"
            )
            return
        log.error("driver %s: %s; restarting it", dp.name, reason)
        dp.restarts += 1
        self.table.set_state(dp, DriverState.RESTARTING)
        store = self.rt.store
        for spec in self.table.components_of(dp.name):
            row = store.get_component(spec.name)
            if row is not None and row.state != ComponentState.REGISTERING:
                store.set_component_state(spec.name, ComponentState.REGISTERING)
            self.health.set_code(spec.name, StatusCode.HOST_RESTARTING, reason)
        self.events.bus.publish(HOST_LOST, f"driver {dp.name}", driver=dp.name)
        if dp.proc is not None:
            dp.proc.kill()  # it may be hung: a kill is the only sure stop
            dp.proc.wait(1.0)
        self._spawn(dp)

    # -- stop -------------------------------------------------------------------------

    def stop(self, names: list[str] | None = None) -> None:
        """Stop hosts (all by default): ask, then SIGTERM, then SIGKILL. Blocking."""
        procs = self.table.procs
        targets = [procs[n] for n in (names or list(procs)) if n in procs]
        if names is None:
            self.table.stopping = True
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
            procs.pop(dp.name, None)

    def detach(self) -> int:
        """Stop watching the hosts and leave them running (the daemon ends
        alone; the next one re-attaches to them); how many are left."""
        self.table.stopping = True
        procs = self.table.procs
        for dp in procs.values():
            dp.stop_watch.set()
            dp.generation += 1  # late reports about them are ignored
        return sum(1 for dp in procs.values() if dp.proc is not None and dp.proc.alive())

    def _stop_one(self, dp: DriverProc) -> None:
        if dp.proc is None:
            return
        if dp.endpoint:
            # The host tears its components down and exits, possibly before its
            # reply leaves: wait for the process to end, not for the reply.
            threading.Thread(target=_ask_shutdown, args=(dp, dp.endpoint), daemon=True).start()
        dp.proc.stop(grace=SHUTDOWN_GRACE)
        log.info("driver %s: stopped (pid %d)", dp.name, dp.proc.pid)


def _ask_shutdown(dp: DriverProc, ep: str) -> None:
    try:
        with Client(ep, timeout=SHUTDOWN_GRACE) as client:
            client.call(host_api.HostShutdown())
    except SugoError as e:
        if dp.proc is not None and dp.proc.alive():
            log.warning("driver %s: shutdown request failed: %s", dp.name, e)
