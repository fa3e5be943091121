"""The instrument registry: health codes, liveness, events and hooks,
maintenance reminders, job logs and task progress."""

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from sugo.errors import RequestFailed
from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, process_alive, wait_for
from tests.integration.test_jobs_lifecycle import payload

pytestmark = pytest.mark.integration

STRICT_DEVICES = """
[[devices]]
name = "dev-counter"
driver = "counter"
address = "sim"
channels = ["1"]
pollrate = 0.2

[[devices]]
name = "dev-strict"
driver = "faulty_strict"
address = "strict"
channels = ["1"]

[[pipelines]]
name = "pip-counter"
devices = [{ role = "counter", device = "dev-counter", channel = "1" }]
"""

MAINTENANCE_DEVICES = """
[[devices]]
name = "dev-counter"
driver = "counter"
address = "sim"
channels = ["1"]
pollrate = 0.1
maintenance = [
  { label = "clean", trigger = "jobs", threshold = 2, message = "clean the cell", blocking = true },
  { label = "calibrate", trigger = "task_hours", threshold = 100 },
]

[[pipelines]]
name = "pip-counter"
devices = [{ role = "counter", device = "dev-counter", channel = "1" }]
"""


def component(h: DaemonHarness, name: str) -> dict:
    return next(c for c in h.status()["components"] if c["name"] == name)


def test_components_have_health_codes(daemon: DaemonHarness) -> None:
    comp = component(daemon, "counter:(sim-counter,1)")
    assert (comp["code"], comp["label"], comp["error_count"]) == (100, "connected", 0)
    drivers = {d["name"]: d for d in daemon.status()["drivers"]}
    assert drivers["counter"]["code"] == 100
    out = daemon.cli("status", "components")
    assert out.returncode == 0 and "connected" in out.stdout and "CODE" in out.stdout


def test_required_driver_setting_missing(make_daemon) -> None:
    h = make_daemon(STRICT_DEVICES, start=False)
    h.start()  # ready: the strict driver failed for good, the counter is up
    status = h.status()
    strict = next(d for d in status["drivers"] if d["name"] == "faulty_strict")
    assert strict["state"] == "failed" and strict["code"] == 430
    assert "required setting 'serial' missing" in strict["error"]
    comp = component(h, "faulty_strict:(strict,1)")
    assert comp["code"] == 430 and comp["state"] == "failed"
    pid = strict["pid"]
    assert wait_for(lambda: not process_alive(pid), 5, "the failed host to exit")
    # It is not restarted in a loop.
    assert next(d for d in h.status()["drivers"] if d["name"] == "faulty_strict")["pid"] == pid
    out = h.cli("status", "drivers")
    assert "required setting 'serial' missing" in out.stdout
    # Adding the setting and reloading starts it.
    settings = h.appdir / "settings.toml"
    settings.write_text(settings.read_text() + '\n[drivers.faulty_strict]\nserial = "/dev/ttyS0"\n')
    h.call(api.Reload())
    h.wait_ready(10)
    assert component(h, "faulty_strict:(strict,1)")["code"] == 100


def test_hung_host_turns_4xx_and_comes_back(daemon: DaemonHarness) -> None:
    old = daemon.driver_pid("psutil")
    os.kill(old, signal.SIGSTOP)
    try:
        wait_for(
            lambda: component(daemon, "psutil:(localhost,0)")["code"] == 420,
            3,
            "the component to show 420 host restarting",
        )
        wait_for(
            lambda: (
                daemon.driver_pid("psutil") != old
                and component(daemon, "psutil:(localhost,0)")["code"] == 100
            ),
            5,
            "the host to be back",
        )
    finally:
        with contextlib.suppress(ProcessLookupError):  # it was killed, as it should be
            os.kill(old, signal.SIGCONT)
    kinds = [e["kind"] for e in daemon.call(api.Events())["events"]]
    assert "driver.died" in kinds and "component.status" in kinds


def test_component_restart(daemon: DaemonHarness) -> None:
    out = daemon.cli("--json", "component", "restart", "counter:(sim-counter,3)")
    assert out.returncode == 0, out.stderr
    assert "count" in json.loads(out.stdout)["capabilities"]
    assert component(daemon, "counter:(sim-counter,3)")["state"] == "idle"
    kinds = [e["kind"] for e in daemon.call(api.Events())["events"]]
    assert "component.restarting" in kinds


def test_event_sequence_of_a_job_and_a_hook(make_daemon, tmp_path: Path) -> None:
    received = tmp_path / "hook.json"
    hook = (
        "\n[[hooks]]\n"
        'events = ["job.ended"]\n'
        f"command = {json.dumps([sys.executable, '-c', _HOOK, str(received)])}\n"
        "timeout = 10\n"
    )
    h = make_daemon(extra_settings=hook)
    start = h.call(api.Events())["events"][-1]["id"]
    h.load_ready("pip-counter-1", "ev")
    job = h.submit(payload("ev", ("counter", 0.3, 0.1), ("counter", 0.2, 0.1)))
    assert h.wait_job(job["id"])["status"] == "c"
    events = [
        e for e in h.call(api.Events(after=start))["events"] if e["subject"] == f"job {job['id']}"
    ]
    kinds = [e["kind"] for e in events]
    assert kinds == [
        "job.queued",
        "job.started",
        "job.task_started",
        "job.task_ended",
        "job.task_started",
        "job.task_ended",
        "job.ended",
    ], kinds
    got = wait_for(lambda: received.exists() and json.loads(received.read_text()), 10, "the hook")
    assert got["kind"] == "job.ended" and got["subject"] == f"job {job['id']}"
    assert got["data"]["status"] == "c"


# Written to a temporary file, then renamed: the test never reads half a file.
_HOOK = (
    "import sys, pathlib; p = pathlib.Path(sys.argv[1]); t = p.with_suffix('.tmp');"
    " t.write_text(sys.stdin.read()); t.replace(p)"
)


def test_events_follow_is_a_long_poll(daemon: DaemonHarness) -> None:
    last = daemon.call(api.Events())["events"][-1]["id"]
    t0 = time.monotonic()
    assert daemon.call(api.Events(after=last, wait=0.3))["events"] == []
    assert time.monotonic() - t0 >= 0.25
    out = daemon.cli("--json", "events", "--last", "2")
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(lines) == 2 and lines[-1]["id"] == last


def test_maintenance_on_jobs_blocks_the_third_job(make_daemon) -> None:
    h = make_daemon(MAINTENANCE_DEVICES)
    h.load_ready("pip-counter", "m")
    short = payload("m", ("counter", 0.2, 0.1))
    for _ in range(2):
        job = h.submit(short)
        assert h.wait_job(job["id"])["status"] == "c"
        h.call(api.PipelineReady(pipeline="pip-counter"))
    items = {i["label"]: i for i in h.call(api.MaintenanceStatus())["items"]}
    assert items["clean"]["due"] is True and items["clean"]["used"] == 2
    assert items["calibrate"]["due"] is False and 0 < items["calibrate"]["used"] < 0.01
    comp = component(h, "counter:(sim,1)")
    assert comp["code"] == 210 and "clean the cell" in comp["text"]
    third = h.submit(short)
    waiting = wait_for(lambda: h.job(third["id"])["waiting"], 5, "a waiting reason")
    assert "maintenance 'clean' due on device dev-counter" in waiting
    assert h.job(third["id"])["status"] == "qw"
    jobs_out = h.cli("jobs", str(third["id"]))
    assert f"job {third['id']}: waiting on pip-counter: maintenance 'clean' due" in jobs_out.stdout
    # Counters survive a restart of the daemon.
    h.stop(force=False)
    h.start()
    assert {i["label"]: i for i in h.call(api.MaintenanceStatus())["items"]}["clean"]["due"]
    assert h.job(third["id"])["status"] == "qw"
    with pytest.raises(RequestFailed, match="no maintenance item"):
        h.call(api.MaintenanceDone(device="dev-counter", label="nope"))
    out = h.cli("maintenance", "done", "dev-counter", "clean")
    assert out.returncode == 0, out.stderr
    assert h.wait_job(third["id"])["status"] == "c"
    kinds = [e["kind"] for e in h.call(api.Events())["events"]]
    assert "maintenance.due" in kinds and "maintenance.done" in kinds


def test_job_log_has_driver_lines_and_tasks_have_times(daemon: DaemonHarness) -> None:
    daemon.load_ready("pip-counter-2", "log")
    job = daemon.submit(payload("log", ("counter", 0.3, 0.1), ("counter", 0.2, 0.1)))
    done = daemon.wait_job(job["id"])
    table = daemon.cli("jobs", str(job["id"])).stdout
    # Tasks count from 1 within their role, as in the watch: the second task is 2/2.
    assert f"job {job['id']}: counter task 2/2 count  completed  2 points" in table
    out = daemon.cli("job", "log", str(job["id"]))
    assert out.returncode == 0, out.stderr
    assert f"job {job['id']}: ended c" in out.stdout
    driver_lines = [x for x in out.stdout.splitlines() if x.startswith("[counter]")]
    assert driver_lines and all("(sim-counter,2)" in x for x in driver_lines)
    assert any("task" in x for x in driver_lines)
    assert all(t["state"] == "completed" for t in done["tasks"])
    assert all(t["started_at"] <= t["ended_at"] for t in done["tasks"])
    # Task progress survives a daemon restart.
    daemon.stop(force=False)
    daemon.start()
    assert daemon.job(job["id"])["tasks"] == done["tasks"]


def test_prune_keeps_running_jobs_and_results(daemon: DaemonHarness) -> None:
    daemon.load_ready("pip-counter-3", "p")
    job = daemon.submit(payload("p", ("counter", 0.2, 0.1)))
    done = daemon.wait_job(job["id"])
    queued = daemon.submit(payload("nobody", ("counter", 0.2, 0.1)))
    with pytest.raises(RequestFailed, match="retention_days"):
        daemon.call(api.JobPrune())
    got = daemon.call(api.JobPrune(days=0))
    assert got["pruned"] == [job["id"]]
    assert Path(done["respath"]).exists()
    assert not Path(done["jobdir"]).exists()
    assert daemon.job(queued["id"])["status"] == "qw"


FAULTY_DEVICES = """
[[devices]]
name = "dev-faulty"
driver = "faulty"
address = "f"
channels = ["1", "2"]

[[pipelines]]
name = "pip-f-*"
devices = [{ role = "f", device = "dev-faulty", channel = "each" }]
"""


def test_ping_finds_an_unplugged_device_and_reads_properties(make_daemon) -> None:
    h = make_daemon(FAULTY_DEVICES)
    comp = component(h, "faulty:(f,1)")
    assert comp["properties"] == {"model": "FLT-1", "serial": "F-f-1", "firmware": "1.0"}
    set_unplugged = api.ComponentCall(
        name="faulty:(f,1)", verb="dev_set_attr", args={"attr": "unplugged", "val": True}
    )
    h.call(set_unplugged)
    got = wait_for(lambda: (c := component(h, "faulty:(f,1)"))["code"] == 310 and c, 6, "code 310")
    assert "unplugged" in got["text"] and got["error_count"] >= 1
    assert component(h, "faulty:(f,2)")["code"] == 100  # the other channel is fine
    h.call(api.ComponentCall(name="faulty:(f,1)", verb="dev_set_attr",
                             args={"attr": "unplugged", "val": False}))  # fmt: skip
    wait_for(lambda: component(h, "faulty:(f,1)")["code"] == 100, 6, "recovery to 100")
