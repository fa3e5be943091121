"""Starts job-runner processes through the warm fork server (cold start as a
fallback), and returns them as tracked PIDs."""

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

from sugo.daemon.processes import Tracked, spawn_python

log = logging.getLogger("sugo.daemon.launcher")

READY_TIMEOUT = 5.0  # preloading numpy and h5netcdf takes well under a second


class Launcher:
    def __init__(self, logfile: Path) -> None:
        self.logfile = logfile
        self._proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        err = open(self.logfile, "ab")  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "sugo.jobs.forkserver"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                bufsize=1,
                start_new_session=True,
            )
        finally:
            err.close()
        self._ready = threading.Event()
        # The server says "ready" once preloaded; wait for it off the caller's thread.
        threading.Thread(
            target=self._await_ready, args=(self._proc, self._ready), daemon=True
        ).start()

    @staticmethod
    def _await_ready(proc: "subprocess.Popen[str]", ready: threading.Event) -> None:
        line = proc.stdout.readline() if proc.stdout else ""
        try:
            if line and json.loads(line).get("ready"):
                ready.set()
        except ValueError:
            log.error("fork server said %r instead of ready", line)

    def _ensure_ready(self) -> bool:
        proc = self._proc
        if proc is None or proc.poll() is not None or proc.stdout is None:
            return False
        return self._ready.wait(READY_TIMEOUT)

    def spawn(self, argv: list[str], logfile: Path) -> Tracked:
        """Start ``sugo.jobs.runner`` with ``argv``; warm if possible."""
        with self._lock:
            try:
                if self._ensure_ready():
                    assert self._proc is not None and self._proc.stdin and self._proc.stdout
                    request = {"argv": argv, "logfile": str(logfile)}
                    self._proc.stdin.write(json.dumps(request) + "\n")
                    self._proc.stdin.flush()
                    answer = json.loads(self._proc.stdout.readline())
                    pid = int(answer["pid"])
                    # A runner that already ended is reported lost by the watcher;
                    # starting another one here could run the job twice.
                    return Tracked.attach(pid) or Tracked(pid, create_time=0.0)
            except (OSError, ValueError, KeyError) as e:
                log.warning("fork server failed (%s); starting the runner cold", e)
                self.close()
            return spawn_python("sugo.jobs.runner", argv, logfile)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin:
            proc.stdin.close()  # EOF: the server exits; its children live on
        try:
            proc.wait(2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(1.0)
        if proc.stdout:
            proc.stdout.close()
