"""Agents on their own "PCs": Linux network namespaces joined to the daemon's
by veth pairs. Two agents, a job with roles on both, a link cut mid-job,
the agent back by itself, a stranger's key, and a packet capture.

Where namespaces cannot be made the module is skipped with the reason; the
same scenario on loopback (agent killed instead of a cut link) is
tests/integration/test_remote_hosts.py.
"""

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sugo.protocol import daemon_api as api
from sugo.protocol.keys import new_pair
from tests.integration.agents_kit import (
    agent_appdir,
    agents,
    start_agent,
    stop_agent,
    wait_state,
)
from tests.integration.harness import DaemonHarness, free_port, wait_for
from tests.integration.netns_kit import Capture, Lab
from tests.integration.results import points
from tests.integration.test_jobs_lifecycle import payload
from tests.integration.test_recovery import running_with_data

pytestmark = pytest.mark.integration

DEVICES = """
[[devices]]
name = "furnace"
driver = "counter"
address = "sim-furnace"
channels = ["1", "2"]
pollrate = 0.2
host = "pc1"

[[devices]]
name = "monitor"
driver = "psutil"
address = "localhost"
channels = ["0"]
pollrate = 0.5
host = "pc2"

[[pipelines]]
name = "pip-furnace-*"
devices = [{ role = "counter", device = "furnace", channel = "each" }]

[[pipelines]]
name = "pip-monitor"
devices = [{ role = "psutil", device = "monitor", channel = "0" }]

[[pipelines]]
name = "pip-both"
devices = [
  { role = "counter", device = "furnace", channel = "2" },
  { role = "psutil", device = "monitor", channel = "0" },
]
"""
PC1 = ("counter:(sim-furnace,1)", "counter:(sim-furnace,2)")
PC2 = ("psutil:(localhost,0)",)
TIMEOUT = 2.0  # the agents' alive timeout
MARKER = "NETNS-PLAINTEXT-MARKER-5be1"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    made, why = Lab.make(2)
    if made is None:
        pytest.skip(
            f"network namespaces not used: {why}; the loopback version of this scenario "
            "is tests/integration/test_remote_hosts.py"
        )
    yield made
    made.close()


def _psutil(sample: str, seconds: float) -> str:
    return payload(sample, ("psutil", seconds, 0.5)).replace('"count"', '"cpu_info"')


def _up(h: DaemonHarness, names: tuple[str, ...]) -> bool:
    comps = {c["name"]: c for c in h.status()["components"]}
    return all(comps[n]["code"] < 200 and comps[n]["state"] == "idle" for n in names)


def _codes(h: DaemonHarness, names: tuple[str, ...]) -> set[int]:
    comps = {c["name"]: c for c in h.status()["components"]}
    return {comps[n]["code"] for n in names}


def test_two_agents_a_cut_link_and_a_stranger(lab: Lab, tmp_path: Path) -> None:
    pc1, pc2 = lab.pcs
    port = free_port()
    h = DaemonHarness(tmp_path, DEVICES, extra_settings=f'\n[network]\nlisten = "tcp://*:{port}"\n')
    agents: list[Any] = []
    try:
        h.start()
        apps = {name: agent_appdir(h, name) for name in ("pc1", "pc2")}
        for pc, name in ((pc1, "pc1"), (pc2, "pc2")):
            ep = f"tcp://{pc.outer_ip}:{port}"
            agents.append(start_agent(apps[name], ep, name, TIMEOUT, netns=pc.ns))
        assert wait_state(h, "pc1", "alive")["address"] == pc1.inner_ip
        assert wait_state(h, "pc2", "alive")["address"] == pc2.inner_ip
        wait_for(lambda: _up(h, PC1 + PC2), 30, "both agents' components")

        # A job with roles on both agents, captured on pc1's link.
        capture = Capture(pc1.outer)
        h.load_ready("pip-both", MARKER)
        both = payload(MARKER, ("counter", 2, 0.1))
        both += _psutil(MARKER, 2).split("\n", 2)[2]  # its [[method]] only
        done = h.wait_job(h.submit(both)["id"], timeout=60)
        wire = capture.stop()
        assert done["status"] == "c", done
        assert points(done["respath"]) == {"counter": 20, "psutil": 4}
        assert len(wire) > 2000  # the job's traffic crossed this link...
        assert b"technique_name" not in wire and b"task_data" not in wire  # ...encrypted

        # pc1's link down for 5 s mid-job: only its job ends, `ce`, with what was staged.
        h.call(api.PipelineEject(pipeline="pip-both"))
        h.load_ready("pip-furnace-1", "cut")
        h.load_ready("pip-monitor", "calm")
        cut_job = running_with_data(h, h.submit(payload("cut", ("counter", 60, 0.1)))["id"])
        calm = h.submit(_psutil("calm", 8))["id"]
        pc1.link(up=False)
        t_cut = time.monotonic()
        wait_state(h, "pc1", "lost", timeout=TIMEOUT + 5)
        lost_after = time.monotonic() - t_cut
        assert _codes(h, PC1) == {440}
        ended = h.wait_job(cut_job["id"], timeout=20)
        assert ended["status"] == "ce", ended
        wait_for(lambda: Path(ended["respath"]).exists(), 10, "the results file")
        assert points(ended["respath"])["counter"] >= 1
        assert agents_state(h, "pc2") == "alive"
        time.sleep(max(0.0, 5.0 - (time.monotonic() - t_cut)))
        pc1.link(up=True)
        t_up = time.monotonic()
        wait_state(h, "pc1", "alive", timeout=10)
        back_after = time.monotonic() - t_up
        wait_for(lambda: _up(h, PC1), 30, "pc1's components again")
        assert h.wait_job(calm, timeout=30)["status"] == "c"
        h.call(api.PipelineEject(pipeline="pip-furnace-1"))
        h.load_ready("pip-furnace-1", "after")
        after = h.wait_job(h.submit(payload("after", ("counter", 1, 0.1)))["id"], timeout=30)
        assert after["status"] == "c" and points(after["respath"]) == {"counter": 10}
        print(f"\nnetns: pc1 lost {lost_after:.3f} s after the cut (timeout {TIMEOUT:g} s); "
              f"alive again {back_after:.3f} s after the link came back")  # fmt: skip
        assert lost_after <= TIMEOUT + 0.5
        assert back_after <= 1.0

        # A client with an unknown key, from pc2's namespace: no answer at all.
        stranger = tmp_path / "stranger"
        (stranger / "keys").mkdir(parents=True)
        shutil.copy(h.appdir / "keys" / "daemon.key", stranger / "keys")
        new_pair(tmp_path / "elsewhere", "intruder")
        for f in ("intruder.key", "intruder.key_secret"):
            shutil.copy(tmp_path / "elsewhere" / "keys" / f, stranger / "keys")
        done_cli = subprocess.run(
            ["ip", "netns", "exec", pc2.ns, sys.executable, "-m", "sugo.cli.main",
             "--appdir", str(stranger), "--connect", f"tcp://{pc2.outer_ip}:{port}", "status"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done_cli.returncode == 3, done_cli.stderr
        assert "key allowed" in done_cli.stderr
    finally:
        for proc in agents:
            stop_agent(proc)
        for pc in lab.pcs:
            pc.link(up=True)
        h.stop()


def agents_state(h: DaemonHarness, name: str) -> str:
    return str(agents(h)[name]["state"])
