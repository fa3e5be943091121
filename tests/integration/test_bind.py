"""`[daemon] bind` at an address other than 127.0.0.1 / 0.0.0.0: the daemon,
its driver hosts, the job runners and writers it starts, the CLI and the web
server it supervises all reach each other there (Linux routes all of 127/8 to
lo, so 127.0.0.2 is an address of this machine that 127.0.0.1 is not). A bind
that is no address of this machine is one line from `sugo start`, naming the
setting, and nothing is left running."""

import contextlib
import json
import socket
import sys
from pathlib import Path

import psutil
import pytest

from tests.integration.harness import DaemonHarness, free_port, wait_for
from tests.integration.results import job_record, points
from tests.integration.test_jobs_lifecycle import payload
from tests.web.webserver import WebServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform != "linux", reason="127.0.0.2 is loopback on Linux only"),
]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def _listening(pid: int) -> set[str]:
    """The addresses ``pid`` listens on (TCP)."""
    return {
        c.laddr.ip
        for c in psutil.Process(pid).net_connections("tcp")
        if c.status == psutil.CONN_LISTEN
    }


def _processes_of(h: DaemonHarness) -> list[psutil.Process]:
    """The daemon and the driver hosts of ``h`` (their command lines name its app folder)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(h.appdir) in " ".join(p.info["cmdline"] or []):
                found.append(p)
    return found


def _up_at(h: DaemonHarness, where: str, tmp_path: Path, web: WebServer | None = None) -> None:
    """Started with `sugo start`: the daemon and its hosts listen at ``where``
    alone, a job runs to the end with its results, the CLI answers, and so
    does the ``web`` server the daemon supervises."""
    up = h.cli("start")
    try:
        assert up.returncode == 0, up.stderr + h.logs()
        status = h.status()
        assert status["ready"], status
        hosts = [d["pid"] for d in status["drivers"]]
        assert hosts and all(d["state"] == "ready" for d in status["drivers"])
        for pid in [status["pid"], *hosts]:
            assert _listening(pid) == {where}

        h.load_ready("pip-counter-1", "s")
        job = h.submit(payload("s", ("counter", 0.5, 0.1)), cwd=tmp_path)
        done = h.wait_job(job["id"], timeout=60)
        assert done["status"] == "c", h.logs()
        assert Path(done["respath"]).is_file()
        assert points(done["respath"])["counter"] >= 3
        assert job_record(done["respath"])["status"] == "c"

        st = h.cli("--json", "status")
        assert st.returncode == 0, st.stderr
        assert json.loads(st.stdout)["ready"] is True
        jobs = h.cli("--json", "jobs")
        assert jobs.returncode == 0, jobs.stderr
        assert job["id"] in [j["id"] for j in json.loads(jobs.stdout)["jobs"]]
        if web is not None:
            wait_for(lambda: _serves(web, job["id"]), 30, "the web server to show the job")
    finally:
        stop = h.cli("stop", "--force")
        if stop.returncode != 0:  # (a failed test: nothing of it may outlive it)
            for p in _processes_of(h):
                with contextlib.suppress(psutil.Error):
                    p.kill()
    assert stop.returncode == 0, stop.stderr
    wait_for(lambda: _processes_of(h) == [], 10, "the daemon's processes to end")


def _serves(web: WebServer, jobid: int) -> bool:
    """The web server answers with the daemon's data (it reached the daemon)."""
    try:
        reply = web.get("/api/v1/jobs")
    except OSError:
        return False
    return reply.status == 200 and jobid in [j["id"] for j in reply.json["jobs"]]


def test_a_daemon_bound_to_127_0_0_2_works_end_to_end(tmp_path: Path) -> None:
    web_port = free_port()
    h = DaemonHarness(
        tmp_path, bind="127.0.0.2", extra_settings=f'\n[web]\nlisten = "127.0.0.1:{web_port}"\n'
    )
    assert h.endpoint == f"tcp://127.0.0.2:{h.port}"
    web = WebServer(h)
    web.port = web_port
    _up_at(h, "127.0.0.2", tmp_path, web)


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_a_daemon_bound_to_ipv6_loopback_works(tmp_path: Path) -> None:
    h = DaemonHarness(tmp_path, bind="::1")
    assert h.endpoint == f"tcp://[::1]:{h.port}"
    _up_at(h, "::1", tmp_path)


def _bind(h: DaemonHarness, bind: str) -> Path:
    sfile = h.appdir / "settings.toml"
    sfile.write_text(sfile.read_text().replace('bind = "127.0.0.1"', f'bind = "{bind}"'))
    return sfile


@pytest.mark.parametrize(
    ("bind", "says"),
    [
        ("192.0.2.1", "[daemon] bind = '192.0.2.1': cannot listen on port"),  # TEST-NET-1
        ("localhost", "daemon.bind: 'localhost' is not an IP address"),
    ],
)
def test_a_bad_bind_is_one_line_and_nothing_keeps_running(
    tmp_path: Path, bind: str, says: str
) -> None:
    h = DaemonHarness(tmp_path)
    sfile = _bind(h, bind)
    out = h.cli("start")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1, out.stderr
    assert lines[0].startswith(f"sugo: {sfile}: {says}"), lines[0]
    assert _processes_of(h) == []


def test_the_daemon_itself_names_a_bind_it_cannot_listen_at(tmp_path: Path) -> None:
    # Started without `sugo start` (whose check comes first): the daemon's
    # own bind fails, it says so in one line and leaves no driver host behind.
    h = DaemonHarness(tmp_path)
    sfile = _bind(h, "192.0.2.1")
    with pytest.raises(AssertionError, match="daemon exited"):
        h.start(timeout=30)
    assert h.proc is not None and h.proc.wait(10) == 1
    said = (tmp_path / "daemon.out").read_text().strip().splitlines()
    assert said[-1].startswith(
        f"sugo daemon: {sfile}: [daemon] bind = '192.0.2.1': cannot listen"
    ), said
    wait_for(lambda: _processes_of(h) == [], 10, "the early driver hosts to end")


def test_a_reload_cannot_move_the_daemon(daemon: DaemonHarness) -> None:
    # Its socket stays where it is: hosts and runners started after the
    # reload would look for it at the new address.
    _bind(daemon, "127.0.0.2")
    got = daemon.cli("reload")
    lines = got.stderr.strip().splitlines()
    assert got.returncode == 1 and len(lines) == 1, got.stderr
    assert "reload cannot change [daemon] bind; restart the daemon" in lines[0]
    assert daemon.status()["ready"]
