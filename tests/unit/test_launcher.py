"""The fork-server launcher: warm starts, a lazy first start, restart after a death."""

import os
import signal
import time
from pathlib import Path

import pytest

from sugo.jobs import RUN_PRELOAD, RUNNER_MODULE
from sugo.platform import launcher as launcher_mod
from sugo.platform.launcher import Launcher

# A runner for job 1 of a daemon that is not there: it asks for the job's spec
# for a couple of seconds (time to look at its parent), then gives up.
ARGV = ["run", "1", "--daemon", "tcp://127.0.0.1:9"]


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def server_pid(launcher: Launcher) -> int:
    assert launcher._proc is not None
    return launcher._proc.pid


def test_spawns_from_the_warm_server_and_restarts_a_dead_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launcher_mod, "RESTART_AFTER", 0.0)
    launcher = Launcher(tmp_path / "fs.log", RUNNER_MODULE, RUN_PRELOAD)
    try:
        # Not started yet (the daemon starts it once the hosts are up): the
        # first spawn starts it instead of falling back to a cold start.
        tracked = launcher.spawn(ARGV, tmp_path / "job.log")
        first = server_pid(launcher)
        assert parent_of(tracked.pid) == first
        tracked.signal(signal.SIGKILL)
        assert tracked.wait(5)
        launcher.start()  # already running: nothing happens
        assert server_pid(launcher) == first
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while launcher._proc is not None and launcher._proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        tracked = launcher.spawn(ARGV, tmp_path / "job.log")
        second = server_pid(launcher)
        assert second != first and parent_of(tracked.pid) == second
        tracked.signal(signal.SIGKILL)
        assert tracked.wait(5)
    finally:
        launcher.close()
    assert launcher._proc is None
