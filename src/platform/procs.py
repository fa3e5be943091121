"""Child processes tracked by PID: spawn detached, liveness, and stop on a
clock, on every OS (see `sugo.platform` for the two modes)."""

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sugo import platform

log = logging.getLogger(__name__)


@dataclass
class Tracked:
    """A process we own or re-attached to, identified by PID and create time
    (so a PID reused by an unrelated process is never mistaken for ours)."""

    pid: int
    create_time: float
    popen: subprocess.Popen[bytes] | None = None

    @classmethod
    def attach(cls, pid: int, create_time: float | None = None) -> "Tracked | None":
        import psutil  # here: the daemon spawns its driver hosts before it imports this

        try:
            proc = psutil.Process(pid)
            ct = proc.create_time()
        except psutil.Error:
            return None
        if create_time is not None and abs(ct - create_time) > 0.01:
            return None
        return cls(pid, ct)

    @classmethod
    def of_popen(cls, popen: "subprocess.Popen[bytes]") -> "Tracked":
        """The child ``popen`` just started, tracked with its create time."""
        tracked = cls.attach(popen.pid) or cls(popen.pid, time.time())
        tracked.popen = popen
        return tracked

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        import psutil

        try:
            proc = psutil.Process(self.pid)
            return (
                abs(proc.create_time() - self.create_time) <= 0.01
                and proc.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False

    def signal(self, sig: int) -> None:
        """Send ``sig`` (on Windows, any signal but the console events ends the
        process at once: os.kill calls TerminateProcess)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        """Ask the process to end (SIGTERM; on Windows it ends at once)."""
        self.signal(signal.SIGTERM)

    def kill(self) -> None:
        """End the process at once (SIGKILL; TerminateProcess on Windows)."""
        self.signal(getattr(signal, "SIGKILL", signal.SIGTERM))

    def wait(self, timeout: float) -> bool:
        """Wait until the process is gone; True if it is."""
        deadline = time.monotonic() + timeout
        if self.popen is not None:
            try:
                self.popen.wait(max(0.0, timeout))
                return True
            except subprocess.TimeoutExpired:
                return False
        # Not our child: sleep on a pidfd (fast mode), which is readable once
        # the process ends (zombie or not). Else poll `alive` (psutil's wait
        # would also wait for a slow init to reap the zombie).
        fd = self.exit_fd()
        if fd is not None:
            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                return bool(poller.poll(max(0, int(timeout * 1000))))
            finally:
                os.close(fd)
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def exit_fd(self) -> int | None:
        """A pidfd of this process (readable once it has ended; the caller
        closes it), or None in the portable mode or once the process is
        gone: then `alive` tells."""
        if not platform.fast():
            return None
        try:
            fd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            return None
        # The PID might have been reused before we opened it: make sure it is ours.
        if not self.alive():
            with contextlib.suppress(OSError):
                os.close(fd)
            return None
        return fd

    def stop(self, grace: float = 2.0, term_wait: float = 1.0) -> None:
        """Wait ``grace`` for a requested exit, then SIGTERM, then SIGKILL."""
        if self.wait(grace):
            return
        log.warning("pid %d did not exit in %.1f s: terminating it", self.pid, grace)
        self.terminate()
        if self.wait(term_wait):
            return
        log.warning("pid %d ignored the request to terminate: killing it", self.pid)
        self.kill()
        self.wait(2.0)


def on_termination(detach: Callable[[str], None], stop: Callable[[str], None]) -> None:
    """Route the OS's requests to end this process (call from the main thread).

    A termination request from outside (``kill PID``, systemd, an OS
    shutdown: SIGTERM; on Windows, Ctrl-Break: SIGBREAK) calls ``detach``
    with the signal's name: the caller ends alone and leaves its children
    running, exactly as if it had been killed, so nothing they do is cut
    short. An interrupt at the terminal (Ctrl-C: SIGINT) calls ``stop``.
    Windows has no catchable SIGTERM (a kill there ends the process at once,
    which leaves the children running all the same).
    """

    def route(handler: Callable[[str], None], name: str) -> Callable[[int, Any], None]:
        return lambda _sig, _frame: handler(name)

    for name, handler in (("SIGTERM", detach), ("SIGBREAK", detach), ("SIGINT", stop)):
        sig = getattr(signal, name, None)
        if sig is None or (name == "SIGTERM" and sys.platform == "win32"):
            continue
        signal.signal(sig, route(handler, name))


# Processes started before anyone asked for them (see sugo.daemon.prestart),
# by their command: `spawn_python` hands one out instead of starting another.
_early: dict[tuple[str, ...], "subprocess.Popen[bytes]"] = {}


def _key(module: str, args: list[str], logfile: Path | None) -> tuple[str, ...]:
    return (module, *args, str(logfile or ""))


def spawn_early(module: str, args: list[str], logfile: Path | None) -> int:
    """Start ``python -m module args`` now, for a `spawn_python` with the same
    arguments to adopt later (`discard_early` kills it if none does); its PID."""
    popen = _popen(module, args, logfile)
    _early[_key(module, args, logfile)] = popen
    return popen.pid


def discard_early() -> list[int]:
    """Kill the processes started early that nobody adopted; returns their PIDs."""
    pids = []
    while _early:
        _, popen = _early.popitem()
        popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(2.0)
        pids.append(popen.pid)
    if pids:
        log.info("killed processes started early but not needed: %s", pids)
    return pids


def spawn_python(module: str, args: list[str], logfile: Path | None) -> Tracked:
    """Start ``python -m module args`` in its own session (it outlives a daemon
    crash), or adopt the one `spawn_early` started with these arguments."""
    popen = _early.pop(_key(module, args, logfile), None)
    if popen is not None and popen.poll() is None:
        log.info("pid %d: started early, adopted", popen.pid)
    else:
        popen = _popen(module, args, logfile)
    return Tracked.of_popen(popen)


def spawn_tied(module: str, args: list[str], logfile: Path | None) -> Tracked:
    """Start ``python -m module args`` tied to this process by its stdin: a
    pipe that closes when this process ends, however it ends (the child
    watches it with `exit_with_parent`). Portable: no signals, sessions or
    parent-death settings, which Windows lacks. Keep the returned
    ``popen.stdin`` open for as long as the child should live."""
    return Tracked.of_popen(_popen(module, args, logfile, stdin=subprocess.PIPE))


def exit_with_parent(on_gone: Callable[[], None]) -> None:
    """In a child started with `spawn_tied`: call ``on_gone`` (from a thread of
    its own) once the parent's end of stdin closes."""

    def wait() -> None:
        try:
            while sys.stdin.buffer.read(1):
                pass
        except (OSError, ValueError):
            pass
        on_gone()

    threading.Thread(target=wait, name="parent-tie", daemon=True).start()


def can_pass_fds() -> bool:
    """Whether a child can inherit a file descriptor (`Popen`'s ``pass_fds``,
    a pipe to hear from it): POSIX only."""
    return not platform.WINDOWS


def detached() -> dict[str, Any]:
    """`subprocess.Popen` arguments for a child that outlives this process and
    is not hit by its terminal's Ctrl-C: a new session on POSIX, a new process
    group without a console window on Windows."""
    if platform.WINDOWS:
        flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW  # type: ignore[attr-defined,unused-ignore]
        return {"creationflags": flags}
    return {"start_new_session": True}


def _popen(
    module: str, args: list[str], logfile: Path | None, stdin: int = subprocess.DEVNULL
) -> "subprocess.Popen[bytes]":
    out = open(logfile, "ab") if logfile else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=stdin,
            stdout=out,
            stderr=out,
            close_fds=True,
            **detached(),
        )
    finally:
        if logfile:
            out.close()  # type: ignore[union-attr]
