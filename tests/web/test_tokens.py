"""Who may do what: loopback needs no token; beyond it (127.0.0.2 included)
every request needs one, a viewer may only read, and writes record who."""

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sugo.errors import SugoError
from sugo.protocol.endpoints import is_loopback, parse_listen
from sugo.web.auth import TokenFile
from sugo.web.daemon import EVENT_BUFFER, Subscriber
from tests.integration.harness import DaemonHarness, free_port, process_alive
from tests.web.webserver import WebServer, payload


def test_loopback_is_only_127_0_0_1_and_ipv6_one() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1")
    for host in ("127.0.0.2", "0.0.0.0", "localhost", "192.168.1.4", "::"):
        assert not is_loopback(host), host
    assert parse_listen("[::1]:8080") == ("::1", 8080)
    for bad in ("8080", "host:", "h:99999", "h:x"):
        with pytest.raises(ValueError, match="listen"):
            parse_listen(bad)


def test_token_file_keeps_only_digests_owner_only(tmp_path: Path) -> None:
    tokens = TokenFile(tmp_path / "t.json")
    secret = tokens.new("alice", "operator")
    assert secret not in tokens.path.read_text()
    assert stat.S_IMODE(tokens.path.stat().st_mode) == 0o600
    who = tokens.lookup(secret)
    assert who is not None and who.name == "alice" and who.can_write
    assert tokens.lookup(secret + "x") is None
    with pytest.raises(SugoError, match="exists"):
        tokens.new("alice", "viewer")
    with pytest.raises(SugoError, match="unknown role"):
        tokens.new("bob", "admin")
    tokens.remove("alice")
    assert tokens.lookup(secret) is None
    os.chmod(tokens.path, 0o644)
    with pytest.raises(SugoError, match="readable by others"):
        tokens.check_private()


def test_a_slow_event_client_is_dropped_not_buffered() -> None:
    async def run() -> Subscriber:
        sub = Subscriber(asyncio.get_running_loop(), after=0)
        sub.offer([{"id": i} for i in range(1, EVENT_BUFFER + 10)])
        return sub

    sub = asyncio.run(run())
    assert sub.dropped and not sub.buffer


def _events(h: DaemonHarness) -> list[dict]:
    """`sugo events --json`: one JSON document per line."""
    return [json.loads(line) for line in h.cli("--json", "events").stdout.splitlines() if line]


def _new_token(h: DaemonHarness, name: str, role: str) -> str:
    out = h.cli("--json", "web", "token", "new", name, "--role", role)
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout)["token"])


@pytest.mark.integration
def test_beyond_loopback_without_tokens_refuses_to_start(lab: DaemonHarness) -> None:
    env = {**os.environ, "SUGO_PORT": str(lab.port), "SUGO_APPDIR": str(lab.appdir)}
    tokens = lab.appdir / "web-tokens.json"
    tokens.unlink(missing_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", "sugo.cli.main", "web", "--listen", f"127.0.0.2:{free_port()}"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 1
    assert "beyond loopback" in run.stderr and "sugo web token new" in run.stderr


@pytest.mark.integration
def test_tokens_and_roles_beyond_loopback(lab: DaemonHarness) -> None:
    viewer = _new_token(lab, "viewer-1", "viewer")
    op = _new_token(lab, "op-1", "operator")
    listed = json.loads(lab.cli("--json", "web", "token", "list").stdout)["tokens"]
    pairs = {(t["name"], t["role"]) for t in listed}
    assert pairs >= {("viewer-1", "viewer"), ("op-1", "operator")}
    web = WebServer(lab, host="127.0.0.2").start()
    try:
        none = web.get("/api/v1/status")
        assert none.status == 401 and "token" in none.json["error"]
        assert none.headers["www-authenticate"] == "Bearer"
        assert web.get("/api/v1/status", token="sugo_wrong").status == 401
        assert web.get("/", token=None).status in (200, 303)  # the login page
        assert web.get("/api/v1/status", token=viewer).status == 200
        assert web.get("/api/v1/jobs", token=viewer).status == 200
        load = web.post("/api/v1/pipelines/pip-demo/load", {"sample": "T"}, token=viewer)
        assert load.status == 403 and "viewer" in load.json["error"]
        r = web.post("/api/v1/jobs", payload("T", (30.0, 0.1)), token=op,
                     headers={"Content-Type": "application/toml"})  # fmt: skip
        assert r.status == 201
        cancel = web.post(f"/api/v1/jobs/{r.json['id']}/cancel", token=viewer)
        assert cancel.status == 403
        assert web.post(f"/api/v1/jobs/{r.json['id']}/cancel", token=op).status == 202
        assert web.get(f"/api/v1/jobs/{r.json['id']}", token=viewer).json["code"] == "cd"
        events = _events(lab)
        queued = [e for e in events if e["kind"] == "job.queued"][-1]
        assert queued["data"]["by"] == "web:op-1"
        # The dashboard signs in with a cookie; its writes need the header.
        login = web.post("/login", "token=" + viewer,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert login.status in (200, 303)
        cookie = {"Cookie": f"sugo_token={op}"}
        assert web.get("/api/v1/status", headers=cookie).status == 200
        no_header = web.post(f"/api/v1/jobs/{r.json['id']}/cancel", headers=cookie)
        assert no_header.status == 403 and "x-sugo-request" in no_header.json["error"]
    finally:
        web.stop()
        lab.cli("web", "token", "remove", "viewer-1")
        lab.cli("web", "token", "remove", "op-1")


@pytest.mark.integration
def test_the_daemon_starts_supervises_and_stops_its_web_server(tmp_path: Path) -> None:
    import psutil

    from tests.integration.harness import wait_for

    port = free_port()
    h = DaemonHarness(tmp_path, extra_settings=f'\n[web]\nlisten = "127.0.0.1:{port}"\n')
    h.start()
    try:
        st = json.loads(h.cli("--json", "status").stdout)
        assert st["web"] == f"http://127.0.0.1:{port}/"
        assert f"http://127.0.0.1:{port}/" in h.cli("status").stdout
        web = WebServer(h)
        web.port = port
        wait_for(lambda: _answers(web), 30, "the supervised web server")

        def started() -> list[int]:
            events = _events(h)
            return [e["data"]["pid"] for e in events if e["kind"] == "web.started"]

        [pid] = wait_for(started, 10, "web.started")
        psutil.Process(pid).kill()
        wait_for(lambda: len(started()) == 2, 30, "the web server restarted")
        wait_for(lambda: _answers(web), 30, "the restarted web server")
        new = started()[-1]
    finally:
        h.stop()
    assert not process_alive(new)


@pytest.mark.integration
def test_the_web_server_ends_with_a_killed_daemon_and_the_next_one_serves(tmp_path: Path) -> None:
    from tests.integration.harness import wait_for

    port = free_port()
    h = DaemonHarness(tmp_path, extra_settings=f'\n[web]\nlisten = "127.0.0.1:{port}"\n')
    h.start()
    web = WebServer(h)
    web.port = port
    try:
        wait_for(lambda: _answers(web), 30, "the supervised web server")
        [first] = [e["data"]["pid"] for e in _events(h) if e["kind"] == "web.started"]
        assert h.proc is not None
        h.proc.kill()  # no `sugo stop`: nothing tells the web server
        h.proc.wait(5)
        wait_for(lambda: not process_alive(first), 10, "the orphaned web server to end")
        h.start()  # re-attaches the driver hosts; its web server gets the port
        wait_for(lambda: _answers(web), 30, "the next daemon's web server")
        later = [e["data"]["pid"] for e in _events(h) if e["kind"] == "web.started"]
        assert later[-1] != first
    finally:
        h.stop()


def _answers(web: WebServer) -> bool:
    try:
        return web.get("/api/v1/status").status == 200
    except OSError:
        return False


@pytest.mark.integration
def test_a_taken_port_is_a_clear_error(web: WebServer) -> None:
    run = web.cli("web", "--listen", f"127.0.0.1:{web.port}")
    assert run.returncode == 1
    assert f"cannot listen on http://127.0.0.1:{web.port}/" in run.stderr
