"""The process modes (sugo.platform) on a real daemon: how job processes
start, and that a control request reaches a runner in each mode."""

import subprocess
import sys
import time
from typing import Any

import psutil
import pytest

from sugo import platform
from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, wait_for
from tests.integration.test_jobs_lifecycle import payload

pytestmark = pytest.mark.integration


@pytest.mark.both_modes
def test_job_processes_start_and_take_requests_as_the_mode_says(
    daemon: DaemonHarness, process_mode: str
) -> None:
    daemon.load_ready("pip-counter-1", "m")
    job = daemon.submit(payload("m", ("counter", 30, 0.1)))
    daemon.wait_job(job["id"], ("r",))
    runner = psutil.Process(wait_for(lambda: daemon.job(job["id"])["runner_pid"], 10, "pid"))
    parent = runner.parent()
    assert parent is not None
    daemon_pid = daemon.status()["pid"]

    def tools() -> set[str]:
        return {
            " ".join(p.cmdline()[2:4])
            for p in psutil.Process(daemon_pid).children()
            if "sugo.platform." in " ".join(p.cmdline())
        }

    # Both kinds are there once the daemon has started them (after its hosts
    # are up), or at their first use.
    kind = "forkserver" if process_mode == "fast" else "spare"
    wanted = {f"sugo.platform.{kind} run", f"sugo.platform.{kind} write"}
    assert wait_for(lambda: tools() if tools() >= wanted else None, 10, "both") == wanted
    if process_mode == "fast":
        # Forked from the warm fork server, which the daemon started.
        assert "sugo.platform.forkserver" in " ".join(parent.cmdline())
        assert parent.ppid() == daemon_pid
    else:
        # A fresh interpreter (started one ahead), child of the daemon; no fork server.
        assert parent.pid == daemon_pid
        assert "sugo.platform.spare" in " ".join(runner.cmdline())
    # The control requests reach the runner: a snapshot, then a cancel.
    wait_for(lambda: daemon.job(job["id"])["tasks"][0]["state"] == "running", 10, "the task")
    snap = daemon.call(api.Snapshot(jobid=job["id"]), timeout=30)
    assert snap["snappath"].endswith(".nc")
    t0 = time.monotonic()
    daemon.call(api.Cancel(ids=[job["id"]]))
    done = daemon.wait_job(job["id"], timeout=10)
    assert done["status"] == "cd"
    assert time.monotonic() - t0 < 5.0
    wait_for(
        lambda: not runner.is_running() or runner.status() == psutil.STATUS_ZOMBIE,
        5,
        "the runner to exit",
    )


def test_a_bad_process_mode_stops_the_daemon_with_one_line(
    make_daemon: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_daemon(start=False)
    monkeypatch.setenv(platform.MODE_ENV, "quick")
    cmd = [sys.executable, "-m", "sugo.daemon", "--appdir", str(h.appdir), "--port", str(h.port)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "sugo daemon: process mode 'quick': expected one of auto, fast, portable"
    )


def test_sugo_start_without_a_ready_pipe_polls_until_the_daemon_is_up(
    make_daemon: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows cannot hand the daemon a pipe (``pass_fds``): `sugo start` then
    asks the daemon until it is up."""
    from sugo.cli import lifecycle

    monkeypatch.setattr(lifecycle, "can_pass_fds", lambda: False)
    h = make_daemon(start=False)
    started = lifecycle.start_daemon(h.appdir, h.port)
    h.proc = lifecycle._spawned.pop(started.pid)  # the harness stops it
    assert "--ready-fd" not in psutil.Process(started.pid).cmdline()
    assert started.status is not None and started.status.ready
    assert h.status()["pid"] == started.pid
