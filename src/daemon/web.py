"""The web server the daemon supervises when settings.toml has ``[web] listen``.

`sugo web` is its own process and a client of the daemon: the daemon only
starts it, restarts it when it dies (after a pause that grows while it keeps
dying, so a port taken by someone else does not spin), and stops it on the way
out. Its output goes to ``<logdir>/web-<port>.log``.
"""

import logging
import threading
from typing import TYPE_CHECKING

from sugo.platform.logfiles import web_log
from sugo.platform.procs import Tracked, spawn_tied

if TYPE_CHECKING:
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Runtime

log = logging.getLogger("sugo.daemon.web")

RESTART_PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # seconds, after 1, 2, ... quick deaths
STABLE_AFTER = 60.0  # a run this long resets the pauses


class WebSupervisor:
    def __init__(self, rt: "Runtime", events: "Events") -> None:
        self.rt = rt
        self.events = events
        self.listen = rt.settings.web.listen
        self.proc: Tracked | None = None
        self._deaths = 0
        self._stopping = threading.Event()

    @property
    def url(self) -> str | None:
        if not self.listen:
            return None
        from sugo.protocol.endpoints import parse_listen, url_of

        return url_of(*parse_listen(self.listen))

    def start(self) -> None:
        if not self.listen or self._stopping.is_set() or self.rt.stopping:
            return
        argv = ["web", "--listen", self.listen, "--port", str(self.rt.port),
                "--appdir", str(self.rt.appdir), "--tied"]  # fmt: skip
        logfile = web_log(self.rt.settings.logdir, self.rt.port)
        # Tied by its stdin: when this daemon ends, even by SIGKILL, the web
        # server ends too, and the next daemon's own finds its port free.
        self.proc = spawn_tied("sugo.cli", argv, logfile)
        log.info("web: pid %d serving %s", self.proc.pid, self.url)
        self.events.emit("web.started", self.url or "", pid=self.proc.pid)
        threading.Thread(
            target=self._watch, args=(self.proc,), name="web-watch", daemon=True
        ).start()

    def _watch(self, proc: Tracked) -> None:
        import time

        started = time.monotonic()
        assert proc.popen is not None
        code = proc.popen.wait()
        if self._stopping.is_set():
            return
        self._deaths = 0 if time.monotonic() - started > STABLE_AFTER else self._deaths + 1
        pause = RESTART_PAUSES[min(self._deaths, len(RESTART_PAUSES)) - 1] if self._deaths else 0.5
        log.error("web: pid %d exited (code %s); restarting in %g s", proc.pid, code, pause)
        self.rt.loop.post(lambda: self._died(proc, code, pause))

    def _died(self, proc: Tracked, code: int | None, pause: float) -> None:
        self.events.emit("web.died", self.url or "", pid=proc.pid, code=code)
        self.rt.loop.call_later(pause, self.start)

    def stop(self) -> None:
        self._stopping.set()
        proc, self.proc = self.proc, None
        if proc is not None and proc.alive():
            import signal

            proc.signal(signal.SIGTERM)
            proc.stop(grace=3.0)
