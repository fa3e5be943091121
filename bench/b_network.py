"""Remote components: what CURVE costs (issue 17's targets).

    python -m bench.b_network latency   # one task_data poll: plain, CURVE, CURVE over veth
    python -m bench.b_network load      # 2 hosts x 32 components at 10 Hz, CURVE: host CPU

``latency`` runs a counter host in a child process (as an agent runs it:
CURVE with the agent's pair, the daemon's key allowed; or plain, as the
daemon's own hosts) and times task_data polls from this process (as a job
runner polls), alternating plain and CURVE rounds. ``load`` runs two CURVE
hosts (two agents) of 32 components sampling at 10 Hz, polls each
component at 10 Hz from 64 threads of another process, and prints each host
process's CPU. As root on Linux, ``latency`` also polls a CURVE host in
another network namespace across a veth pair (a remote component, as the
namespace tests run it).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from sugo.protocol import host_api
from sugo.protocol.client import Client
from sugo.protocol.keys import (
    PROCESS_ALLOW_ENV,
    PROCESS_KEY_ENV,
    curve_endpoint,
    ensure_daemon_pair,
    keys_dir,
    new_pair,
)

HOST = r"""
import os, sys, threading, time
from sugo.driverinterface.host import DriverHost
from sugo.driverinterface.loader import load_driver
from sugo.protocol.keys import PROCESS_ALLOW_ENV, process_pair
n, seconds, bind = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
curve = process_pair() if os.environ.get(PROCESS_ALLOW_ENV) else None
host = DriverHost("counter", bind=bind, interface=load_driver("counter")({}), curve=curve)
for i in range(n):
    host.interface.dev_register(address="a", channel=str(i))
    host.interface.task_start(address="a", channel=str(i), task={
        "component_role": "c", "technique_name": "count",
        "max_duration": seconds, "sampling_interval": 0.1})
print(host.loop.port, flush=True)
threading.Thread(target=host.loop.run, daemon=True).start()
time.sleep(seconds)
"""

POLLER = r"""
import sys, threading, time
from sugo.protocol import host_api
from sugo.protocol.client import Client
eps, n, seconds = sys.argv[1].split(","), int(sys.argv[2]), float(sys.argv[3])
got, gaps, lock = [0], [0], threading.Lock()
def poll(ep, channel):
    ack = 0
    with Client(ep) as c:
        t0, k = time.monotonic(), 0
        while time.monotonic() - t0 < seconds:
            reply, _ = c.request(host_api.TaskData(address="a", channel=channel, ack=ack))
            for chunk in reply.data["chunks"]:
                if chunk["seq"] > ack:
                    with lock:
                        got[0] += chunk["points"]
                        gaps[0] += chunk["seq"] != ack + 1
                    ack = chunk["seq"]
            k += 1
            time.sleep(max(0.0, t0 + k * 0.1 - time.monotonic()))
threads = [threading.Thread(target=poll, args=(ep, str(i))) for ep in eps for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print(got[0], gaps[0])
"""


def _keys() -> tuple[dict[str, str], dict[str, str]]:
    """(the host's environment, this process's) for CURVE, in a temporary app folder."""
    appdir = Path(tempfile.mkdtemp(prefix="sugo-bench-net-"))
    ensure_daemon_pair(appdir)
    new_pair(appdir, "agent")
    folder = keys_dir(appdir)
    host_env = {
        **os.environ,
        PROCESS_KEY_ENV: str(folder / "agent.key_secret"),
        PROCESS_ALLOW_ENV: str(folder / "daemon.key"),
    }
    return host_env, {PROCESS_KEY_ENV: str(folder / "daemon.key_secret")}


def _host(
    n: int, seconds: float, env: dict[str, str], bind: str = "127.0.0.1", netns: str = ""
) -> tuple[subprocess.Popen[str], int]:
    argv = [sys.executable, "-c", HOST, str(n), str(seconds), bind]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def _agent_key(env: dict[str, str]) -> bytes:
    from sugo.protocol.keys import load_pair

    path = Path(env[PROCESS_KEY_ENV])
    return load_pair(path.parent, "agent").public


def _veth() -> tuple[str, str, str] | None:
    """A network namespace joined to this one by a veth pair (root, Linux):
    (namespace, its address); None where it cannot be made."""
    tag = f"{os.getpid() % 10000:04d}"
    ns, outer, inner = f"sugob{tag}", f"sb{tag}o", f"sb{tag}i"
    subnet = 16 + os.getpid() % 200
    steps = [
        ["netns", "add", ns],
        ["link", "add", outer, "type", "veth", "peer", "name", inner],
        ["link", "set", inner, "netns", ns],
        ["addr", "add", f"10.{subnet}.250.1/24", "dev", outer],
        ["link", "set", outer, "up"],
        ["-n", ns, "addr", "add", f"10.{subnet}.250.2/24", "dev", inner],
        ["-n", ns, "link", "set", inner, "up"],
    ]
    for step in steps:
        if subprocess.run(["ip", *step], capture_output=True, check=False).returncode:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
            return None
    return ns, outer, f"10.{subnet}.250.2"


def latency(rounds: int, polls: int) -> None:
    host_env, own = _keys()
    os.environ.update(own)
    plain_env = {k: v for k, v in os.environ.items() if k != PROCESS_ALLOW_ENV}
    results: dict[str, list[float]] = {"plain": [], "curve": [], "veth+curve": []}
    veth = _veth() if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    try:
        for _ in range(rounds):
            for kind, times in results.items():
                if kind == "veth+curve" and veth is None:
                    continue
                times.append(_round(kind, polls, host_env, plain_env, veth))
    finally:
        if veth is not None:
            subprocess.run(["ip", "link", "del", veth[1]], capture_output=True, check=False)
            subprocess.run(["ip", "netns", "del", veth[0]], capture_output=True, check=False)
    plain = statistics.median(results["plain"])
    print(f"task_data poll, median of {rounds} rounds of {polls}:")
    print(f"  local (plain, loopback): {1e6 * plain:.0f} us")
    for kind in ("curve", "veth+curve"):
        if results[kind]:
            t = statistics.median(results[kind])
            print(f"  {kind}: {1e6 * t:.0f} us, {1e6 * (t - plain):+.0f} us")
    if veth is None:
        print("  (no network namespace: the veth figure needs root on Linux)")


def _round(
    kind: str, polls: int, host_env: dict[str, str], plain_env: dict[str, str],
    veth: tuple[str, str, str] | None,
) -> float:  # fmt: skip
    if kind == "veth+curve" and veth is not None:
        proc, port = _host(1, 60, host_env, bind=veth[2], netns=veth[0])
        ep = f"tcp://{veth[2]}:{port}"
    else:
        proc, port = _host(1, 60, host_env if kind == "curve" else plain_env)
        ep = f"tcp://127.0.0.1:{port}"
    if kind != "plain":
        ep = curve_endpoint(ep, _agent_key(host_env))
    times = []
    with Client(ep, timeout=5.0) as c:
        ack = 0
        for _ in range(polls):
            t0 = time.perf_counter()
            reply, _ = c.request(host_api.TaskData(address="a", channel="0", ack=ack))
            times.append(time.perf_counter() - t0)
            if reply.data["chunks"]:
                ack = reply.data["chunks"][-1]["seq"]
    proc.kill()
    proc.wait()
    return statistics.median(times[polls // 10 :])


def load(seconds: float) -> None:
    host_env, own = _keys()
    os.environ.update(own)
    hosts = [_host(32, seconds + 30, host_env) for _ in range(2)]
    key = _agent_key(host_env)
    eps = [curve_endpoint(f"tcp://127.0.0.1:{port}", key) for _, port in hosts]
    procs = [psutil.Process(p.pid) for p, _ in hosts]
    time.sleep(1.0)
    before = [p.cpu_times() for p in procs]
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", POLLER, ",".join(eps), "32", str(seconds)], check=True,
        env={**os.environ}, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.monotonic() - t0
    got, gaps = (int(x) for x in done.stdout.split())
    # Sampling began before the polls: the first poll of each also gets what was waiting.
    print(f"64 components: {got} points in {wall:.1f} s ({got / 64 / wall:.1f}/s each, "
          f"sampling at 10/s), {gaps} gaps in the chunk sequence")  # fmt: skip
    for i, (p, b) in enumerate(zip(procs, before, strict=True)):
        a = p.cpu_times()
        cpu = (a.user + a.system - b.user - b.system) / wall
        print(f"CURVE host {i + 1}: 32 components at 10 Hz, polled at 10 Hz: "
              f"{100 * cpu:.1f} % of a core")  # fmt: skip
    for p, _ in hosts:
        p.kill()
        p.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.b_network")
    sub = parser.add_subparsers(dest="what", required=True)
    q = sub.add_parser("latency")
    q.add_argument("--rounds", type=int, default=5)
    q.add_argument("--polls", type=int, default=2000)
    q = sub.add_parser("load")
    q.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    if args.what == "latency":
        latency(args.rounds, args.polls)
    else:
        load(args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
