"""Driver hosts on an agent's PC (a device's `host = "NAME"`), on loopback:
the agent runs them, jobs use them like local ones, a lost agent ends only
its jobs (`ce`, staged data kept), and it comes back by itself."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sugo.protocol import daemon_api as api
from tests.integration.agents_kit import (
    agent_appdir,
    networked,
    start_agent,
    stop_agent,
    wait_state,
)
from tests.integration.harness import DaemonHarness, wait_for
from tests.integration.results import points
from tests.integration.test_jobs_lifecycle import payload
from tests.integration.test_recovery import running_with_data

pytestmark = pytest.mark.integration

DEVICES = """
[[devices]]
name = "remote-counter"
driver = "counter"
address = "sim-remote"
channels = ["1", "2"]
pollrate = 0.2
host = "pc1"

[[devices]]
name = "local-psutil"
driver = "psutil"
address = "localhost"
channels = ["0"]
pollrate = 0.5

[[pipelines]]
name = "pip-remote-*"
devices = [{ role = "counter", device = "remote-counter", channel = "each" }]

[[pipelines]]
name = "pip-local"
devices = [{ role = "psutil", device = "local-psutil", channel = "0" }]
"""
REMOTE = ("counter:(sim-remote,1)", "counter:(sim-remote,2)")


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[DaemonHarness]:
    h = networked(tmp_path, DEVICES)
    h.start()  # ready without waiting for the absent agent
    yield h
    h.stop()


def components(h: DaemonHarness) -> dict[str, dict]:
    return {c["name"]: c for c in h.status()["components"]}


def remote_up(h: DaemonHarness) -> bool:
    comps = components(h)
    return all(comps[n]["code"] < 200 and comps[n]["state"] == "idle" for n in REMOTE)


def test_jobs_on_an_agents_hosts_and_losing_the_agent(hub: DaemonHarness) -> None:
    comps = components(hub)
    assert all(comps[n]["code"] == 440 for n in REMOTE), comps
    assert "not registered" in comps[REMOTE[0]]["text"]
    listen = hub.listen  # type: ignore[attr-defined]
    app = agent_appdir(hub, "pc1")
    agent = start_agent(app, listen, "pc1", 1.0)
    try:
        wait_state(hub, "pc1", "alive")
        wait_for(lambda: remote_up(hub), 30, "the remote components to register")
        # A job on the remote host: every point, like a local one.
        hub.load_ready("pip-remote-1", "r1")
        job = hub.submit(payload("r1", ("counter", 1, 0.1)))
        done = hub.wait_job(job["id"], timeout=30)
        assert done["status"] == "c", done
        assert points(done["respath"]) == {"counter": 10}
        # A long job there, and one on the daemon's own PC.
        hub.load_ready("pip-remote-2", "r2")
        hub.load_ready("pip-local", "l1")
        remote_job = running_with_data(hub, hub.submit(payload("r2", ("counter", 60, 0.1)))["id"])
        local_payload = payload("l1", ("psutil", 3, 0.5)).replace('"count"', '"cpu_info"')
        local = hub.submit(local_payload)["id"]
        # The PC goes away: the agent and (tied to it) its hosts end at once.
        agent.kill()
        agent.wait(5)
        t0 = time.monotonic()
        wait_state(hub, "pc1", "lost", timeout=5)
        lost_after = time.monotonic() - t0
        assert lost_after <= 1.0 + 0.5
        ended = hub.wait_job(remote_job["id"], timeout=15)
        assert ended["status"] == "ce", ended
        wait_for(lambda: Path(ended["respath"]).exists(), 10, "the results file")
        assert points(ended["respath"])["counter"] >= 1  # staged before the loss
        comps = components(hub)
        assert all(comps[n]["code"] == 440 for n in REMOTE)
        assert hub.wait_job(local, timeout=30)["status"] == "c"  # nothing else waits on it
    finally:
        stop_agent(agent)
    # It comes back (same name, same key): its components register again.
    agent = start_agent(app, listen, "pc1", 1.0)
    try:
        t0 = time.monotonic()
        wait_for(lambda: remote_up(hub), 30, "the remote components to register again")
        print(f"lost after {lost_after:.3f} s; components back {time.monotonic() - t0:.3f} s")
        hub.call(api.PipelineEject(pipeline="pip-remote-2"))
        hub.load_ready("pip-remote-2", "r3")
        again = hub.wait_job(hub.submit(payload("r3", ("counter", 1, 0.1)))["id"], timeout=30)
        assert again["status"] == "c", again
    finally:
        stop_agent(agent)
    wait_state(hub, "pc1", "removed", timeout=10)


MISSING = """
[[devices]]
name = "exotic"
driver = "no_such_driver"
address = "x"
channels = ["1"]
host = "pc1"
"""


def test_a_driver_that_cannot_run_on_the_agent_is_reported(tmp_path: Path) -> None:
    h = networked(tmp_path, MISSING)
    h.start()
    agent = None
    try:
        app = agent_appdir(h, "pc1")
        agent = start_agent(app, h.listen, "pc1", 2.0)  # type: ignore[attr-defined]
        failed = wait_for(
            lambda: (d := h.status()["drivers"][0])["state"] == "failed" and d, 60,
            "the driver to be reported failed",
        )  # fmt: skip
        assert "on this agent's PC" in failed["error"] and "no_such_driver" in failed["error"]
        [comp] = h.status()["components"]
        assert comp["code"] == 430
    finally:
        if agent is not None:
            stop_agent(agent)
        h.stop()
