"""The daemon: owns the store, the driver hosts and the job runners, and
serves the CLI. Everything that changes state runs on the loop thread."""

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sugo import __version__
from sugo.config.devices import DevicesConfig, load_devices
from sugo.config.settings import Settings, load_settings
from sugo.daemon import processes
from sugo.daemon import reload as reloading
from sugo.daemon.components import ComponentCommands
from sugo.daemon.drivers import DriverManager
from sugo.daemon.events import Events
from sugo.daemon.jobs import JobManager
from sugo.daemon.launcher import Launcher
from sugo.daemon.maintenance import Maintenance
from sugo.daemon.pipelines import PipelineCommands
from sugo.daemon.scheduler import Scheduler
from sugo.daemon.states import DriverState
from sugo.daemon.status import status_info
from sugo.daemon.store import Store
from sugo.daemon.web import WebSupervisor
from sugo.daemon.writes import ResultWriter
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.server import DEFERRED, Call, ServerLoop
from sugo.protocol.wire import to_builtins

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
        self.settings = settings
        self.devices = devices
        self.stopping = False
        self.ready_fd = ready_fd  # `sugo start` waits for a line on it (see _watch_start)
        self._fork_servers_started = False
        settings.logdir.mkdir(parents=True, exist_ok=True)
        settings.jobs.storage.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = Store(settings.jobs.dbpath)
        self.events = Events(self)
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="daemon-io")
        self.drivers = DriverManager(self)
        self.jobs = JobManager(self)
        self.scheduler = Scheduler(self)
        self.maintenance = Maintenance(self)
        self.launcher = Launcher(settings.logdir / f"forkserver-{port}.log")
        self.writer = ResultWriter(self)
        self.web = WebSupervisor(self)
        registry: dict[type, Any] = {
            api.Ping: self.on_ping,
            api.Status: self.on_status,
            api.Stop: self.on_stop,
            api.Reload: self.on_reload,
        }
        for part in (
            self.drivers,
            self.jobs,
            PipelineCommands(self),
            ComponentCommands(self),
            self.maintenance,
            self.events,
        ):
            registry.update(part.handlers())
        self.loop = ServerLoop(
            "daemon",
            registry,
            bind=settings.daemon.bind,
            port=port,
            max_bytes=settings.daemon.max_message_bytes,
        )

    def run(self) -> None:
        self.store.set_meta("pid", os.getpid())
        self.store.set_meta("port", self.port)
        # The driver hosts first: their start-up (an interpreter, the driver's
        # imports) is the longest part of `sugo start`.
        self.drivers.start_all()
        processes.discard_early()  # hosts started early that the files did not ask for
        reloading.sync_store(self, self.devices)
        self.maintenance.start()
        self.jobs.recover()
        self.jobs.start_watch()
        self._watch_start(time.monotonic() + FORK_SERVERS_WAIT)
        self.events.emit("daemon.started", f"port {self.port}", pid=os.getpid())
        self.web.start()
        log.info("daemon: serving on port %d (pid %d)", self.port, os.getpid())
        self.scheduler.kick()
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
            dp.state in (DriverState.READY, DriverState.FAILED)
            for dp in self.drivers.procs.values()
        ):
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

    def shutdown(self) -> None:
        self.stopping = True
        self.jobs.stop_watch()
        self.web.stop()
        self.drivers.stop()
        self.launcher.close()
        self.writer.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.events.emit("daemon.stopped", f"port {self.port}")
        self.store.delete_meta("pid")
        self.store.close()
        self.loop.close()
        log.info("daemon: stopped")

    # -- handlers -------------------------------------------------------------------

    def on_ping(self, req: api.Ping, call: Call) -> Any:
        return to_builtins(
            api.PingInfo(
                pid=os.getpid(), port=self.port, version=__version__, appdir=str(self.appdir)
            )
        )

    def on_status(self, req: api.Status, call: Call) -> Any:
        return to_builtins(status_info(self))

    def on_reload(self, req: api.Reload, call: Call) -> Any:
        settings = load_settings(self.appdir / "settings.toml")
        devices = load_devices(settings.devices.config)
        reloading.check(self, settings, devices)
        return reloading.apply(self, settings, devices)

    def on_stop(self, req: api.Stop, call: Call) -> Any:
        running = self.store.running_jobs()
        if running and not req.force:
            names = ", ".join(str(j.id) for j in running)
            raise SugoError(f"jobs are running ({names}); cancel them or use stop --force")
        self.stopping = True
        ids = self.jobs.cancel_all_running()
        deadline = time.monotonic() + STOP_JOBS_TIMEOUT

        def finish_when_jobs_end() -> None:
            if self.store.running_jobs() and time.monotonic() < deadline:
                self.loop.call_later(0.05, finish_when_jobs_end)
                return
            if self.store.running_jobs():
                self.jobs.kill_all_runners()
            call.reply({"stopped": True, "cancelled": ids, "pid": os.getpid()})
            # Let the reply leave before the loop ends.
            self.loop.call_later(0.05, self.loop.stop)

        finish_when_jobs_end()
        return DEFERRED


def load_config(appdir: Path) -> tuple[Settings, DevicesConfig]:
    settings = load_settings(appdir / "settings.toml")
    return settings, load_devices(settings.devices.config)
