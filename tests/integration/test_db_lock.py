"""Issue 13 item 2: one daemon per appdir, enforced by an OS lock."""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from tests.integration.harness import DaemonHarness, free_port, wait_for


def _processes_naming(port: int) -> list[int]:
    """Processes (other than ours) whose command line names this daemon port."""
    needle = f"127.0.0.1:{port}"
    out = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if needle in cmd or f"--port {port}" in cmd:
            out.append(p.info["pid"])
    return out


def _kill_all(pids: list[int]) -> None:
    """Clean up after a daemon that should not have started (on a failure)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_second_start_on_the_same_appdir_is_refused(daemon: DaemonHarness) -> None:
    before = daemon.status()
    hosts = {d["name"]: d["pid"] for d in before["drivers"]}
    other = free_port()
    try:
        done = daemon.cli("--port", str(other), "start", "--timeout", "20")
    finally:
        leaked = _processes_naming(other)
        _kill_all(leaked)
    assert done.returncode == 1, done.stdout + done.stderr
    assert leaked == []
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert f"pid {before['pid']}" in lines[0] and f"port {daemon.port}" in lines[0], lines[0]
    # Nothing of the refused daemon ran, and the first one kept its hosts.
    after = daemon.status()
    assert after["ready"]
    assert {d["name"]: d["pid"] for d in after["drivers"]} == hosts
    assert all(psutil.pid_exists(pid) for pid in hosts.values())


def test_the_lock_goes_with_a_sigkilled_daemon(tmp_path: Path) -> None:
    h = DaemonHarness(tmp_path)
    h.start()
    try:
        first = h.status()
        assert h.proc is not None
        os.kill(first["pid"], signal.SIGKILL)
        h.proc.wait(10)
        # No stale pid to clean up: the kernel released the lock.
        h.start()
        second = h.status()
        assert second["pid"] != first["pid"]
        # The hosts of the killed daemon were re-attached, not doubled.
        assert {d["pid"] for d in second["drivers"]} == {d["pid"] for d in first["drivers"]}
    finally:
        h.stop()


def test_a_second_daemon_spawns_no_host(daemon: DaemonHarness) -> None:
    """Straight `python -m sugo.daemon` on another port (as `sugo start` runs it)."""

    other = free_port()
    argv = [sys.executable, "-m", "sugo.daemon", "--appdir", str(daemon.appdir)]
    proc = subprocess.Popen(
        [*argv, "--port", str(other)], stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:  # today's code: it runs (and shares the database)
        _kill_all([proc.pid, *_processes_naming(other)])
        proc.communicate()
        raise AssertionError("a second daemon started on the same appdir") from None
    assert proc.returncode == 1, err
    assert "a daemon already runs" in err, err
    assert "a daemon already runs" in err, err
    wait_for(lambda: _processes_naming(other) == [], 5, "no process of the refused daemon")
    assert not list((daemon.appdir / "logs").glob(f"driver-*-{other}.log"))


def test_a_second_appdir_on_the_same_database_is_refused(make_daemon: Any) -> None:
    first = make_daemon()
    second = make_daemon(start=False)
    sfile = second.appdir / "settings.toml"
    shared = str(first.appdir / "data" / "sugo.db")
    sfile.write_text(sfile.read_text().replace(str(second.appdir / "data" / "sugo.db"), shared))
    hosts = {d["pid"] for d in first.status()["drivers"]}
    try:
        done = second.cli("start", "--timeout", "20")
    finally:
        leaked = _processes_naming(second.port)
        _kill_all(leaked)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"port {first.port}" in lines[0], done.stderr
    assert leaked == []
    assert {d["pid"] for d in first.status()["drivers"]} == hosts
