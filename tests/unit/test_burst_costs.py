"""What a burst of submits costs the daemon's loop (bench `scale`: 64 jobs at
once): a scheduling pass reads the store's view of pipelines, components and
health only when it has a job left to place; the rows decode their JSON
columns as Python's json would; the CURVE guard answers ZAP requests in a
plain thread (no asyncio loop per handshake)."""

import contextlib
import json
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
import zmq
from zmq.utils import z85

from sugo.daemon import scheduler as sched
from sugo.daemon.bus import Bus
from sugo.daemon.store.rows import ComponentRow, JobRow, PipelineRow, component_row, json_value
from sugo.jobs import RUN_PRELOAD, RUNNER_MODULE
from sugo.protocol.curve import Guard, curve_client, curve_server
from sugo.protocol.keys import ClientKeys, KeyPair
from sugo.protocol.states import ComponentState, JobStatus


class FakeStore:
    """Two free pipelines of one component each, and the queued jobs."""

    def __init__(self, jobs: list[JobRow]) -> None:
        self.jobs = jobs
        self.reads = 0
        self.pipelines = {
            n: PipelineRow(n, {"counter": f"c-{n}"}, "s1", True, None) for n in ("p1", "p2")
        }
        self.components = {
            f"c-{n}": ComponentRow(f"c-{n}", "counter", "d", "a", n, 0.2, (), ComponentState.IDLE)
            for n in ("p1", "p2")
        }

    def records_held(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def queued_jobs(self) -> list[JobRow]:
        return [j for j in self.jobs if j.status in (JobStatus.Q, JobStatus.QW)]

    def list_pipelines(self) -> list[PipelineRow]:
        self.reads += 1
        return list(self.pipelines.values())

    def list_components(self) -> list[ComponentRow]:
        return list(self.components.values())

    def all_health(self) -> dict[str, dict[str, Any]]:
        return {}

    def set_job_status(self, jobid: int, status: JobStatus) -> None:
        self.jobs = [msgspec.structs.replace(j, status=status) if j.id == jobid else j
                     for j in self.jobs]  # fmt: skip


def job(jobid: int) -> JobRow:
    return JobRow(jobid, None, JobStatus.Q, "{}", "s1", "ada", None, 0.0, None, None, "/o", None,
                  f"/j/{jobid}", None, None, None, None, None, False)  # fmt: skip


def run_pass(monkeypatch: pytest.MonkeyPatch, jobs: list[JobRow]) -> tuple[FakeStore, list[str]]:
    store = FakeStore(jobs)
    started: list[str] = []

    def start(j: JobRow, p: PipelineRow) -> None:  # what JobLifecycle.start changes
        store.pipelines[p.name] = msgspec.structs.replace(p, ready=False, jobid=j.id)
        store.set_job_status(j.id, JobStatus.R)
        started.append(f"{j.id}@{p.name}")

    monkeypatch.setattr(sched, "can_run", lambda payload, p, components: None)
    payloads: Any = SimpleNamespace(payload_of=lambda j: None)
    rt: Any = SimpleNamespace(store=store, stopping=False, loop=None)
    sched.Scheduler(rt, Bus(), payloads, lambda p: None, start)._run()
    return store, started


def test_a_pass_that_starts_its_last_job_reads_the_store_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, started = run_pass(monkeypatch, [job(1)])
    assert started == ["1@p1"]
    assert store.reads == 1  # not again after the start: no job is left to place


def test_after_a_start_the_next_job_sees_the_pipeline_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, started = run_pass(monkeypatch, [job(1), job(2), job(3)])
    assert started == ["1@p1", "2@p2"]  # job 3 waits: both pipelines are busy
    assert store.reads == 3


@pytest.mark.parametrize(
    "text",
    ['["count", "random"]', '{"counter": "dev/1"}', '{"a": 1, "a": 2}', "[NaN, Infinity]",
     "[1e400]", '["\\ud800"]', "[123456789012345678901234567890]", "[-0.0, 1.5e-300]", "{}"],
)  # fmt: skip
def test_json_columns_decode_as_python_json_does(text: str) -> None:
    got, want = json_value(text), json.loads(text)
    assert json.dumps(got) == json.dumps(want)
    if text.startswith("[NaN"):
        assert math.isnan(got[0])


def test_component_row_state_from_its_column() -> None:
    row = component_row(("c", "counter", "d", "a", "1", 0.2, '["count"]', "busy"))
    assert row.state is ComponentState.BUSY and row.capabilities == ("count",)
    with pytest.raises(ValueError):
        component_row(("c", "counter", "d", "a", "1", 0.2, "[]", "no-such-state"))


def test_guard_lets_in_allowed_keys_only_and_stops() -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    server_pub, server_sec = zmq.curve_keypair()
    good_pub, good_sec = zmq.curve_keypair()
    bad_pub, bad_sec = zmq.curve_keypair()
    guard = Guard(ctx, lambda: {good_pub})
    try:
        srv = ctx.socket(zmq.ROUTER)
        curve_server(srv, KeyPair("server", server_pub, server_sec))
        port = srv.bind_to_random_port("tcp://127.0.0.1")

        def ping(pub: bytes, sec: bytes) -> bool:
            cli = ctx.socket(zmq.DEALER)
            cli.linger = 0
            curve_client(cli, ClientKeys(server=server_pub, public=pub, secret=sec))
            cli.connect(f"tcp://127.0.0.1:{port}")
            cli.send(b"hi")
            got = srv.poll(1500)
            if got:
                _ident, msg = srv.recv_multipart()
                assert msg == b"hi"
            cli.close()
            return bool(got)

        assert ping(good_pub, good_sec)
        assert not ping(bad_pub, bad_sec)
        assert guard.refused >= 1
        # Malformed requests get an error reply, never silence (REP must answer).
        assert guard.answer([b"1.0", b"id"])[2] == b"400"
        request = [b"1.0", b"id", b"", b"127.0.0.1", b"", b"CURVE", z85.decode(good_pub)]
        assert guard.answer(request)[2:5] == [b"200", b"OK", good_pub]
        assert guard.answer([b"9.9", *request[1:]])[2] == b"400"
        assert guard.answer([*request[:5], b"PLAIN", b"u", b"p"])[2] == b"400"
        srv.close()
    finally:
        guard.stop()
        guard.stop()  # a second stop does nothing
        ctx.term()  # would hang if the guard left a socket open


def test_a_forked_runner_imports_nothing_to_parse_its_arguments_or_talk_curve() -> None:
    """What the run fork server preloads covers a runner's start: argparse's
    parser is built and sugo.protocol.curve imported before the fork (each
    cost every runner milliseconds of CPU after it)."""
    code = f"""
import importlib, sys
for name in {(*RUN_PRELOAD, RUNNER_MODULE)!r}:
    importlib.import_module(name)
before = set(sys.modules)
import zmq
from sugo.jobs.runner import PARSER
from sugo.protocol.curve import curve_client
from sugo.protocol.keys import ClientKeys
PARSER.parse_args(["run", "3", "--daemon", "tcp://127.0.0.1:1"])
pub, sec = zmq.curve_keypair()
sock = zmq.Context.instance().socket(zmq.DEALER)
curve_client(sock, ClientKeys(public=pub, secret=sec, server=pub))
sock.close()
print(sorted(set(sys.modules) - before))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_progress_reporter_takes_over_the_connection_it_is_given() -> None:
    """A runner's spec request and its progress share one connection to the
    daemon (a CURVE handshake each cost ~1 ms of CPU on both sides)."""
    from sugo.jobs.progress import Reporter

    seen: list[str] = []

    class OneConnection:
        def call(self, req: Any, retries: int = 0) -> None:
            seen.append(req.kind)

        def __enter__(self) -> "OneConnection":
            return self

        def __exit__(self, *exc: object) -> None:
            seen.append("closed")

    reporter = Reporter("tcp://127.0.0.1:1", 5, OneConnection())  # type: ignore[arg-type]
    reporter.event("task_started", task_index=0)
    reporter.close()
    assert seen == ["task_started", "closed"]


def test_without_maintenance_items_a_free_pipeline_costs_no_query() -> None:
    """`blocking_reason` is asked for every free pipeline a queued job could
    take (each submit's reply lists them): with no items configured it reads
    nothing."""
    from sugo.daemon.maintenance import Maintenance

    class NoQueries:
        def maintenance_items(self) -> list[Any]:
            raise AssertionError("queried the maintenance table")

    rt: Any = SimpleNamespace(store=NoQueries(), devices=SimpleNamespace(devices=[]))
    events: Any = SimpleNamespace(bus=Bus())
    p = PipelineRow("p1", {"counter": "c1"}, "s1", True, None)
    assert Maintenance(rt, events).blocking_reason(p) is None


def test_records_held_write_each_job_once_with_its_last_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduling pass holds the job.json writes of the jobs it starts:
    each is written once, with the last row, when the pass ends (even by an
    error); the database has every change at once."""
    from sugo.daemon.store import Store, jobrecords

    with Store(tmp_path / "sugo.db") as store:
        job = store.add_job(
            payload_json="{}", jobname="j", sample="s1", user="ada", output_dir=tmp_path,
            prefix=None, unlock_when_done=False, jobdir_root=tmp_path / "jobs",
        )  # fmt: skip
        record = Path(job.jobdir) / "job.json"

        def recorded() -> dict[str, Any]:
            return dict(json.loads(record.read_text()))

        writes: list[str] = []
        save = jobrecords.save
        monkeypatch.setattr(
            jobrecords, "save", lambda row, write: (writes.append(row.status), save(row, write))
        )
        with pytest.raises(RuntimeError), store.records_held():
            store.set_job_status(job.id, JobStatus.QW)
            with store.records_held():  # nested: the outer one writes
                store.set_job_status(job.id, JobStatus.R)
            store.update_job(job.id, pipeline="p1")
            assert recorded()["status"] == "q" and writes == []  # held...
            row = store.get_job(job.id)
            assert row is not None and row.status == JobStatus.R  # (the database has it)
            raise RuntimeError("the pass failed")
        assert writes == ["r"]  # ...then written once, with the last row
        assert (recorded()["status"], recorded()["pipeline"]) == ("r", "p1")
        store.update_job(job.id, runner_pid=1234)  # outside: at once again
        assert recorded()["runner_pid"] == 1234 and len(writes) == 2
