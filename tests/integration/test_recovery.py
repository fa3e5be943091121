"""Crashes of a job runner, a driver host or the daemon lose no data and
leave no job or pipeline stuck."""

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, process_alive, wait_for
from tests.integration.results import job_record, points
from tests.integration.test_jobs_lifecycle import payload

pytestmark = pytest.mark.integration


def running_with_data(h: DaemonHarness, jobid: int, min_points: int = 3) -> dict:
    def enough() -> dict | None:
        job = h.job(jobid)
        staged = Path(job["jobdir"]) / "staging"
        size = sum(f.stat().st_size for f in staged.glob("*")) if staged.exists() else 0
        return job if job["status"] == "r" and size > 0 else None

    return wait_for(enough, 10, f"job {jobid} to stage data")


@pytest.mark.both_modes
def test_job_runner_killed(daemon: DaemonHarness) -> None:
    daemon.load_ready("pip-counter-1", "k")
    job = daemon.submit(payload("k", ("counter", 30, 0.05)))
    job = running_with_data(daemon, job["id"])
    os.kill(job["runner_pid"], signal.SIGKILL)
    done = daemon.wait_job(job["id"], timeout=5)  # noticed at once, not by a poll
    assert done["status"] == "ce" and "died" in done["error"]
    # The data polled before the kill is in the results file.
    wait_for(lambda: Path(done["respath"]).exists(), 10, "the results file")
    assert points(done["respath"])["counter"] >= 1
    assert job_record(done["respath"])["status"] == "ce"
    p = next(p for p in daemon.status()["pipelines"] if p["name"] == "pip-counter-1")
    assert p["jobid"] is None
    comp = "counter:(sim-counter,1)"
    wait_for(
        lambda: not daemon.call(api.ComponentCall(name=comp, verb="task_status"))["running"],
        5,
        "the component to be reset",
    )


@pytest.mark.both_modes
def test_driver_host_killed_during_job(daemon: DaemonHarness) -> None:
    daemon.load_ready("pip-counter-2", "h")
    job = running_with_data(daemon, daemon.submit(payload("h", ("counter", 30, 0.1)))["id"])
    old = daemon.driver_pid("counter")
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()
    done = daemon.wait_job(job["id"], timeout=6)
    assert time.monotonic() - t0 < 3.0
    assert done["status"] == "ce"
    staged = points(done["respath"])["counter"]
    assert staged >= 1
    # The task's record counts the points it took before the host died.
    [task] = done["tasks"]
    assert (task["state"], task["points"]) == ("error", staged), task
    assert task["error"] and task["ended_at"]
    status = daemon.wait_ready(5)
    assert daemon.driver_pid("counter") != old
    assert all(c["state"] == "idle" for c in status["components"])


def test_idle_driver_host_killed_comes_back(daemon: DaemonHarness) -> None:
    old = daemon.driver_pid("psutil")
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()
    wait_for(
        lambda: daemon.driver_pid("psutil") != old and daemon.status()["ready"],
        3.0,
        "the psutil host to be replaced",
    )
    assert time.monotonic() - t0 < 3.0
    caps = daemon.call(api.ComponentCall(name="psutil:(localhost,0)", verb="capabilities"))
    assert "all_info" in caps


@pytest.mark.both_modes
def test_daemon_killed_job_runs_on(daemon: DaemonHarness) -> None:
    daemon.load_ready("pip-counter-3", "d")
    job = running_with_data(daemon, daemon.submit(payload("d", ("counter", 3, 0.1)))["id"])
    queued = daemon.submit(payload("later", ("counter", 0.2, 0.1)))
    assert daemon.proc is not None
    daemon.proc.kill()
    daemon.proc.wait(5)
    daemon.start()
    done = daemon.wait_job(job["id"], timeout=20)
    assert done["status"] == "c"
    assert points(done["respath"]) == {"counter": 30}
    assert daemon.job(queued["id"])["status"] == "qw"


@pytest.mark.both_modes
def test_job_ending_while_daemon_is_down(daemon: DaemonHarness) -> None:
    daemon.load_ready("pip-counter-4", "e")
    job = running_with_data(daemon, daemon.submit(payload("e", ("counter", 1, 0.1)))["id"])
    assert daemon.proc is not None
    daemon.proc.kill()
    daemon.proc.wait(5)
    wait_for((Path(job["jobdir"]) / "final.json").exists, 10, "the runner to finish")
    daemon.start()
    done = daemon.wait_job(job["id"], timeout=5)
    assert done["status"] == "c"
    assert points(done["respath"]) == {"counter": 10}
    p = next(p for p in daemon.status()["pipelines"] if p["name"] == "pip-counter-4")
    assert p["jobid"] is None


def test_queued_jobs_survive_stop_and_start(daemon: DaemonHarness) -> None:
    ids = [daemon.submit(payload("q", ("counter", 0.2, 0.1)))["id"] for _ in range(2)]
    daemon.stop(force=False)
    daemon.start()
    assert [daemon.job(i)["status"] for i in ids] == ["qw", "qw"]
    daemon.load_ready("pip-counter-1", "q")
    assert daemon.wait_job(ids[0])["status"] == "c"


def test_hung_driver_host_is_replaced(daemon: DaemonHarness) -> None:
    old = daemon.driver_pid("psutil")
    os.kill(old, signal.SIGSTOP)
    try:
        # Two missed pings (0.4 s apart) and the hung host is killed: the
        # watcher's part, which machine load barely slows.
        wait_for(lambda: not process_alive(old), 5.0, "the hung psutil host to be killed")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(old, signal.SIGCONT)

    # Its replacement is a new interpreter: on a busy machine that takes seconds.
    def replaced() -> bool:
        status = daemon.status()
        pid = next(d["pid"] for d in status["drivers"] if d["name"] == "psutil")
        return pid not in (old, None) and bool(status["ready"])

    wait_for(replaced, 20.0, "the hung psutil host to be replaced")
