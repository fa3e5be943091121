"""`sugo reload` refuses, before anything changes, a devices file naming a
driver that is not installed and driver settings the driver refuses
(issue 13, item 10): the working driver keeps running, its components and
pipelines stay, and a job still runs on them."""

import json
from pathlib import Path

import pytest

from tests.integration.harness import DaemonHarness
from tests.integration.test_jobs_lifecycle import payload

pytestmark = pytest.mark.integration

DEVICES = {
    "devices": [
        {"name": "dev-counter", "driver": "counter", "address": "sim", "channels": ["1"],
         "pollrate": 0.2},
    ],
    "pipelines": [
        {"name": "pip-counter",
         "devices": [{"role": "counter", "device": "dev-counter", "channel": "1"}]},
    ],
}  # fmt: skip


def snapshot(h: DaemonHarness) -> tuple[list, list, list]:
    """Drivers (name, pid, state), components and pipelines: what a reload could change."""
    status = h.status()
    drivers = sorted((d["name"], d["pid"], d["state"]) for d in status["drivers"])
    components = sorted((c["name"], c["state"]) for c in status["components"])
    pipelines = sorted((p["name"], p["sample"], p["ready"]) for p in status["pipelines"])
    return drivers, components, pipelines


def reload_refused(h: DaemonHarness, *expected: str) -> None:
    before = snapshot(h)
    got = h.cli("reload")
    assert got.returncode == 1, got
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1, got.stderr
    assert lines[0].startswith("sugo: reload refused, nothing changed: "), lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    assert snapshot(h) == before


def still_works(h: DaemonHarness) -> None:
    """A job runs to the end on the old driver."""
    h.load_ready("pip-counter", "s")
    job = h.submit(payload("s", ("counter", 0.3, 0.1)))
    assert h.wait_job(job["id"])["status"] == "c"
    assert h.status()["ready"]


@pytest.fixture
def h(make_daemon) -> DaemonHarness:  # type: ignore[no-untyped-def]
    return make_daemon(json.dumps(DEVICES), "devices.json")


def write_devices(h: DaemonHarness, driver: str, extra: list[dict] | None = None) -> None:
    devices = json.loads(json.dumps(DEVICES))
    devices["devices"][0]["driver"] = driver
    devices["devices"] += extra or []
    (h.appdir / "devices.json").write_text(json.dumps(devices))


def add_settings(h: DaemonHarness, text: str) -> Path:
    path = h.appdir / "settings.toml"
    path.write_text(path.read_text() + "\n" + text)
    return path


def test_a_driver_that_is_not_installed_keeps_the_old_driver(h: DaemonHarness) -> None:
    write_devices(h, "countr")
    reload_refused(h, "unknown driver 'countr' (available: ", "did you mean 'counter'?)")
    still_works(h)


def test_a_new_driver_that_is_not_installed_beside_a_kept_one(h: DaemonHarness) -> None:
    extra = {"name": "dev-x", "driver": "spectro", "address": "x", "channels": ["1"]}
    write_devices(h, "counter", [extra])
    reload_refused(h, "unknown driver 'spectro'")
    still_works(h)


def test_settings_the_driver_refuses_keep_it_running(h: DaemonHarness) -> None:
    add_settings(h, "[drivers.counter]\nreset_dealy = 1.0\n")
    reload_refused(h, "driver counter: unknown setting(s) reset_dealy (did you mean reset_delay?)")
    still_works(h)


def test_a_new_driver_missing_a_required_setting_is_refused(h: DaemonHarness) -> None:
    extra = {"name": "dev-s", "driver": "faulty_strict", "address": "s", "channels": ["1"]}
    write_devices(h, "counter", [extra])
    reload_refused(h, "driver faulty_strict: required setting 'serial' missing")
    # Fixed, the same reload applies and the driver starts.
    add_settings(h, '[drivers.faulty_strict]\nserial = "/dev/null"\n')
    got = h.cli("reload")
    assert got.returncode == 0, got.stderr
    status = h.wait_ready(15)
    assert sorted(d["name"] for d in status["drivers"]) == ["counter", "faulty_strict"]
    assert all(d["state"] == "ready" for d in status["drivers"]), status["drivers"]
