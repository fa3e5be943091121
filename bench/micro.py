"""Micro-benchmarks of the polling hot path, for profiling changes to it.

    python -m bench.micro host     # a driver host's CPU with 64 components polled at 5 Hz
    python -m bench.micro runner   # a job runner's CPU per task_data poll
    python -m bench.micro runner --profile   # the same under cProfile (thread CPU time)

``host`` runs a counter driver host in this process (64 components sampling
at 10 Hz) and 64 polling threads in a child process (one connection each,
5 polls a second, acknowledging what they got, as job runners do), and
prints the host process's CPU. ``runner`` starts such a host in a child
process and drives the runner's own poll code (``RoleRunner._poll`` and its
wait) from one thread against one component, every 5 ms, staging into a
temporary folder; it prints the CPU per poll of this process (the role
thread and the ZeroMQ I/O thread).

``--curve`` runs both with CURVE as the daemon's processes have it (the
daemon's keys in the environment: the host serves CURVE and every client
uses it), to compare with the plain figure.

The machine is shared: run each figure a few times, alternating the code
being compared, and compare medians.
"""

import argparse
import cProfile
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sugo.driverinterface.host import DriverHost
from sugo.driverinterface.loader import load_driver
from sugo.jobs import roles
from sugo.jobs.staging_writer import StagingWriter
from sugo.protocol import host_api
from sugo.protocol.client import Client
from sugo.protocol.keys import (
    PROCESS_ALLOW_ENV,
    daemon_family_env,
    ensure_local_keys,
    process_pair,
)

POLLER = r"""
import sys, threading, time
from sugo.protocol import host_api
from sugo.protocol.client import Client

ep, n, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

def poll(channel):
    ack = 0
    with Client(ep) as c:
        t0, k = time.monotonic(), 0
        while time.monotonic() - t0 < seconds:
            reply, _ = c.request(host_api.TaskData(address="a", channel=channel, ack=ack))
            if reply.data["chunks"]:
                ack = reply.data["chunks"][-1]["seq"]
            k += 1
            time.sleep(max(0.0, t0 + k * 0.2 - time.monotonic()))

threads = [threading.Thread(target=poll, args=(str(i),)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def counter_host(components: int, seconds: float) -> tuple[DriverHost, str]:
    """A counter host in this process, every component running a task."""
    # With --curve (the daemon family's keys in the environment), as a daemon's host.
    curve = process_pair() if os.environ.get(PROCESS_ALLOW_ENV) else None
    interface = load_driver("counter")({})
    host = DriverHost("counter", bind="127.0.0.1", interface=interface, curve=curve)
    threading.Thread(target=host.loop.run, name="host-loop", daemon=True).start()
    for i in range(components):
        host.interface.dev_register(address="a", channel=str(i))
    endpoint = f"tcp://127.0.0.1:{host.loop.port}"
    task = {"component_role": "c", "technique_name": "count",
            "max_duration": seconds, "sampling_interval": 0.1}  # fmt: skip
    with Client(endpoint) as c:
        for i in range(components):
            c.call(host_api.TaskStart(address="a", channel=str(i), task=task))
    return host, endpoint


def host_figure(components: int, seconds: float) -> None:
    _host, endpoint = counter_host(components, seconds + 10)
    time.sleep(0.5)
    c0, w0 = cpu_seconds(), time.monotonic()
    time.sleep(2.0)
    sampling = (cpu_seconds() - c0) / (time.monotonic() - w0)
    c0, w0 = cpu_seconds(), time.monotonic()
    poller = [sys.executable, "-c", POLLER, endpoint, str(components), str(seconds)]
    subprocess.run(poller, check=True)
    total = (cpu_seconds() - c0) / (time.monotonic() - w0)
    polls = components * 5
    print(
        f"host, {components} components at 10 Hz: sampling alone {100 * sampling:.1f} % of a core"
    )
    print(f"  polled {polls}/s: {100 * total:.1f} % of a core,"
          f" {1e6 * (total - sampling) / polls:.0f} us of CPU per poll")  # fmt: skip


def runner_figure(seconds: float, fsync_interval: float, profile: bool) -> None:
    root = str(Path(__file__).resolve().parents[1])
    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {root!r})\n"
        "from bench.micro import counter_host\n"
        f"_h, ep = counter_host(1, {seconds + 10})\n"
        "print(ep, flush=True)\n"
        f"time.sleep({seconds + 10})\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip()
        folder = Path(tempfile.mkdtemp(prefix="sugo-micro-"))
        # The parts of a RoleRunner that _poll uses.
        role: Any = SimpleNamespace(
            comp=SimpleNamespace(address="a", channel="0", name="counter:(a,0)"),
            spec=SimpleNamespace(role="c"),
            staging=StagingWriter(folder, fsync=True, fsync_interval=fsync_interval),
            last_seq=0,
            points=0,
        )
        role._call = lambda client, req: roles.RoleRunner._call(role, client, req)
        shared = roles.Shared()
        with Client(endpoint, timeout=1.0) as client:
            for _ in range(20):
                roles.RoleRunner._poll(role, client, 0)
            prof = cProfile.Profile(time.thread_time) if profile else None
            c0, w0, n, seen = cpu_seconds(), time.monotonic(), 0, -1
            if prof:
                prof.enable()
            while time.monotonic() - w0 < seconds:
                roles.RoleRunner._poll(role, client, 0)
                n += 1
                seen = shared.wait(0.005, seen)
            if prof:
                prof.disable()
            per_poll = (cpu_seconds() - c0) / n
        role.staging.close()
        print(
            f"runner: {n} polls, {role.points} points staged: {1e6 * per_poll:.0f} us"
            f" of CPU per poll (fsync_interval {fsync_interval:g} s)"
        )
        if prof:
            pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    finally:
        server.kill()
        server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.micro", description=__doc__.split("\n")[0]
    )
    parser.add_argument("what", choices=["host", "runner"])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--components", type=int, default=64, help="host: components polled")
    parser.add_argument(
        "--fsync-interval", type=float, default=1.0, help="runner: [jobs] fsync_interval"
    )
    parser.add_argument("--profile", action="store_true", help="runner: cProfile the poll loop")
    parser.add_argument("--curve", action="store_true", help="CURVE, as a daemon's hosts")
    args = parser.parse_args(argv)
    if args.curve:  # inherited by the child processes too
        keydir = Path(tempfile.mkdtemp(prefix="sugo-micro-keys-"))
        ensure_local_keys(keydir)
        os.environ.update(daemon_family_env(keydir))
    if args.what == "host":
        host_figure(args.components, args.seconds)
    else:
        runner_figure(args.seconds, args.fsync_interval, args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
