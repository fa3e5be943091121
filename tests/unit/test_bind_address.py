"""Where a process of this machine reaches a server bound to `[daemon] bind`:
one rule (``sugo.protocol.endpoints.connect_host``) for the daemon's own
children, the CLI (``sugo.paths.daemon_host``) and the web server."""

from pathlib import Path

import pytest

from sugo.connection import DaemonConnection
from sugo.paths import daemon_host
from sugo.platform import oslock
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


def _settings(appdir: Path, text: str) -> Path:
    appdir.mkdir(exist_ok=True)
    (appdir / "settings.toml").write_text(text)
    return appdir


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ('[daemon]\nbind = "127.0.0.2"\n', "127.0.0.2"),
        ('[daemon]\nbind = "0.0.0.0"\n', "127.0.0.1"),
        ('[daemon]\nbind = "::"\n', "::1"),
        ('logdir = "logs"\n', "127.0.0.1"),  # no bind: the default
        ('[daemon]\nbind = "localhost"\n', "127.0.0.1"),  # refused by the daemon
        ("[daemon\nbind = ", "127.0.0.1"),  # not TOML: the daemon does not start
        ("[daemon]\nbind = 3\n", "127.0.0.1"),
    ],
)
def test_a_client_reaches_the_daemon_where_its_settings_bind_it(
    tmp_path: Path, text: str, host: str
) -> None:
    appdir = _settings(tmp_path / "app", text)
    assert daemon_host(appdir) == host
    with DaemonConnection(port=9999, appdir=appdir) as conn:
        assert conn.host == host
        assert conn.endpoint == endpoint(host, 9999)


def test_an_explicit_host_wins_and_no_settings_file_is_loopback(tmp_path: Path) -> None:
    assert daemon_host(tmp_path / "nowhere") == "127.0.0.1"
    appdir = _settings(tmp_path / "app", '[daemon]\nbind = "127.0.0.2"\n')
    with DaemonConnection(port=9999, appdir=appdir, host="127.0.0.3") as conn:
        assert conn.endpoint == "tcp://127.0.0.3:9999"


def test_the_running_daemon_is_found_where_it_listens_not_where_the_file_now_says(
    tmp_path: Path,
) -> None:
    appdir = _settings(tmp_path / "app", '[daemon]\nbind = "127.0.0.3"\n')
    with oslock.acquire(oslock.lock_path(appdir), pid=5, port=9999) as held:
        assert daemon_host(appdir, 9999) == "127.0.0.3"  # not listening yet: the file
        held.note(5, 9999, "::")
        assert oslock.read_holder(held.path) == oslock.Holder(5, 9999, "::")
        assert daemon_host(appdir, 9999) == "::1"
        with DaemonConnection(port=9999, appdir=appdir) as conn:
            assert conn.endpoint == "tcp://[::1]:9999"
        assert daemon_host(appdir, 9998) == "127.0.0.3"  # another daemon's port: the file
