"""`[network] listen`: the daemon's CURVE endpoint, `sugo --connect` and the keys."""

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sugo.client import SugoClient
from sugo.errors import RequestTimeout
from sugo.protocol import daemon_api as api
from sugo.protocol.client import Client
from sugo.protocol.keys import ClientKeys, client_keys, local_client_keys, new_pair
from sugo.protocol.server import ServerLoop
from tests.integration.harness import DATA, DaemonHarness, free_port, wait_for
from tests.integration.tcp_tap import TcpTap

pytestmark = pytest.mark.integration
PAYLOAD = DATA / "tomato" / "counter_1_0.1.yml"


@pytest.fixture
def networked(tmp_path: Path) -> Iterator[DaemonHarness]:
    listen = f"tcp://127.0.0.1:{free_port()}"
    h = DaemonHarness(tmp_path, extra_settings=f'\n[network]\nlisten = "{listen}"\n')
    h.listen = listen  # type: ignore[attr-defined]
    h.start()
    yield h
    h.stop()


def _remote_appdir(h: DaemonHarness, name: str) -> Path:
    """Another app folder holding what `sugo keys export NAME` gives it."""
    made = h.cli("keys", "new", name)
    assert made.returncode == 0, made.stderr
    other = h.root / f"pc-{name}"
    done = h.cli("keys", "export", name, str(other))
    assert done.returncode == 0, done.stderr
    return other


def test_an_allowed_key_reaches_the_daemon_for_status_and_submit(
    networked: DaemonHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SUGO_KEY", raising=False)
    h, listen = networked, networked.listen  # type: ignore[attr-defined]
    other = _remote_appdir(h, "lab-pc")
    st = h.cli("--appdir", str(other), "--connect", listen, "status", "--json")
    assert st.returncode == 0, st.stderr
    assert json.loads(st.stdout)["pid"] == h.status()["pid"]
    h.load_ready("pip-counter-1", "counter_1_0.1")
    sub = h.cli("--appdir", str(other), "--connect", listen, "--json", "submit", str(PAYLOAD))
    assert sub.returncode == 0, sub.stderr
    jobid = json.loads(sub.stdout)["id"]
    assert h.wait_job(jobid, timeout=30)["status"] == "c"
    # The Python client: same keys, same endpoint.
    with SugoClient(appdir=other, connect=listen) as client:
        assert client.ping().pid == h.status()["pid"]
        assert client.curve is not None and client.curve.name == "lab-pc"


def test_an_unknown_key_gets_no_answer_at_all(networked: DaemonHarness, tmp_path: Path) -> None:
    h, listen = networked, networked.listen  # type: ignore[attr-defined]
    stranger = tmp_path / "stranger"
    new_pair(stranger, "intruder")  # allowed in its own folder only
    (stranger / "keys" / "daemon.key").write_bytes((h.appdir / "keys" / "daemon.key").read_bytes())
    (stranger / "keys" / "daemon.key_secret").unlink()
    done = h.cli("--appdir", str(stranger), "--connect", listen, "status")
    assert done.returncode == 3, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "no daemon answers at " + listen in line and "key allowed" in line
    # Not even an error reply: the request simply times out.
    keys = client_keys(stranger)
    with Client(listen, timeout=0.5, curve=keys) as c, pytest.raises(RequestTimeout):
        c.call(api.Ping())
    # A plaintext client gets nothing either.
    with Client(listen, timeout=0.5) as c, pytest.raises(RequestTimeout):
        c.call(api.Ping())


def test_a_key_made_while_the_daemon_runs_counts_at_once(networked: DaemonHarness) -> None:
    h, listen = networked, networked.listen  # type: ignore[attr-defined]
    other = _remote_appdir(h, "late")
    keys = client_keys(other)
    with Client(listen, timeout=5.0, curve=keys) as c:
        assert c.call(api.Ping())["pid"]


def test_no_plaintext_payload_on_the_wire(networked: DaemonHarness) -> None:
    h, listen = networked, networked.listen  # type: ignore[attr-defined]
    other = _remote_appdir(h, "tapped")
    keys: ClientKeys = client_keys(other)
    host, port = listen[len("tcp://") :].rsplit(":", 1)
    tap = TcpTap((host, int(port)))
    marker = "PLAINTEXT-MARKER-7f3a9c"
    text = PAYLOAD.read_text().replace("counter_1_0.1", marker)
    try:
        with Client(tap.endpoint, timeout=10.0, curve=keys) as c:
            req = api.Submit(payload=text, fmt="yaml", source="p.yml", cwd=str(h.root))
            jobid = c.call(req)["id"]
            assert c.call(api.Jobs(ids=[jobid]))["jobs"][0]["sample"] == marker
        wait_for(lambda: len(tap.seen) > 200, 5.0, "bytes through the tap")
        assert marker.encode() not in tap.seen
        assert b"submit" not in tap.seen
    finally:
        tap.close()
    # The daemon's local socket is CURVE too (docs/network.md, "The local socket").
    local = TcpTap(("127.0.0.1", h.port))
    try:
        with Client(local.endpoint, timeout=10.0, curve=local_client_keys(h.appdir)) as c:
            c.call(api.Submit(payload=text, fmt="yaml", source="p.yml", cwd=str(h.root)))
        assert local.seen and marker.encode() not in local.seen
    finally:
        local.close()
    # Control: the same relay in front of a plain sugo server sees it.
    server = ServerLoop("plain", {api.Submit: lambda req, call: {"id": 1}}, bind="127.0.0.1")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    plain = TcpTap(("127.0.0.1", server.port))
    try:
        with Client(plain.endpoint, timeout=10.0) as c:
            c.call(api.Submit(payload=text, fmt="yaml", source="p.yml", cwd=str(h.root)))
        assert marker.encode() in plain.seen
    finally:
        plain.close()
        server.stop()
        thread.join(5.0)
        server.close()
