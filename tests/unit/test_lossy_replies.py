"""A job whose replies from the driver host get lost: nothing lost, nothing twice.

A real job runner (in-process, with a stand-in daemon) talks to a real counter
driver host through a zmq proxy that drops chosen replies. The runner retries
with the same request id; the host answers a retried ``task_start`` or
``task_stop`` from its cache and keeps unacknowledged data chunks, so the
results file holds exactly the points the device took, each once.
"""

import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq

from sugo.driverinterface.host import DriverHost
from sugo.driverinterface.loader import load_driver
from sugo.jobs import hostcalls, results, roles, run
from sugo.jobs.staging import read_chunks
from sugo.protocol import daemon_api as api
from sugo.protocol import wire
from sugo.protocol.server import ServerLoop
from tests.integration.results import open_results

DURATION, INTERVAL = 1.0, 0.05
TASK = {"component_role": "counter", "technique_name": "count", "max_duration": DURATION,
        "sampling_interval": INTERVAL}  # fmt: skip
POINTS = round(DURATION / INTERVAL)


class LossyProxy:
    """Forwards requests to ``target`` and drops the n-th reply (1-based) to
    each command listed in ``drop``. One backend socket per client socket,
    so a client that reconnects after a timeout is a new peer, as it would be
    for the host."""

    def __init__(self, target: str, drop: dict[str, set[int]]) -> None:
        self.target = target
        self.drop = drop
        self.replies: Counter[str] = Counter()
        self.dropped: list[tuple[str, int]] = []
        self.seen = threading.Condition()
        self.ctx: zmq.Context[Any] = zmq.Context.instance()
        self.front = self.ctx.socket(zmq.ROUTER)
        self.front.setsockopt(zmq.LINGER, 0)
        self.port = self.front.bind_to_random_port("tcp://127.0.0.1")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lossy-proxy", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def __enter__(self) -> "LossyProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def wait_replies(self, cmd: str, n: int, timeout: float) -> bool:
        with self.seen:
            return self.seen.wait_for(lambda: self.replies[cmd] >= n, timeout)

    def _run(self) -> None:
        backs: dict[bytes, zmq.Socket[Any]] = {}
        owner: dict[zmq.Socket[Any], bytes] = {}
        cmds: dict[str, str] = {}  # request id -> command
        poller = zmq.Poller()
        poller.register(self.front, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                for sock, _ in poller.poll(50):
                    if sock is self.front:
                        ident, *frames = self.front.recv_multipart()
                        req_id, cmd = wire.peek(frames[0])
                        cmds[req_id] = cmd
                        back = backs.get(ident)
                        if back is None:
                            back = backs[ident] = self.ctx.socket(zmq.DEALER)
                            back.setsockopt(zmq.LINGER, 0)
                            back.connect(self.target)
                            owner[back] = ident
                            poller.register(back, zmq.POLLIN)
                        back.send_multipart(frames)
                    else:
                        frames = sock.recv_multipart()
                        cmd = cmds.get(wire.decode_reply(frames[0]).id, "?")
                        with self.seen:
                            self.replies[cmd] += 1
                            n = self.replies[cmd]
                            self.seen.notify_all()
                        if n in self.drop.get(cmd, set()):
                            self.dropped.append((cmd, n))
                            continue
                        self.front.send_multipart([owner[sock], *frames])
        finally:
            for s in backs.values():
                s.close(linger=0)
            self.front.close(linger=0)


@pytest.fixture
def counter_host() -> Iterator[DriverHost]:
    host = DriverHost("counter", bind="127.0.0.1", interface=load_driver("counter")({}))
    thread = threading.Thread(target=host.loop.run, daemon=True)
    thread.start()
    host.interface.dev_register(address="a", channel="1")
    yield host
    host.teardown_all()
    host.loop.stop()
    thread.join(5)
    host.close()


SPECS: dict[int, api.JobSpec] = {}  # the jobs run_job started, for the fake daemon's writes


@pytest.fixture
def fake_daemon() -> Iterator[tuple[str, list[api.JobDone]]]:
    """Answers a runner's progress events, writes its results file (as the
    daemon's writer would) and records its job_done."""
    done: list[api.JobDone] = []

    def on_done(req: api.JobDone, call: Any) -> Any:
        done.append(req)
        return {"ok": True}

    def on_write(req: api.JobWrite, call: Any) -> Any:
        results.write_job_file(SPECS[req.jobid], Path(req.path), req.status, req.error)
        return {"respath": req.path}

    loop = ServerLoop(
        "fake daemon",
        {
            api.JobEvent: lambda req, call: {"ok": True},
            api.JobDone: on_done,
            api.JobWrite: on_write,
        },
        bind="127.0.0.1",
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{loop.port}", done
    loop.stop()
    thread.join(5)
    loop.close()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # A lost reply costs one request timeout; keep the test short.
    for module in (hostcalls, roles, run):  # each uses it under its own name
        monkeypatch.setattr(module, "HOST_TIMEOUT", 0.3)


def job_spec(tmp_path: Path, host: str) -> api.JobSpec:
    comp = api.ComponentInfo(
        name="counter:(a,1)", driver="counter", device="dev", address="a", channel="1",
        capabilities=["count"], state="busy", pollrate=0.1,
    )  # fmt: skip
    role = api.RoleSpec(
        role="counter", component=comp, host=host, tasks=[api.TaskSpec(index=0, task=TASK)]
    )
    return api.JobSpec(
        jobid=1, jobname=None, jobdir=str(tmp_path / "job"), respath=str(tmp_path / "r.nc"),
        fsync=False, verbosity="INFO", snapshot_interval=None,
        snappath=str(tmp_path / "s.nc"), roles=[role], job_json=json.dumps({"id": 1}),
    )  # fmt: skip


def file_uts(path: Path) -> np.ndarray:
    tree = open_results(path)
    try:
        return np.asarray(tree["counter"].to_dataset()["uts"].values)
    finally:
        tree.close()


def check_exactly_once(spec: api.JobSpec, host: DriverHost) -> int:
    """The file holds every point the device took, once; the device ran one task."""
    dm = host.interface.devmap[("a", "1")]
    status = dm.status()
    assert status["finished"] == 1, f"the device ran {status['finished']} tasks"
    staged = [c.seq for c in read_chunks(Path(spec.jobdir))]
    assert staged == list(range(1, len(staged) + 1)), f"staged chunk seqs: {staged}"
    uts = file_uts(Path(spec.respath))
    assert uts.size == status["points"], (
        f"{uts.size} points in the file, device took {status['points']}"
    )
    # Strictly increasing on the sampling schedule: a duplicate would sit ~0 s
    # from its twin (the writer nudges equal uts by one ulp), a lost point 2 Δ away.
    gaps = np.diff(uts)
    assert gaps.min() > INTERVAL / 2 and gaps.max() < INTERVAL * 1.5, (gaps.min(), gaps.max())
    return int(uts.size)


def run_job(spec: api.JobSpec, daemon: str) -> threading.Thread:
    SPECS[spec.jobid] = spec
    job = run.JobRunner(spec, daemon)
    thread = threading.Thread(target=job.run, name="job", daemon=True)
    thread.start()
    thread.job = job  # type: ignore[attr-defined]
    return thread


def test_lost_task_start_and_data_replies(
    tmp_path: Path, counter_host: DriverHost, fake_daemon: tuple[str, list[api.JobDone]]
) -> None:
    daemon, done = fake_daemon
    host = f"tcp://127.0.0.1:{counter_host.loop.port}"
    with LossyProxy(host, {"task_start": {1}, "task_data": {3, 6}}) as proxy:
        spec = job_spec(tmp_path, proxy.endpoint)
        run_job(spec, daemon).join(15)
    assert sorted(proxy.dropped) == [("task_data", 3), ("task_data", 6), ("task_start", 1)]
    assert [(d.status, d.error) for d in done] == [("c", None)]
    assert check_exactly_once(spec, counter_host) == POINTS


def test_lost_task_stop_reply_on_cancel(
    tmp_path: Path, counter_host: DriverHost, fake_daemon: tuple[str, list[api.JobDone]]
) -> None:
    daemon, done = fake_daemon
    host = f"tcp://127.0.0.1:{counter_host.loop.port}"
    with LossyProxy(host, {"task_stop": {1}, "task_data": {4}}) as proxy:
        spec = job_spec(tmp_path, proxy.endpoint)
        thread = run_job(spec, daemon)
        assert proxy.wait_replies("task_data", 3, 5.0)
        job: run.JobRunner = thread.job  # type: ignore[attr-defined]
        job.shared.cancel.set()
        job.shared.notify()
        thread.join(15)
    assert sorted(proxy.dropped) == [("task_data", 4), ("task_stop", 1)]
    assert [d.status for d in done] == ["cd"]
    n = check_exactly_once(spec, counter_host)
    assert 0 < n < POINTS
