"""Starts ``python -m MODULE ARGV...`` processes, and returns them as tracked
PIDs: in the fast mode forked from a warm fork server (`sugo.platform.forkserver`,
a cold start as the fallback); in the portable mode a fresh interpreter, started
one ahead (`sugo.platform.spare`) so that its imports are done when it is needed."""

import contextlib
import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

from sugo import platform
from sugo.platform.procs import Tracked, detached, spawn_python

log = logging.getLogger("sugo.platform.launcher")

READY_TIMEOUT = 5.0  # preloading numpy and h5netcdf takes well under a second
RESTART_AFTER = 10.0  # a fork server that died is started again, at most this often


class Launcher:
    """Processes running ``module.main(argv)``; ``preload``: what the fork
    server imports besides ``module`` (what its children then share)."""

    def __init__(
        self, logfile: Path, module: str, preload: tuple[str, ...] = (), kind: str = "run"
    ) -> None:
        self.logfile = logfile
        self.module = module
        self.preload = preload
        self.kind = kind  # for the logs and `ps`
        self.fast = platform.fast()
        self._proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()
        self._lock = threading.RLock()  # spawn may start the server
        self._started_at = -RESTART_AFTER
        self._closed = False
        self._spare: subprocess.Popen[bytes] | None = None  # portable mode

    def start(self) -> None:
        """Start the fork server, or in the portable mode the spare process
        (if it is not running already)."""
        with self._lock:
            if not self.fast:
                self._closed = False
                if self._spare is None or self._spare.poll() is not None:
                    self._spare = self._new_spare()
                return
            self._start()

    def _start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._closed = False
        self._started_at = time.monotonic()
        err = open(self.logfile, "ab")  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                self._command("sugo.platform.forkserver"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                bufsize=1,
                **detached(),
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
        if (proc is None or proc.poll() is not None) and not self._closed:
            if proc is None and self._started_at < 0:
                log.info("starting the %s fork server now (needed before its time)", self.kind)
            elif time.monotonic() - self._started_at < RESTART_AFTER:
                return False
            else:
                log.warning("the %s fork server is gone; starting a new one", self.kind)
            self._stop_server()
            self._start()
            proc = self._proc
        if proc is None or proc.poll() is not None or proc.stdout is None:
            return False
        return self._ready.wait(READY_TIMEOUT)

    def spawn(self, argv: list[str], logfile: Path) -> Tracked:
        """Start ``module`` with ``argv``; warm if possible."""
        if not self.fast:
            return self._spawn_spare(argv, logfile)
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
                log.warning("%s fork server failed (%s); starting %s cold", self.kind, e, argv[0])
                self._stop_server()
            return spawn_python(self.module, argv, logfile)

    def _command(self, server: str) -> list[str]:
        return [sys.executable, "-m", server, self.kind, self.module, *self.preload]

    def _new_spare(self) -> "subprocess.Popen[bytes]":
        err = open(self.logfile, "ab")  # noqa: SIM115
        try:
            return subprocess.Popen(
                self._command("sugo.platform.spare"),
                stdin=subprocess.PIPE,
                stdout=err,
                stderr=err,
                close_fds=True,
                **detached(),
            )
        finally:
            err.close()

    def _spawn_spare(self, argv: list[str], logfile: Path) -> Tracked:
        """Hand the request to the spare (a fresh one if there is none: a cold
        start), and start the next spare."""
        with self._lock:
            proc, self._spare = self._spare, None
            if proc is None or proc.poll() is not None:
                proc = self._new_spare()
            request = json.dumps({"argv": argv, "logfile": str(logfile)}) + "\n"
            try:
                assert proc.stdin is not None
                proc.stdin.write(request.encode())
                proc.stdin.close()
            except OSError as e:  # it died meanwhile
                log.warning("%s spare process failed (%s); starting %s cold", self.kind, e, argv[0])
                proc.kill()
                return spawn_python(self.module, argv, logfile)
            if not self._closed:
                self._spare = self._new_spare()
        return Tracked.of_popen(proc)

    def close(self) -> None:
        """Stop the fork server (or spare) for good (the processes it started live on)."""
        self._closed = True
        self._stop_server()
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            with contextlib.suppress(OSError):
                if spare.stdin:
                    spare.stdin.close()  # EOF: it exits without running anything
            try:
                spare.wait(2.0)
            except subprocess.TimeoutExpired:
                spare.kill()

    def _stop_server(self) -> None:
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
