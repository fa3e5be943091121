"""The agent registry over the network (loopback): register, heartbeat, lost,
back, removed; names, keys and events."""

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sugo.errors import RequestFailed
from sugo.protocol import agent_api
from tests.integration.agents_kit import (
    agent_appdir,
    agents,
    events,
    networked,
    running_agent,
    start_agent,
    stop_agent,
    wait_state,
)
from tests.integration.harness import DaemonHarness, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[DaemonHarness]:
    h = networked(tmp_path)
    h.start()
    yield h
    h.stop()


def test_register_heartbeat_lose_and_come_back(hub: DaemonHarness) -> None:
    listen = hub.listen  # type: ignore[attr-defined]
    app = agent_appdir(hub, "pc1")
    proc = start_agent(app, listen, "pc1", 1.0)
    try:
        first = wait_state(hub, "pc1", "alive")
        assert first["alive_timeout"] == 1.0 and first["address"] == "127.0.0.1"
        assert first["key"] and len(first["identity"]) == 32
        # Heartbeats keep it alive well past its timeout.
        time.sleep(2.0)
        assert agents(hub)["pc1"]["state"] == "alive"
        # A hard kill: no unregister. Lost within timeout + 0.5 s.
        proc.kill()
        proc.wait(5)
        killed = time.monotonic()
        wait_state(hub, "pc1", "lost", timeout=5.0)
        assert time.monotonic() - killed <= 1.0 + 0.5
    finally:
        stop_agent(proc)
    # The same key takes its name back without --overwrite.
    with running_agent(app, listen, "pc1", 1.0):
        again = wait_state(hub, "pc1", "alive")
        assert again["identity"] != first["identity"]
    kinds = [e["kind"] for e in events(hub)]
    assert kinds[:3] == ["agent.registered", "agent.lost", "agent.registered"]


def test_a_clean_stop_unregisters(hub: DaemonHarness) -> None:
    app = agent_appdir(hub, "pc2")
    proc = start_agent(app, hub.listen, "pc2", 2.0)  # type: ignore[attr-defined]
    try:
        wait_state(hub, "pc2", "alive")
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(15) == 0
        said = (app / "agent-pc2.out").read_text()
        assert "unregistered" in said, said
        # The daemon recorded it before it answered: no wait.
        assert agents(hub)["pc2"]["state"] == "removed"
    finally:
        stop_agent(proc)
    removed = [e for e in events(hub) if e["kind"] == "agent.removed"]
    assert removed and removed[0]["data"]["reason"] == "unregistered"
    listed = hub.cli("status", "agents", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert set(row) >= {"name", "identity", "address", "state", "last_heartbeat",
                        "alive_timeout", "devices"}  # fmt: skip
    assert row["state"] == "removed"


def test_a_name_in_use_is_refused_unless_overwrite(hub: DaemonHarness) -> None:
    listen = hub.listen  # type: ignore[attr-defined]
    first, second = agent_appdir(hub, "a1"), agent_appdir(hub, "a2")
    with running_agent(first, listen, "shared", 2.0):
        wait_state(hub, "shared", "alive")
        held = agents(hub)["shared"]["identity"]
        refused = start_agent(second, listen, "shared", 2.0)
        assert refused.wait(20) == 1
        out = (second / "agent-shared.out").read_text()
        assert "refused" in out and "in use" in out and "--overwrite" in out
        assert agents(hub)["shared"]["identity"] == held
        with running_agent(second, listen, "shared", 2.0, "--overwrite"):
            wait_for(
                lambda: agents(hub)["shared"]["identity"] != held, 10, "the name to be taken over"
            )
    kinds = [(e["kind"], e["data"].get("reason")) for e in events(hub)]
    assert ("agent.removed", "replaced") in kinds


def test_status_agents_table(hub: DaemonHarness) -> None:
    app = agent_appdir(hub, "pc3")
    with running_agent(app, hub.listen, "pc3", 3.0):  # type: ignore[attr-defined]
        wait_state(hub, "pc3", "alive")
        done = hub.cli("status", "agents")
    assert done.returncode == 0, done.stderr
    assert "pc3" in done.stdout and "alive" in done.stdout and "3 s" in done.stdout


def test_the_plain_local_socket_registers_no_agent(hub: DaemonHarness) -> None:
    with pytest.raises(RequestFailed, match=r"\[network\] listen endpoint only"):
        hub.call(agent_api.AgentRegister(name="sneaky"))
    assert "sneaky" not in agents(hub)
