"""The real `sugo` command against a real daemon: exit codes and --json shapes."""

import json
import socket
from pathlib import Path

import pytest

from tests.integration.harness import DATA, DaemonHarness, add_finished_jobs, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def appdir_cli(tmp_path: Path):
    """A harness whose daemon is started and stopped through the CLI."""
    h = DaemonHarness(tmp_path)
    yield h
    h.cli("stop", "--force")


def test_life_cycle_through_the_cli(appdir_cli: DaemonHarness, tmp_path: Path) -> None:
    h = appdir_cli
    down = h.cli("status")
    assert down.returncode == 3 and str(h.port) in down.stderr
    down_json = h.cli("--json", "jobs")
    assert down_json.returncode == 3 and "error" in json.loads(down_json.stdout)

    up = h.cli("start")
    assert up.returncode == 0, up.stderr
    again = h.cli("start")
    assert again.returncode == 1 and "already running" in again.stderr

    status = json.loads(h.cli("--json", "status").stdout)
    assert set(status) >= {"port", "pid", "pipelines", "drivers", "devices", "components"}
    h.remember(status)
    assert len(status["pipelines"]) == 5

    assert h.cli("pipeline", "load", "pip-counter-1", "counter_1_0.1").returncode == 0
    assert h.cli("pipeline", "ready", "pip-counter-1").returncode == 0
    bad = h.cli("pipeline", "load", "nope", "S")
    assert bad.returncode == 1 and "no pipeline 'nope'" in bad.stderr
    sub = h.cli(
        "--json", "submit", str(DATA / "tomato" / "counter_1_0.1.yml"), "--jobname", "run-a"
    )
    assert sub.returncode == 0, sub.stderr
    jobid = json.loads(sub.stdout)["id"]
    waited = h.cli("wait", str(jobid), "--timeout", "30")
    assert waited.returncode == 0, waited.stderr
    jobs = json.loads(h.cli("--json", "jobs", str(jobid)).stdout)["jobs"]
    job = jobs[0]
    assert set(job) >= {"id", "jobname", "status", "pipeline", "sample", "submitted_at",
                        "started_at", "completed_at", "respath", "snappath", "error"}  # fmt: skip
    assert job["status"] == "c" and job["jobname"] == "run-a"
    assert Path(job["respath"]).parent == tmp_path
    found = json.loads(h.cli("--json", "search", "run-").stdout)["jobs"]
    assert [j["id"] for j in found] == [jobid]
    table = h.cli("jobs")
    assert table.returncode == 0 and "run-a" in table.stdout

    invalid = h.cli("submit", str(DATA / "tomato" / "counter_invalid_1.yml"))
    assert invalid.returncode == 1 and "unknown" in invalid.stderr.lower()
    assert len(invalid.stderr.strip().splitlines()) == 1

    comp = "counter:(sim-counter,2)"
    assert h.cli("component", "set", comp, "max", "5").returncode == 0
    got = h.cli("--json", "component", "get", comp, "max")
    assert got.returncode == 0 and "5" in got.stdout
    refused = h.cli("component", "set", comp, "choice", "pink")
    assert refused.returncode == 1 and "choice" in refused.stderr

    stop = h.cli("stop")
    assert stop.returncode == 0, stop.stderr
    assert h.cli("status").returncode == 3
    with socket.socket() as s:
        # As any server (and zmq) binds: TIME_WAIT of closed clients must not block.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", h.port))


def test_start_without_init_is_refused(tmp_path: Path) -> None:
    h = DaemonHarness(tmp_path)
    (h.appdir / "settings.toml").unlink()
    out = h.cli("start")
    assert out.returncode == 1 and "sugo init" in out.stderr


def test_init_then_start_on_a_taken_port(tmp_path: Path) -> None:
    h = DaemonHarness(tmp_path)
    for f in h.appdir.iterdir():
        f.unlink()
    assert h.cli("init").returncode == 0
    assert (h.appdir / "settings.toml").stat().st_mode & 0o777 == 0o600
    assert h.cli("init").returncode == 1
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        out = h.cli("--port", str(port), "start")
    assert out.returncode == 1 and str(port) in out.stderr


def test_jobs_lists_the_newest_and_every_unfinished_job(tmp_path: Path) -> None:
    h = DaemonHarness(tmp_path)
    h.start()
    try:
        # Job 1 stays queued (no pipeline is ready); 60 finished jobs come after it.
        queued = h.submit(DATA / "tomato" / "counter_1_0.1.yml")["id"]
        assert queued == 1
        h.stop(force=False)
        add_finished_jobs(h, 60)
        h.start()

        def listed(*args: str) -> tuple[list[int], str]:
            out = h.cli("--json", "jobs", *args)
            assert out.returncode == 0, out.stderr
            return [j["id"] for j in json.loads(out.stdout)["jobs"]], out.stderr

        hint = "'sugo jobs --all' lists every job"
        ids, err = listed()  # the 50 newest and the queued one
        assert ids == [1, *range(12, 62)] and hint in err
        ids, err = listed("--last", "5")
        assert ids == [1, 57, 58, 59, 60, 61] and hint in err
        ids, err = listed("--last", "0")
        assert ids == [1] and hint in err
        ids, err = listed("--last", "60")  # all 61: 60 newest + the queued oldest
        assert ids == list(range(1, 62)) and err == ""
        ids, err = listed("--last", "61")  # no more jobs than asked: no hint
        assert ids == list(range(1, 62)) and err == ""
        ids, err = listed("--all")
        assert ids == list(range(1, 62)) and err == ""

        table = h.cli("jobs", "--last", "2")
        assert table.returncode == 0, table.stderr
        rows = table.stdout.splitlines()[1:]
        assert [r.split()[0] for r in rows] == ["1", "60", "61"]
        assert hint in table.stderr
        quiet = h.cli("-q", "jobs", "--last", "2")
        assert quiet.stdout == table.stdout and quiet.stderr == ""
    finally:
        h.stop()
