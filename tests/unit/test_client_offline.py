"""`sugo.client` and the CLI commands against a fake daemon: a real wire
server (sugo.protocol.server) in a thread with canned handlers, so the client's
requests, reply types and errors, and the CLI's output and exit codes, are
checked without starting the real daemon."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from sugo.cli.main import main
from sugo.client import DaemonUnreachable, SugoClient, payload_format
from sugo.errors import RequestFailed, RequestTimeout, SugoError
from sugo.paths import DEFAULT_PORT, resolve_appdir, resolve_port
from sugo.protocol import daemon_api as api
from sugo.protocol.curve import Guard
from sugo.protocol.keys import allowed_public_keys, ensure_daemon_pair, ensure_local_keys
from sugo.protocol.server import Call, ServerLoop

DEAD_PID = 2**31 - 2  # above any pid_max: never a live process
HEAVY = ("numpy", "xarray", "pydantic", "pint")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def job(jobid: int, status: str = "q", **kw: Any) -> dict[str, Any]:
    return {
        "id": jobid,
        "jobname": kw.get("jobname"),
        "status": status,
        "pipeline": "pip-1" if status != "q" else None,
        "sample": "s1",
        "user": "me",
        "submitted_at": 1_700_000_000.0,
        "started_at": None if status in ("q", "qw") else 1_700_000_001.0,
        "completed_at": 1_700_000_009.0 if status in ("c", "ce", "cd") else None,
        "respath": f"/tmp/results.{jobid}.nc",
        "snappath": None,
        "error": "driver died" if status == "ce" else None,
        "jobdir": f"/tmp/jobs/{jobid}",
        "output_dir": "/tmp",  # extra fields of the real daemon are ignored
        "tasks": [],
    }


STATUS = {
    "port": 0,
    "pid": 4321,
    "version": "0.1.0",
    "appdir": "/tmp/app",
    "ready": True,
    "pipelines": [
        {
            "name": "pip-1",
            "ready": True,
            "sample": "s1",
            "jobid": 2,
            "components": {"counter": "counter:(sim,1)"},
        }
    ],
    "drivers": [{"name": "counter", "pid": 77, "port": 5000, "state": "ready", "version": "0.1.0"}],
    "devices": [
        {"name": "dev", "driver": "counter", "address": "sim", "channels": ["1"], "pollrate": 0.2}
    ],
    "components": [
        {
            "name": "counter:(sim,1)",
            "driver": "counter",
            "device": "dev",
            "address": "sim",
            "channel": "1",
            "capabilities": ["count", "random"],
            "state": "busy",
            "pollrate": 0.2,
        }
    ],
}


class FakeDaemon:
    """Answers the CLI's requests from an in-memory job table, on a CURVE
    socket with $SUGO_APPDIR's keys like the real daemon's."""

    def __init__(self) -> None:
        appdir = resolve_appdir()
        # A context of its own: its ZAP endpoint is free again at once when closed.
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.guard = Guard(self.ctx, lambda: allowed_public_keys(appdir))
        self.jobs: dict[int, dict[str, Any]] = {1: job(1, "c", jobname="alpha"), 2: job(2, "r")}
        self.requests: list[Any] = []
        self.finish_after: dict[int, int] = {}  # job id → 'jobs' calls until it completes
        self.port = 0  # known once the server is bound, below
        registry: dict[type, Any] = {
            api.Ping: lambda r, c: {"pid": 4321, "port": self.port, "version": "x", "appdir": "/a"},
            api.Status: lambda r, c: {**STATUS, "port": self.port},
            api.Stop: self.on_stop,
            api.Reload: lambda r, c: {"drivers_added": ["psutil"], "pipelines": ["pip-1"]},
            api.PipelineLoad: self.on_pipeline,
            api.PipelineEject: self.on_pipeline,
            api.PipelineReady: self.on_pipeline,
            api.Submit: self.on_submit,
            api.Jobs: self.on_jobs,
            api.Cancel: self.on_cancel,
            api.Snapshot: lambda r, c: {
                "jobid": r.jobid,
                "snappath": f"/tmp/snapshot.{r.jobid}.nc",
            },
            api.Search: lambda r, c: {
                "jobs": [j for j in self.jobs.values() if r.text in (j["jobname"] or "")]
            },
            api.ComponentCall: self.on_component,
        }
        self.loop = ServerLoop(
            "fake", registry, bind="127.0.0.1", context=self.ctx, curve=ensure_daemon_pair(appdir)
        )
        self.port = int(self.loop.port)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.loop.run()
        finally:
            self.loop.close()

    def close(self) -> None:
        if self.thread.is_alive():
            self.loop.stop()
            self.thread.join(5.0)
        assert not self.thread.is_alive()
        self.guard.stop()
        self.ctx.destroy(linger=0)

    def on_stop(self, req: api.Stop, call: Call) -> Any:
        self.requests.append(req)
        if not req.force and any(j["status"] == "r" for j in self.jobs.values()):
            raise SugoError("jobs are running (2); cancel them or use stop --force")
        self.loop.call_later(0.05, self.loop.stop)
        return {"stopped": True, "cancelled": [2], "pid": DEAD_PID}

    def on_pipeline(self, req: Any, call: Call) -> Any:
        self.requests.append(req)
        if req.pipeline != "pip-1":
            raise SugoError(f"no pipeline {req.pipeline!r} (pipelines: pip-1)")
        sample = getattr(req, "sample", "s1") if not isinstance(req, api.PipelineEject) else None
        ready = isinstance(req, api.PipelineReady)
        return {"name": "pip-1", "ready": ready, "sample": sample, "jobid": None, "components": {}}

    def on_submit(self, req: api.Submit, call: Call) -> Any:
        self.requests.append(req)
        if "bad" in req.payload:
            raise SugoError(f"no pipeline can run {req.source}: pip-1: sample differs")
        jobid = max(self.jobs) + 1
        self.jobs[jobid] = job(jobid, "q", jobname=req.jobname)
        return self.jobs[jobid]

    def on_jobs(self, req: api.Jobs, call: Call) -> Any:
        for jobid in list(self.finish_after):
            self.finish_after[jobid] -= 1
            if self.finish_after[jobid] <= 0:
                del self.finish_after[jobid]
                self.jobs[jobid] = job(jobid, "c", jobname=self.jobs[jobid]["jobname"])
        for i in req.ids:
            if i not in self.jobs:
                raise SugoError(f"no job {i}")
        return {"jobs": [self.jobs[i] for i in req.ids or sorted(self.jobs)]}

    def on_cancel(self, req: api.Cancel, call: Call) -> Any:
        for i in req.ids:
            if self.jobs[i]["status"] in ("c", "ce", "cd"):
                raise SugoError(f"job {i} has already ended ({self.jobs[i]['status']})")
        return {"cancelled": req.ids}

    def on_component(self, req: api.ComponentCall, call: Call) -> Any:
        self.requests.append(req)
        if req.verb == "dev_get_attr":
            return {"max": 1.5, "param": {"value": 2.0, "units": "s"}}[req.args["attr"]]
        if req.verb == "dev_set_attr":
            if req.args["val"] == "purple":
                raise SugoError(f"{req.name}: attr 'choice' value 'purple' is not allowed")
            return req.args["val"]
        if req.verb in ("dev_status", "task_status"):
            return {"running": True, "technique": "count", "task": None, "points": 12,
                    "started_at": 1_700_000_000.0, "error": None, "queued": 0, "finished": 0,
                    "attrs": {"cpu_usage": {"value": 12.5, "units": "%"}}}  # fmt: skip
        if req.verb in ("dev_measure", "dev_last_data"):
            return {"columns": {"uts": [1_700_000_000.0], "val": [7.0], "param": [2.0]},
                    "units": {"param": "s"}}  # fmt: skip
        if req.verb == "dev_constants":
            return {"example_meta": "example string"}
        if req.verb == "capabilities":
            return ["count", "random"]
        if req.verb == "attrs":
            return {"param": {"type": "float", "rw": True, "status": False, "units": "s",
                              "minimum": "0.1 s", "maximum": None, "options": None,
                              "default": 1.0}}  # fmt: skip
        return {"msg": f"component {req.name} reset"}


@pytest.fixture
def fake(clean_env: None) -> Iterator[FakeDaemon]:
    daemon = FakeDaemon()
    yield daemon
    daemon.close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SUGO_PORT", raising=False)
    # An app folder with keys, as `sugo init` makes: every client reads them.
    ensure_local_keys(tmp_path / "app")
    monkeypatch.setenv("SUGO_APPDIR", str(tmp_path / "app"))
    monkeypatch.setenv("NO_COLOR", "1")


def run(capsys: pytest.CaptureFixture[str], port: int, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--port", str(port)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- paths ------------------------------------------------------------------------------


def test_port_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_port() == DEFAULT_PORT == 9271
    monkeypatch.setenv("SUGO_PORT", " 4000 ")
    assert resolve_port() == 4000
    assert resolve_port(5000) == 5000  # explicit wins
    for bad in ("x", "0", "65536"):
        monkeypatch.setenv("SUGO_PORT", bad)
        with pytest.raises(SugoError, match="SUGO_PORT"):
            resolve_port()


def test_appdir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SUGO_APPDIR")
    assert resolve_appdir() == tmp_path / "xdg" / "sugo"
    monkeypatch.setenv("SUGO_APPDIR", str(tmp_path / "env"))
    assert resolve_appdir() == tmp_path / "env"
    assert resolve_appdir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.chdir(tmp_path)
    assert resolve_appdir(Path("rel")) == tmp_path / "rel"  # always absolute
    assert SugoClient(1234, appdir=Path("rel")).appdir == tmp_path / "rel"


def test_payload_format() -> None:
    assert [payload_format(Path(f"p{s}")) for s in (".toml", ".yml", ".YAML", ".json")] == [
        "toml", "yaml", "yaml", "json",
    ]  # fmt: skip
    with pytest.raises(SugoError, match=r"unknown payload type '\.txt'"):
        payload_format(Path("p.txt"))


# -- client errors -------------------------------------------------------------------------


def test_nothing_listening_fails_at_once_naming_the_endpoint() -> None:
    port = free_port()
    t0 = time.monotonic()
    with SugoClient(port, timeout=5.0) as client, pytest.raises(DaemonUnreachable) as e:
        client.status()
    assert time.monotonic() - t0 < 2.0  # not the 5 s timeout
    assert f"tcp://127.0.0.1:{port}" in str(e.value)
    assert isinstance(e.value, RequestTimeout)


def test_silent_listener_times_out_naming_the_endpoint() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with SugoClient(port, timeout=0.2) as client, pytest.raises(RequestTimeout) as e:
            client.ping()
    assert not isinstance(e.value, DaemonUnreachable)
    assert f"tcp://127.0.0.1:{port}" in str(e.value) and "'ping'" in str(e.value)


def test_refusal_raises_request_failed_with_the_daemons_reason(fake: FakeDaemon) -> None:
    with SugoClient(fake.port) as client:
        with pytest.raises(RequestFailed, match=r"^no job 99$"):
            client.job(99)
        with pytest.raises(RequestFailed, match="no pipeline 'nope'"):
            client.pipeline_load("nope", "s")


# -- client requests and typed replies ---------------------------------------------------------


def test_typed_replies(fake: FakeDaemon) -> None:
    with SugoClient(fake.port) as client:
        assert client.ping().pid == 4321
        st = client.status()
        assert isinstance(st, api.StatusInfo)
        assert st.port == fake.port and st.components[0].capabilities == ["count", "random"]
        jobs = client.jobs()
        assert [j.id for j in jobs] == [1, 2] and all(isinstance(j, api.JobInfo) for j in jobs)
        assert client.job(1).jobname == "alpha"
        assert [j.id for j in client.search("alp")] == [1]
        p = client.pipeline_load("pip-1", "s9")
        assert isinstance(p, api.PipelineInfo) and p.sample == "s9" and not p.ready
        assert client.pipeline_ready("pip-1").ready
        assert client.pipeline_eject("pip-1").sample is None
        assert client.cancel(2) == api.CancelReply(cancelled=[2])
        assert client.snapshot(2) == "/tmp/snapshot.2.nc"
        assert client.reload().drivers_added == ["psutil"]


def test_submit_sends_text_format_cwd_and_user(
    fake: FakeDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = tmp_path / "p.yaml"
    payload.write_text("sample: {identifier: s1}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("USER", "tester")
    monkeypatch.setenv("LOGNAME", "tester")
    with SugoClient(fake.port) as client:
        info = client.submit(payload, jobname="named")
    assert isinstance(info, api.JobInfo) and info.jobname == "named" and info.status == "q"
    [req] = [r for r in fake.requests if isinstance(r, api.Submit)]
    assert (req.payload, req.fmt, req.source) == (payload.read_text(), "yaml", str(payload))
    assert (req.cwd, req.user, req.jobname) == (str(tmp_path), "tester", "named")


def test_submit_of_a_missing_file_names_it(fake: FakeDaemon, tmp_path: Path) -> None:
    with SugoClient(fake.port) as client, pytest.raises(SugoError, match=r"nope\.toml"):
        client.submit(tmp_path / "nope.toml")
    assert not fake.requests


def test_wait_returns_final_jobs_and_times_out(fake: FakeDaemon) -> None:
    fake.finish_after[2] = 3
    with SugoClient(fake.port) as client:
        [done] = client.wait([2], timeout=10, poll=0.01)
        assert done.status == "c"
        fake.jobs[3] = job(3, "r")
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match=r"3 \(r\)"):
            client.wait([1, 3], timeout=0.2, poll=0.01)
        assert 0.2 <= time.monotonic() - t0 < 2.0


def test_component_forwards_verb_args_and_force(fake: FakeDaemon) -> None:
    with SugoClient(fake.port) as client:
        assert client.component("c", "dev_set_attr", force=True, attr="max", val="3") == "3"
    [req] = fake.requests
    assert (req.name, req.verb, req.args, req.force) == (
        "c", "dev_set_attr", {"attr": "max", "val": "3"}, True,
    )  # fmt: skip


# -- CLI commands against the fake daemon ------------------------------------------------------


def test_cli_status_tables_and_json(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, fake.port, "status")
    assert code == 0
    assert f"port {fake.port}" in out and "pid 4321" in out
    for text in ("PIPELINE", "pip-1", "counter=counter:(sim,1)", "DRIVER", "COMPONENT", "busy"):
        assert text in out
    assert "\033[" not in out  # no colour off a terminal

    code, out, _ = run(capsys, fake.port, "status", "drivers")
    assert code == 0 and out.splitlines()[0].split() == [
        "DRIVER", "STATE", "CODE", "PID", "PORT", "VERSION", "RUNS", "ERROR",
    ]  # fmt: skip

    code, out, _ = run(capsys, fake.port, "status", "--json")
    doc = json.loads(out)
    assert {"port", "pid", "pipelines", "drivers", "devices", "components"} <= set(doc)
    assert set(doc["pipelines"][0]) >= {"name", "ready", "sample", "jobid", "components"}
    assert set(doc["drivers"][0]) >= {"name", "pid", "state", "version"}
    assert set(doc["components"][0]) >= {
        "name", "driver", "device", "address", "channel", "capabilities", "state",
    }  # fmt: skip

    code, out, _ = run(capsys, fake.port, "status", "devices", "--json")
    assert set(json.loads(out)) >= {"port", "pid", "devices"}


def test_cli_jobs_table_and_json(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, fake.port, "jobs")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == [
        "ID", "NAME", "STATUS", "PIPELINE", "SAMPLE", "SUBMITTED", "STARTED", "COMPLETED",
    ]  # fmt: skip
    assert lines[1].split()[:3] == ["1", "alpha", "c"]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_700_000_000.0))
    assert stamp in lines[1]
    # columns line up: every row's STATUS starts where the header's does
    col = lines[0].index("STATUS")
    assert all(line[col:].split()[0] in ("c", "r") for line in lines[1:3])

    code, out, _ = run(capsys, fake.port, "jobs", "1", "--json")
    doc = json.loads(out)
    keys = {"id", "jobname", "status", "pipeline", "sample", "submitted_at", "started_at",
            "completed_at", "respath", "snappath", "error"}  # fmt: skip
    assert list(doc) == ["jobs"] and keys <= set(doc["jobs"][0])

    code, out, err = run(capsys, fake.port, "jobs", "99")
    assert (code, out, err) == (1, "", "sugo: no job 99\n")


def test_cli_submit_prints_the_id(
    fake: FakeDaemon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = tmp_path / "p.toml"
    payload.write_text("ok")
    code, out, _ = run(capsys, fake.port, "submit", str(payload), "--jobname", "j")
    assert (code, out) == (0, "3\n")
    code, out, _ = run(capsys, fake.port, "submit", str(payload), "--json")
    assert code == 0 and json.loads(out)["id"] == 4
    payload.write_text("bad")
    code, out, err = run(capsys, fake.port, "submit", str(payload), "--json")
    assert code == 1 and "no pipeline can run" in json.loads(out)["error"]
    assert err.count("\n") == 1


def test_cli_submit_wait(
    fake: FakeDaemon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = tmp_path / "p.toml"
    payload.write_text("ok")
    fake.finish_after[3] = 2
    code, out, _ = run(capsys, fake.port, "submit", str(payload), "--wait", "-q")
    assert code == 0
    assert out.splitlines()[0] == "3" and "results /tmp/results.3.nc" in out


def test_cli_wait_exit_codes(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, fake.port, "wait", "1")[0] == 0
    fake.jobs[3] = job(3, "ce")
    code, _, err = run(capsys, fake.port, "wait", "1", "3")
    assert code == 1 and "3 (ce: driver died)" in err
    code, out, err = run(capsys, fake.port, "wait", "2", "--timeout", "0.1", "--json")
    assert code == 4 and "2 (r)" in json.loads(out)["error"]
    code, out, _ = run(capsys, fake.port, "wait", "1", "3", "--json")
    doc = json.loads(out)
    assert code == 1 and [j["status"] for j in doc["jobs"]] == ["c", "ce"] and doc["error"]


def test_cli_cancel_snapshot_search_pipeline(
    fake: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, fake.port, "cancel", "2", "--json")
    assert (code, json.loads(out)) == (0, {"cancelled": [2]})
    code, _, err = run(capsys, fake.port, "cancel", "1")
    assert code == 1 and err == "sugo: job 1 has already ended (c)\n"
    assert run(capsys, fake.port, "snapshot", "2")[1] == "/tmp/snapshot.2.nc\n"
    code, out, _ = run(capsys, fake.port, "search", "alp")
    assert code == 0 and "alpha" in out and len(out.splitlines()) == 2
    code, out, _ = run(capsys, fake.port, "pipeline", "load", "pip-1", "s7")
    assert code == 0 and "sample 's7'" in out and "not ready" in out
    code, out, _ = run(capsys, fake.port, "pipeline", "ready", "pip-1", "--json")
    assert code == 0 and json.loads(out)["ready"] is True
    code, _, err = run(capsys, fake.port, "pipeline", "eject", "nope")
    assert code == 1 and "no pipeline 'nope'" in err


def test_cli_component_verbs(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    name = "counter:(sim,1)"
    assert run(capsys, fake.port, "component", "get", name, "param")[1] == "2.0 s\n"
    code, out, _ = run(capsys, fake.port, "component", "get", name, "max", "param", "--json")
    assert json.loads(out)["values"] == {"max": 1.5, "param": {"value": 2.0, "units": "s"}}
    code, out, _ = run(capsys, fake.port, "component", "set", name, "max", "3", "--force")
    assert code == 0 and "max = 3" in out
    code, _, err = run(capsys, fake.port, "component", "set", name, "choice", "purple")
    assert code == 1 and "not allowed" in err
    code, out, _ = run(capsys, fake.port, "component", "status", name)
    assert "running count: 12 points" in out and "12.5 %" in out
    code, out, _ = run(capsys, fake.port, "component", "measure", name)
    assert code == 0 and "val    7.0" in out and "param  2.0 s" in out
    code, out, _ = run(capsys, fake.port, "component", "last", name, "--json")
    assert json.loads(out)["last"]["columns"]["val"] == [7.0]
    code, out, _ = run(capsys, fake.port, "component", "constants", name)
    assert out.split() == ["example_meta", "example", "string"]
    assert run(capsys, fake.port, "component", "capabilities", name)[1] == "count\nrandom\n"
    code, out, _ = run(capsys, fake.port, "component", "attrs", name)
    assert "0.1 s" in out and out.split()[:2] == ["ATTR", "TYPE"]
    code, out, _ = run(capsys, fake.port, "component", "reset", name, "--json")
    assert json.loads(out)["reset"]["msg"].endswith("reset")
    verbs = [(r.verb, r.force) for r in fake.requests]
    assert ("dev_set_attr", True) in verbs and ("dev_reset", False) in verbs
    assert ("dev_measure", False) in verbs and ("dev_constants", False) in verbs


def test_cli_stop_waits_for_the_port(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, fake.port, "stop")
    assert code == 1 and "use stop --force" in err
    code, out, _ = run(capsys, fake.port, "stop", "--force", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["cancelled"] == [2] and doc["port"] == fake.port
    fake.thread.join(5.0)
    assert run(capsys, fake.port, "status")[0] == 3  # gone, and said so


def test_cli_reload(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    # The fake daemon's status never shows the added driver: reload waits for
    # it up to --timeout, then says it is still starting.
    code, out, _ = run(capsys, fake.port, "reload", "--timeout", "0.3")
    assert code == 0 and "drivers added: psutil" in out
    assert "still starting after 0.3 s: driver psutil (not listed yet)" in out


# -- import weight -----------------------------------------------------------------------------


def _modules_after(code: str) -> list[str]:
    script = (
        f"import json, sys\n{code}\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_client_import_is_light() -> None:
    assert _modules_after("import sugo.client") == []


def test_queue_and_status_commands_are_light(fake: FakeDaemon) -> None:
    port = str(fake.port)
    commands = [
        ["status"], ["status", "--json"], ["jobs"], ["jobs", "1"], ["search", "a"],
        ["cancel", "2"], ["pipeline", "load", "pip-1", "s"], ["pipeline", "eject", "pip-1"],
        ["pipeline", "ready", "pip-1"], ["stop", "--force"],
    ]  # fmt: skip
    calls = "\n".join(f"assert main({[*c, '--port', port]!r}) == 0, {c!r}" for c in commands)
    assert _modules_after(f"from sugo.cli.main import main\n{calls}") == []


def test_the_check_itself_sees_heavy_imports() -> None:
    assert "pydantic" in _modules_after("import sugo.config")
