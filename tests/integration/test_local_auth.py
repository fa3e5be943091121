"""The daemon's own loopback port and its local driver hosts are CURVE too
(issue 17, "Security"): only a user who can read the app folder's keys/
gets an answer; a plain-text client, one with an unknown key, or another
local user gets nothing at all, so nobody else can submit jobs that a root
daemon would run and write files for."""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import zmq

from sugo.client import SugoClient
from sugo.errors import RequestTimeout, SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.client import Client
from sugo.protocol.keys import ClientKeys, ensure_local_keys, load_pair
from tests.integration.harness import DaemonHarness

NOBODY = 65534


@pytest.fixture
def open_daemon() -> Iterator[DaemonHarness]:
    """A daemon whose app folder every local user may enter and read (as a
    careless shared PC has it), but whose keys/ is owner-only as sugo makes it."""
    root = Path(tempfile.mkdtemp(prefix="sugo-auth-"))
    os.chmod(root, 0o755)
    h = DaemonHarness(root)
    os.chmod(h.appdir, 0o755)
    os.chmod(h.appdir / "settings.toml", 0o644)
    try:
        h.start()
        yield h
    finally:
        h.stop()
        shutil.rmtree(root, ignore_errors=True)


def _jobs(h: DaemonHarness) -> list[object]:
    return list(h.call(api.Jobs())["jobs"])


def test_keys_are_owner_only_and_the_cli_client_uses_them(open_daemon: DaemonHarness) -> None:
    keys = open_daemon.appdir / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for name in ("daemon.key_secret", "local.key_secret", "allowed/local.key"):
        assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600, name
    with SugoClient(open_daemon.port, open_daemon.appdir, timeout=5.0) as client:
        assert client.curve.name == "local"
        assert client.ping().pid > 0


def test_plain_or_unknown_key_clients_get_nothing(open_daemon: DaemonHarness) -> None:
    """Without CURVE, or with a key not in keys/allowed, neither the daemon's
    port nor a driver host's answers (libzmq drops the handshake: no error
    reply tells which keys exist); a client with the app folder's key does."""
    host_port = next(d["port"] for d in open_daemon.status()["drivers"] if d["port"])
    public, secret = zmq.curve_keypair()
    server = load_pair(open_daemon.appdir / "keys", "daemon").public
    stranger = ClientKeys(public, secret, server, "stranger")
    for ep in (open_daemon.endpoint, f"tcp://127.0.0.1:{host_port}"):
        for curve in (None, stranger):
            with Client(ep, timeout=0.5, curve=curve) as c, pytest.raises(RequestTimeout):
                c.call(api.Ping() if ep == open_daemon.endpoint else host_api.HostPing())
    # The host accepts the daemon's family key only (runners, the daemon), not the CLI's.
    with open_daemon.host_client(host_port, timeout=5.0) as c:
        assert c.call(host_api.HostPing())["driver"]
    with SugoClient(open_daemon.port, open_daemon.appdir, timeout=0.5) as client:
        client.ping()
    assert _jobs(open_daemon) == []


OTHER_USER = r"""
import json, logging, os, sys
import zmq.auth  # loaded now: the interpreter's folders are not readable as nobody
from pathlib import Path
import zmq
from sugo.client import SugoClient
from sugo.errors import RequestTimeout, SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.client import Client
from sugo.protocol.keys import ClientKeys

port, appdir, server = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].encode()
# sugo's code is loaded; from here on this process is another local user.
os.setgroups([]); os.setgid(%(uid)d); os.setuid(%(uid)d)
out = {"uid": os.getuid(), "settings": len((appdir / "settings.toml").read_text()) > 0}
try:
    with SugoClient(port, appdir, timeout=1.0) as c:
        out["client"] = "answered %%d" %% c.ping().pid
except SugoError as e:
    out["client"] = str(e)
pub, sec = zmq.curve_keypair()
payload = {"sample": {"name": "s"}, "method": [], "settings": {"output": {"path": "/etc"}}}
for name, curve in (("plain", None), ("own_key", ClientKeys(pub, sec, server))):
    try:
        with Client("tcp://127.0.0.1:%%d" %% port, timeout=1.0, curve=curve) as c:
            c.call(api.Status())
        out[name] = "answered"
    except RequestTimeout:
        out[name] = "no answer"
print(json.dumps(out))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="another uid needs root (CI runs as root)")
def test_another_local_user_gets_nothing(open_daemon: DaemonHarness) -> None:
    """A process of another user (nobody), with sugo imported, on the same PC:
    it can read the app folder's settings but not keys/, so SugoClient (the
    CLI's path) stops with a clear error and a hand-made plain or CURVE
    client with a key of its own, knowing the daemon's public key, gets no
    answer; no job is made."""
    server = load_pair(open_daemon.appdir / "keys", "daemon").public.decode()
    script = OTHER_USER % {"uid": NOBODY}
    argv = [sys.executable, "-c", script, str(open_daemon.port), str(open_daemon.appdir), server]
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["uid"] == NOBODY and out["settings"]  # the folder is open; keys/ is not
    assert "cannot read the daemon's keys" in out["client"], out
    assert "Permission denied" in out["client"], out
    assert out["plain"] == "no answer" and out["own_key"] == "no answer", out
    assert _jobs(open_daemon) == []


def test_an_old_app_folder_gets_keys_at_start(tmp_path: Path) -> None:
    """An app folder from before the keys (or one whose keys/ was removed):
    the daemon makes them at start, says so in its log, and serves."""
    h = DaemonHarness(tmp_path)
    assert not (h.appdir / "keys").exists()
    h.start()
    try:
        with SugoClient(h.port, h.appdir, timeout=5.0) as client:
            assert client.ping().pid > 0
        assert "made CURVE keys in" in h.logs()
    finally:
        h.stop()


def test_a_client_without_keys_is_told_why(open_daemon: DaemonHarness, tmp_path: Path) -> None:
    client = SugoClient(open_daemon.port, tmp_path, timeout=1.0)
    with client, pytest.raises(SugoError, match="no client key in"):
        client.ping()


def test_another_app_folders_cli_is_told_why(open_daemon: DaemonHarness, tmp_path: Path) -> None:
    """`sugo status` with the keys of another app folder: the daemon is silent
    to it, and the CLI says which app folder it needs instead of 'start it'."""
    other = tmp_path / "other"
    ensure_local_keys(other)
    argv = [sys.executable, "-m", "sugo.cli", "status", "--port", str(open_daemon.port)]
    env = {**os.environ, "SUGO_APPDIR": str(other), "NO_COLOR": "1"}
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 3, done.stderr
    assert f"is it the daemon of {other}?" in done.stderr


def test_a_bind_beyond_loopback_is_curve_too(tmp_path: Path) -> None:
    """`[daemon] bind = "0.0.0.0"` (issue 17, hard rule 15): the daemon's port and
    its hosts' ports, reached at a non-loopback address of this PC when it has
    one, answer only a client with the app folder's keys."""
    h = DaemonHarness(tmp_path)
    settings = h.appdir / "settings.toml"
    text = settings.read_text()
    assert 'bind = "127.0.0.1"' in text
    settings.write_text(text.replace('bind = "127.0.0.1"', 'bind = "0.0.0.0"'))
    addresses = [
        a.address
        for nics in psutil.net_if_addrs().values()
        for a in nics
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    ]
    where = addresses[0] if addresses else "127.0.0.1"  # no network: loopback still shows it
    h.start()
    try:
        host_port = next(d["port"] for d in h.status()["drivers"] if d["port"])
        for port in (h.port, host_port):
            with Client(f"tcp://{where}:{port}", timeout=0.5) as c, pytest.raises(RequestTimeout):
                c.call(api.Ping() if port == h.port else host_api.HostPing())
        with SugoClient(h.port, h.appdir, timeout=5.0, host=where) as client:
            assert client.ping().pid > 0
    finally:
        h.stop()
