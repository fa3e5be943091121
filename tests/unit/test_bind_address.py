"""Where a process of this machine reaches a server bound to `[daemon] bind`:
one rule (``sugo.protocol.endpoints.connect_host``) for the daemon's own
children, the CLI (``sugo.paths.daemon_host``) and the web server."""

import socket
from pathlib import Path

import pytest

from sugo.connection import DaemonConnection, DaemonUnreachable
from sugo.paths import daemon_host
from sugo.platform import oslock
from sugo.protocol import daemon_api as api
from sugo.protocol.endpoints import connect_host, endpoint, is_ipv6, local_endpoint


@pytest.mark.parametrize(
    ("bind", "host"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),
        ("127.0.0.2", "127.0.0.2"),
        ("192.0.2.7", "192.0.2.7"),
        ("::", "::1"),
        ("0:0::0", "::1"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("", "127.0.0.1"),
    ],
)
def test_connect_host(bind: str, host: str) -> None:
    assert connect_host(bind) == host


def test_ipv6_endpoints_are_bracketed_and_need_the_ipv6_option() -> None:
    assert endpoint("::1", 5) == "tcp://[::1]:5"
    assert endpoint("127.0.0.2", 5) == "tcp://127.0.0.2:5"
    assert local_endpoint("::", 5) == "tcp://[::1]:5"
    assert local_endpoint("0.0.0.0", 5) == "tcp://127.0.0.1:5"
    for v6 in ("::1", "::", "tcp://[::1]:5", "tcp://[fe80::1]:5#curve=abc:def"):
        assert is_ipv6(v6), v6
    for v4 in ("127.0.0.1", "0.0.0.0", "tcp://127.0.0.1:5", "tcp://*:5", "tcp://h:5#curve=a:b"):
        assert not is_ipv6(v4), v4


def _listening(appdir: Path, port: int, bind: str) -> oslock.HeldLock:
    """The lock file as a daemon on ``port`` bound to ``bind`` leaves it."""
    appdir.mkdir(exist_ok=True)
    held = oslock.acquire(oslock.lock_path(appdir), pid=5, port=port)
    held.note(5, port, bind)
    return held


@pytest.mark.parametrize(
    ("bind", "host"),
    [("127.0.0.2", "127.0.0.2"), ("0.0.0.0", "127.0.0.1"), ("::", "::1"), ("::1", "::1")],
)
def test_a_client_reaches_the_daemon_where_it_says_it_listens(
    tmp_path: Path, bind: str, host: str
) -> None:
    appdir = tmp_path / "app"
    with _listening(appdir, 9999, bind) as held:
        assert oslock.read_holder(held.path) == oslock.Holder(5, 9999, bind)
        assert daemon_host(appdir, 9999) == host
        with DaemonConnection(port=9999, appdir=appdir) as conn:
            assert conn.host == host
            assert conn.endpoint == endpoint(host, 9999)
        # The daemon of another port, or none that listens yet: loopback.
        assert daemon_host(appdir, 9998) == "127.0.0.1"
        held.note(5, 9999)
        assert daemon_host(appdir, 9999) == "127.0.0.1"


def test_an_explicit_host_wins_and_no_lock_is_loopback(tmp_path: Path) -> None:
    assert daemon_host(tmp_path / "nowhere", 9999) == "127.0.0.1"
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / oslock.LOCK_FILE).write_bytes(b"12 9999 localhost\n")
    assert daemon_host(tmp_path / "junk", 9999) == "127.0.0.1"  # never a bind
    with (
        _listening(tmp_path / "app", 9999, "127.0.0.2"),
        DaemonConnection(port=9999, appdir=tmp_path / "app", host="127.0.0.3") as conn,
    ):
        assert conn.endpoint == "tcp://127.0.0.3:9999"


def test_a_refused_client_looks_for_the_daemon_again(tmp_path: Path) -> None:
    # A client kept for long (the web server's) finds a daemon that started
    # after it asked, at the address that daemon listens at.
    appdir = tmp_path / "app"
    appdir.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with DaemonConnection(port=port, appdir=appdir, timeout=1.0) as conn:
        with pytest.raises(DaemonUnreachable, match=f"tcp://127.0.0.1:{port}"):
            conn.ask(api.Ping())
        with (
            _listening(appdir, port, "127.0.0.2"),
            pytest.raises(DaemonUnreachable, match=f"tcp://127.0.0.2:{port}"),
        ):
            conn.ask(api.Ping())
