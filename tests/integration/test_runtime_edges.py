"""Real-lab mishaps at run time (issue 13, items 4, 7, 8): a SIGTERM to the
daemon, a hung `do_task`, a slow reset and a component that ignores stop."""

import os
import signal
import time

import pytest

from sugo.errors import RequestFailed
from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, process_alive, wait_for
from tests.integration.results import points
from tests.integration.test_jobs_lifecycle import payload
from tests.integration.test_recovery import running_with_data

pytestmark = pytest.mark.integration


def test_sigterm_to_the_daemon_leaves_running_jobs_as_a_sigkill_does(
    daemon: DaemonHarness,
) -> None:
    daemon.load_ready("pip-counter-1", "t")
    job = running_with_data(daemon, daemon.submit(payload("t", ("counter", 3, 0.1)))["id"])
    host = daemon.driver_pid("counter")
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGTERM)  # kill PID, systemd, an OS shutdown
    daemon.proc.wait(10)
    # The runner and the driver hosts go on without the daemon...
    assert process_alive(job["runner_pid"]) and process_alive(host)
    log = (daemon.appdir / "logs" / f"daemon-{daemon.port}.log").read_text()
    assert "SIGTERM: leaving 1 running job and 2 driver hosts running" in log
    assert "`sugo start` re-attaches" in log
    # ...and the next start re-attaches: the job ends `c` with every point.
    daemon.start()
    assert daemon.driver_pid("counter") == host
    done = daemon.wait_job(job["id"], timeout=20)
    assert done["status"] == "c", done
    assert points(done["respath"]) == {"counter": 30}


FAULTY = """\
[[devices]]
name = "dev-faulty"
driver = "faulty"
address = "f"
channels = ["1"]
pollrate = 0.1

[[pipelines]]
name = "pip-f"
devices = [{ role = "counter", device = "dev-faulty", channel = "1" }]
"""
COMP = "faulty:(f,1)"


def faulty_payload(sample: str, duration: float, unlock: bool = False, **params: object) -> str:
    """One `count` task at 0.1 s on the faulty component, with ``params``."""
    lines = ['version = "2.2"', f'sample = {{ identifier = "{sample}" }}']
    if unlock:
        lines += ["[settings]", "unlock_when_done = true"]
    lines += [
        "[[method]]",
        'component_role = "counter"',
        'technique_name = "count"',
        f"max_duration = {duration}",
        "sampling_interval = 0.1",
    ]
    if params:
        values = ", ".join(
            f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in params.items()
        )
        lines.append(f"task_params = {{ {values} }}")
    return "\n".join(lines) + "\n"


def component(h: DaemonHarness) -> dict:
    return next(c for c in h.status()["components"] if c["name"] == COMP)


def test_hung_do_task_ends_its_job_and_keeps_the_component_off_jobs(make_daemon) -> None:
    h = make_daemon(FAULTY, extra_settings="\n[drivers.faulty]\ntask_grace = 1.0\n")
    h.load_ready("pip-f", "w")
    # Three points, then do_task hangs for a minute (an instrument that stopped answering).
    job = h.submit(faulty_payload("w", 1.0, hang_after=3, hang_seconds=60))
    t0 = time.monotonic()
    done = h.wait_job(job["id"], timeout=15)
    ended = time.monotonic() - t0
    # The watchdog ends the task 1 s after its max_duration: the job ends with its data.
    assert done["status"] == "ce", done
    assert "hangs" in done["error"], done["error"]
    assert points(done["respath"]) == {"counter": 3}
    assert ended < 8, f"the hung job took {ended:.1f} s to end"
    # The component shows 330 "task hung" (not 110 running) and takes no task...
    hung = wait_for(lambda: (c := component(h))["code"] == 330 and c, 6, "status 330")
    assert hung["label"] == "task hung" and "hangs" in hung["text"]
    with pytest.raises(RequestFailed, match="takes no task"):
        h.call(api.ComponentCall(name=COMP, verb="task_start", args={"task": TASK}, force=True))
    # ...until `sugo component restart` brings it back; then a job runs on it.
    restart = h.cli("component", "restart", COMP)
    assert restart.returncode == 0, restart.stderr
    wait_for(lambda: component(h)["code"] == 100, 6, "status 100 after the restart")
    h.load_ready("pip-f", "w")
    again = h.wait_job(h.submit(faulty_payload("w", 0.5))["id"], timeout=15)
    assert again["status"] == "c", again
    assert points(again["respath"]) == {"counter": 5}


TASK = {
    "component_role": "counter",
    "technique_name": "count",
    "max_duration": 0.3,
    "sampling_interval": 0.1,
}


def test_a_20_s_reset_before_a_chained_job(make_daemon) -> None:
    h = make_daemon(FAULTY)
    h.load_ready("pip-f", "r")
    # The first job slows the component's reset to 20 s: its end reset takes that long,
    # right before the second job, queued behind it on the same pipeline.
    first = h.submit(faulty_payload("r", 1.0, unlock=True, reset_delay=20))
    second = h.submit(faulty_payload("r", 1.0))
    done = [h.wait_job(j["id"], timeout=90) for j in (first, second)]
    assert [d["status"] for d in done] == ["c", "c"], done
    assert [points(d["respath"]) for d in done] == [{"counter": 10}, {"counter": 10}]
    log = (h.appdir / "logs" / f"driver-faulty-{h.port}.log").read_text()
    assert log.count("dev_reset") >= 3  # the slow one did happen


def test_cancel_of_a_task_that_ignores_stop_ends_in_bounded_time(make_daemon) -> None:
    h = make_daemon(FAULTY, extra_settings="\n[drivers.faulty]\nstop_timeout = 1.0\n")
    h.load_ready("pip-f", "s")
    job = h.submit(faulty_payload("s", 60, ignore_stop=True))
    running_with_data(h, job["id"])
    h.call(api.Cancel(ids=[job["id"]]))
    t0 = time.monotonic()
    done = h.wait_job(job["id"], timeout=20)
    took = time.monotonic() - t0
    # stop (ignored), 1 s later a forced stop: `cd` with the data, not `rd` for 60 s.
    assert done["status"] == "cd", done
    assert took < 6, f"the cancel took {took:.1f} s"
    n = points(done["respath"])["counter"]
    assert 3 <= n < 100
    log = (h.appdir / "logs" / f"driver-faulty-{h.port}.log").read_text()
    assert "ignore_stop: not stopping the task" in log and "forcing task" in log
    status = h.call(api.ComponentCall(name=COMP, verb="task_status"))
    assert status["running"] is False
