"""The driver hosts an agent runs for the daemon: spawned as plain
subprocesses (the portable path: no fork, sessions or signals), polled for
exit and restarted. Each is tied to the agent by its stdin (sugo.agent.child):
closing it stops the host, and a host never outlives its agent.

Each host serves CURVE with the agent's own pair and accepts the daemon's key
(and the agent's): ``$SUGO_CURVE_KEY`` and ``$SUGO_CURVE_ALLOW`` in its
environment. It says hello to the daemon's network endpoint with the same
pair, and the daemon registers its components.
"""

import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from sugo.platform.hostcmd import host_args
from sugo.platform.logfiles import AGENT, driver_log
from sugo.protocol import agent_api as api
from sugo.protocol.keys import (
    DAEMON,
    PROCESS_ALLOW_ENV,
    PROCESS_KEY_ENV,
    PROCESS_SERVER_ENV,
    curve_endpoint,
    keys_dir,
    load_pair,
)

log = logging.getLogger("sugo.agent.hosts")

HOST_MODULE = "sugo.agent.child"  # the driver host, tied to the agent (sugo.agent.child)
CHECK_EVERY = 0.25  # seconds between exit checks
STOP_GRACE = 2.0
CRASH_LIMIT = 5  # restarts within CRASH_WINDOW before a host is given up
CRASH_WINDOW = 60.0


class HostSupervisor:
    def __init__(
        self,
        daemon: str,
        appdir: Path,
        key_name: str,
        bind: str,
        give_up: Callable[[str, str], None] | None = None,
    ) -> None:
        self.give_up = give_up  # (driver, why): tell the daemon a host cannot run here
        folder = keys_dir(appdir)
        daemon_key = load_pair(folder, DAEMON).public
        self.daemon = curve_endpoint(daemon, daemon_key)
        self.bind = bind or "127.0.0.1"
        self.logdir = appdir / "logs"
        self.env = {
            # Not the daemon family's key files (docs/network.md): these
            # hosts' own pair and allow-list are the agent's.
            **{k: v for k, v in os.environ.items() if k != PROCESS_SERVER_ENV},
            PROCESS_KEY_ENV: str(folder / f"{key_name}.key_secret"),
            PROCESS_ALLOW_ENV: os.pathsep.join(
                [str(folder / f"{DAEMON}.key"), str(folder / f"{key_name}.key")]
            ),
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.wanted: set[str] = set()
        self.restarts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="agent-hosts", daemon=True)
        self._thread.start()

    def apply(self, drivers: list[api.HostedDriver]) -> None:
        """After a registration: run exactly these hosts; restart those the
        daemon does not know (it restarted, or never saw their hello)."""
        with self._lock:
            self.wanted = {d.name for d in drivers}
            for name in list(self.procs):
                if name not in self.wanted:
                    self._stop_one(name)
            for d in drivers:
                proc = self.procs.get(d.name)
                if proc is not None and proc.poll() is None and d.known:
                    continue
                if proc is not None:
                    self._stop_one(d.name)
                self._spawn(d.name)

    def _spawn(self, name: str) -> None:
        self.logdir.mkdir(parents=True, exist_ok=True)
        logfile = driver_log(self.logdir, name, AGENT)
        argv = [
            sys.executable,
            "-m",
            HOST_MODULE,
            *host_args(name, self.daemon, self.bind, logfile),
        ]
        with open(logfile, "ab") as out:
            self.procs[name] = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=out, stderr=out, env=self.env
            )
        log.info("driver %s: host started (pid %d)", name, self.procs[name].pid)

    def _stop_one(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # the stop request (sugo.agent.child)
        try:
            proc.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()  # TerminateProcess on Windows
            proc.wait(STOP_GRACE)
        log.info("driver %s: host stopped (pid %d)", name, proc.pid)

    def _watch(self) -> None:
        while not self._stop.wait(CHECK_EVERY):
            with self._lock:
                for name, proc in list(self.procs.items()):
                    code = proc.poll()
                    if code is None or name not in self.wanted:
                        continue
                    times = self.restarts.setdefault(name, deque())
                    now = time.monotonic()
                    times.append(now)
                    while times and now - times[0] > CRASH_WINDOW:
                        times.popleft()
                    if len(times) > CRASH_LIMIT:
                        why = (
                            f"host exited {len(times)} times in {CRASH_WINDOW:g} s on this "
                            f"agent's PC; last log line: {_last_line(self.logdir, name)}"
                        )
                        log.error("driver %s: %s; given up", name, why)
                        del self.procs[name]
                        if self.give_up is not None:
                            threading.Thread(
                                target=self.give_up, args=(name, why), daemon=True
                            ).start()
                        continue
                    log.warning("driver %s: host exited (%s); restarting it", name, code)
                    self._spawn(name)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        with self._lock:
            self.wanted = set()
            for name in list(self.procs):
                self._stop_one(name)


def _last_line(logdir: Path, driver: str) -> str:
    try:
        lines = driver_log(logdir, driver, AGENT).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return next((line.strip() for line in reversed(lines) if line.strip()), "(empty log)")
