"""The daemon: owns the store, the driver hosts and the job runners, and
serves the CLI. Everything that changes state runs on the loop thread.

Here the parts are made and wired: each manager is given the ``Runtime``
(store, loop, pool, configuration), the event log (``Events``, whose bus
carries every event to the managers that react to it) and the few services
of other managers it asks (a narrow callable or Protocol). No manager
imports this module.
"""

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import zmq

from sugo import __version__
from sugo.config.devices import DevicesConfig, load_devices
from sugo.config.settings import Settings, load_settings
from sugo.daemon import network, startup
from sugo.daemon import reload as reloading
from sugo.daemon.agents import AgentRegistry
from sugo.daemon.bus import Bus
from sugo.daemon.drivers import DriverManager
from sugo.daemon.drivers.components import ComponentCommands
from sugo.daemon.events import Events
from sugo.daemon.jobs import JobManager
from sugo.daemon.jobs.queries import components_in_use
from sugo.daemon.jobs.writes import ResultWriter
from sugo.daemon.maintenance import Maintenance
from sugo.daemon.payloads import PayloadCache
from sugo.daemon.pipelines import PipelineCommands
from sugo.daemon.runtime import LoopRef, Runtime
from sugo.daemon.scheduler import Scheduler
from sugo.daemon.status import status_info
from sugo.daemon.web import WebSupervisor
from sugo.errors import SugoError
from sugo.jobs import RUN_PRELOAD, RUNNER_MODULE
from sugo.platform import procs
from sugo.platform.launcher import Launcher
from sugo.platform.logfiles import forkserver_log
from sugo.protocol import agent_api
from sugo.protocol import daemon_api as api
from sugo.protocol.server import DEFERRED, STRICT_REPLIES_ENV, Call, Deferred, ServerLoop
from sugo.protocol.states import DriverState

log = logging.getLogger("sugo.daemon")

STOP_JOBS_TIMEOUT = 10.0  # how long `stop --force` waits for cancelled jobs to write data
FORK_SERVERS_WAIT = 5.0  # the fork servers start once the driver hosts are up, or after this
FORK_SERVERS_AFTER_READY = 0.25  # ...and after `sugo start` has had its answer
START_POLL = 0.005  # how often start-up checks whether every driver host is up (in memory)
START_POLL_LATE = 0.1  # ...after FORK_SERVERS_WAIT


class Daemon:
    def __init__(
        self,
        appdir: Path,
        port: int,
        settings: Settings,
        devices: DevicesConfig,
        ready_fd: int | None = None,
    ):
        self.appdir = appdir
        self.port = port
        self.detaching: str | None = None  # the signal that ends the daemon alone (see detach)
        self.ready_fd = ready_fd  # `sugo start` waits for a line on it (see _watch_start)
        self._fork_servers_started = False
        self._stop_requested = False
        settings.logdir.mkdir(parents=True, exist_ok=True)
        settings.jobs.storage.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Released by the kernel when this process ends, however it ends.
        self.dblock = startup.lock_database(settings.jobs.dbpath, port)
        self.store = startup.open_store(settings.jobs.dbpath, settings.jobs.storage)
        self.store.on_recovered = self._store_recovered
        self.notices: list[str] = []  # what start-up had to repair, for `sugo status`
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="daemon-io")
        self._loop_ref = LoopRef()
        rt = self.rt = Runtime(
            appdir, port, settings, devices, self.store, self._loop_ref, self.pool
        )
        self.bus = Bus()
        self.events = events = Events(rt, self.bus)
        self.maintenance = Maintenance(rt, events)
        self.agents = AgentRegistry(rt, events)
        store = self.store
        self.drivers = DriverManager(
            rt, events, self.agents, in_use=lambda name: name in components_in_use(store)
        )
        self.agents.hosts = self.drivers.remote
        self.launcher = Launcher(
            forkserver_log(settings.logdir, port), RUNNER_MODULE, RUN_PRELOAD, "run"
        )
        self.writer = ResultWriter(settings.logdir, port, rt.endpoint)
        payloads = PayloadCache()
        blocking = self.maintenance.blocking_reason
        self.jobs = JobManager(
            rt, events, self.drivers, payloads, blocking, self.launcher, self.writer
        )
        self.scheduler = Scheduler(rt, self.bus, payloads, blocking, self.jobs.start)
        self.web = WebSupervisor(rt, events)
        registry: dict[type, Any] = {
            api.Ping: self.on_ping,
            api.Status: self.on_status,
            api.Stop: self.on_stop,
            api.Reload: self.on_reload,
        }
        for part in (
            self.drivers,
            self.jobs,
            PipelineCommands(self.store, events),
            ComponentCommands(rt, events, self.drivers),
            self.maintenance,
            self.events,
            self.agents,
        ):
            registry.update(part.handlers())
        # Every socket is CURVE: only who can read keys/ is answered. The
        # Guard runs before the first bind (libzmq lets anyone in without one).
        pair = network.prepare_keys(appdir)
        guard = network.guard(appdir)
        try:
            self.loop = ServerLoop(
                "daemon",
                registry,
                bind=settings.daemon.bind,
                port=port,
                max_bytes=settings.daemon.max_message_bytes,
                curve=pair,
                replies={**api.DAEMON_REPLIES, **agent_api.AGENT_REPLIES},
                strict_replies=os.environ.get(STRICT_REPLIES_ENV) == "1",
            )
        except BaseException as e:
            guard.stop()
            if isinstance(e, zmq.ZMQError):  # an address of no interface here, a port taken
                raise network.bind_failed(appdir, settings.daemon.bind, port, e) from None
            raise
        self._loop_ref.bind(self.loop)
        self.network = network.start(self.loop, settings, pair, guard)  # + `[network] listen`

    # The configuration (a reload replaces it) and the stopping flag live in
    # the runtime every manager reads.
    @property
    def settings(self) -> Settings:
        return self.rt.settings

    @property
    def devices(self) -> DevicesConfig:
        return self.rt.devices

    @property
    def stopping(self) -> bool:
        return self.rt.stopping

    @stopping.setter
    def stopping(self, value: bool) -> None:
        self.rt.stopping = value

    def run(self) -> None:
        startup.first_write(self.rt)
        restored = startup.restore_if_lost(self.rt, self.events)
        if restored:
            self.notices.append(restored)
        # The driver hosts first: their start-up (an interpreter, the driver's
        # imports) is the longest part of `sugo start`.
        self.drivers.start_all()
        procs.discard_early()  # hosts started early that the files did not ask for
        reloading.sync_store(self.rt, self.events, self.devices)
        self.maintenance.start()
        self.jobs.recover()
        repaired = startup.repair_holds(self.rt, self.events)
        if repaired:
            self.notices.append("start-up repaired: " + "; ".join(repaired))
        self.jobs.start_watch()
        self._watch_start(time.monotonic() + FORK_SERVERS_WAIT)
        # (the scheduler reacts to it: its first pass)
        self.events.emit("daemon.started", f"port {self.port}", pid=os.getpid())
        self.web.start()
        log.info("daemon: serving on port %d (pid %d)", self.port, os.getpid())
        try:
            self.loop.run()
        finally:
            self.shutdown()

    def _watch_start(self, deadline: float) -> None:
        """Every few ms until every driver host is up or has failed: then tell
        `sugo start` (a line on ``ready_fd``) and, once it has had its answer,
        start the fork servers. Their preloading would take CPU from the hosts
        starting; they start at ``deadline`` anyway (and a job process needed
        sooner does not wait for them)."""
        if self.stopping:
            return
        if all(
            dp.state in (DriverState.READY, DriverState.FAILED) or dp.agent is not None
            for dp in self.drivers.procs.values()
        ):  # (hosts on agents' PCs come when their agent does: no wait for them)
            self._tell_ready()
            self.loop.call_later(FORK_SERVERS_AFTER_READY, self._start_fork_servers)
            return
        every = START_POLL
        if time.monotonic() >= deadline:
            self._start_fork_servers()
            every = START_POLL_LATE  # a host that takes this long is slow anyway
        self.loop.call_later(every, lambda: self._watch_start(deadline))

    def _start_fork_servers(self) -> None:
        if self._fork_servers_started or self.stopping:
            return
        self._fork_servers_started = True
        self.launcher.start()
        self.writer.start()

    def _tell_ready(self) -> None:
        fd, self.ready_fd = self.ready_fd, None
        if fd is None:
            return
        try:
            os.write(fd, b"ready\n")
        except OSError as e:  # `sugo start` gave up (its end is closed): nothing to tell
            log.debug("daemon: cannot say ready: %s", e)
        finally:
            os.close(fd)

    def detach(self, signal_name: str) -> None:
        """End the daemon alone (on SIGTERM): the loop stops, and `shutdown`
        leaves the job runners and driver hosts running, as a SIGKILL would."""
        self.detaching = signal_name
        self.loop.stop()

    def shutdown(self) -> None:
        self.stopping = True
        self.jobs.stop_watch()
        self.web.stop()  # a client of this daemon: the next start runs its own
        left: dict[str, Any] = {}
        if self.detaching and not self._stop_requested:
            jobs, hosts = len(self.store.running_jobs()), self.drivers.detach()
            left = {"signal": self.detaching, "jobs_left": jobs, "hosts_left": hosts}
            log.warning(
                "daemon: %s: leaving %d running job%s and %d driver host%s running;"
                " `sugo start` re-attaches",
                self.detaching, jobs, "" if jobs == 1 else "s", hosts, "" if hosts == 1 else "s",
            )  # fmt: skip
        else:
            self.drivers.stop()
        self.launcher.close()
        self.writer.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.events.emit("daemon.stopped", f"port {self.port}", **left)
        self.store.delete_meta("pid")
        self.store.close()
        if self.network is not None:
            self.network.close()
        self.dblock.release()
        self.loop.close()
        log.info("daemon: stopped")

    def _store_recovered(self, error: str, since: float) -> None:
        """The database takes writes again: record what it refused, and for how long."""
        seconds = round(time.time() - since, 1)
        self.events.emit(
            "database.write_failed", str(self.store.path), error=error, since=since,
            seconds=seconds,
        )  # fmt: skip

    # -- handlers -------------------------------------------------------------------

    def on_ping(self, req: api.Ping, call: Call[api.PingInfo]) -> api.PingInfo:
        return api.PingInfo(
            pid=os.getpid(),
            port=self.port,
            version=__version__,
            appdir=str(self.appdir),
            max_message_bytes=self.settings.daemon.max_message_bytes,
        )

    def on_status(self, req: api.Status, call: Call[api.StatusInfo]) -> api.StatusInfo:
        return status_info(
            self.rt, self.drivers.procs, self.maintenance.overlay(), self.notices, self.web.url
        )

    def on_reload(self, req: api.Reload, call: Call[api.ReloadReply]) -> Deferred:
        settings = load_settings(self.appdir / "settings.toml")
        devices = load_devices(settings.devices.config)
        reloading.check(self.rt, settings, devices)

        def apply() -> None:  # on the loop again: the state may have moved meanwhile
            try:
                reloading.check(self.rt, settings, devices)
                call.reply(
                    reloading.apply(
                        self.rt, self.events, self.drivers, self.maintenance, settings, devices
                    )
                )
            except SugoError as e:
                call.fail(str(e))

        def check_drivers() -> None:  # in the pool: it waits for a process
            try:
                reloading.check_drivers(self.rt, settings, devices)
            except SugoError as e:
                call.fail(str(e))
                return
            self.loop.post(apply)

        self.pool.submit(check_drivers)
        return DEFERRED

    def on_stop(self, req: api.Stop, call: Call[api.StopReply]) -> Deferred:
        running = self.store.running_jobs()
        if running and not req.force:
            names = ", ".join(str(j.id) for j in running)
            raise SugoError(f"jobs are running ({names}); cancel them or use stop --force")
        self.stopping = True
        self._stop_requested = True  # a SIGTERM from now on does not leave anything running
        ids = self.jobs.cancel_all_running()
        deadline = time.monotonic() + STOP_JOBS_TIMEOUT

        def finish_when_jobs_end() -> None:
            if self.store.running_jobs() and time.monotonic() < deadline:
                self.loop.call_later(0.05, finish_when_jobs_end)
                return
            if self.store.running_jobs():
                self.jobs.kill_all_runners()
            call.reply(api.StopReply(stopped=True, cancelled=ids, pid=os.getpid()))
            # Let the reply leave before the loop ends.
            self.loop.call_later(0.05, self.loop.stop)

        finish_when_jobs_end()
        return DEFERRED


def load_config(appdir: Path) -> tuple[Settings, DevicesConfig]:
    settings = load_settings(appdir / "settings.toml")
    return settings, load_devices(settings.devices.config)
