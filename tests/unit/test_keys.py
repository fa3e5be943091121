"""The key files of keys/ and CURVE socket setup (sugo.protocol.keys, .curve)."""

import stat
from pathlib import Path

import pytest
import zmq

from sugo.errors import SugoError
from sugo.protocol import keys
from sugo.protocol.curve import Guard, curve_server


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_pair_is_owner_only_and_allowed(tmp_path: Path) -> None:
    pair = keys.new_pair(tmp_path, "lab-pc")
    folder = tmp_path / "keys"
    assert _mode(folder) == 0o700 and _mode(folder / "allowed") == 0o700
    for f in ("lab-pc.key", "lab-pc.key_secret", "daemon.key_secret", "allowed/lab-pc.key"):
        assert _mode(folder / f) == 0o600, f
    assert pair.public in keys.allowed_public_keys(tmp_path)
    daemon = keys.load_pair(folder, "daemon")
    assert daemon.public in keys.allowed_public_keys(tmp_path)  # its owner may always connect
    listed = {k["name"]: k for k in keys.list_keys(tmp_path)}
    assert listed["lab-pc"]["allowed"] and listed["lab-pc"]["secret"]


@pytest.mark.parametrize("name", ["daemon", "allowed", "", "a/b", "../x", "x" * 65])
def test_bad_key_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(SugoError, match="key name"):
        keys.new_pair(tmp_path, name)


def test_a_key_is_not_made_twice(tmp_path: Path) -> None:
    first = keys.new_pair(tmp_path, "pc")
    with pytest.raises(SugoError, match="exists already"):
        keys.new_pair(tmp_path, "pc")
    assert keys.load_pair(tmp_path / "keys", "pc") == first


def test_export_writes_the_pair_and_only_the_daemons_public_key(tmp_path: Path) -> None:
    keys.new_pair(tmp_path / "d", "pc1")
    keys.new_pair(tmp_path / "d", "pc2")
    written = keys.export(tmp_path / "d", "pc1", tmp_path / "usb")
    names = sorted(p.name for p in (tmp_path / "usb" / "keys").iterdir())
    assert names == ["daemon.key", "pc1.key", "pc1.key_secret"]
    assert len(written) == 3
    assert b"secret-key" not in (tmp_path / "usb" / "keys" / "daemon.key").read_bytes()
    got = keys.client_keys(tmp_path / "usb")
    assert got.name == "pc1"
    assert got.server == keys.load_pair(tmp_path / "d" / "keys", "daemon").public


def test_client_keys_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(keys.KEY_ENV, raising=False)
    with pytest.raises(SugoError, match="no daemon public key"):
        keys.client_keys(tmp_path)
    keys.new_pair(tmp_path, "a")
    assert keys.client_keys(tmp_path).name == "a"  # the one pair that is not the daemon's
    keys.new_pair(tmp_path, "b")
    assert keys.client_keys(tmp_path).name == "daemon"  # the owner's own folder
    monkeypatch.setenv(keys.KEY_ENV, "b")
    assert keys.client_keys(tmp_path).name == "b"


def test_curve_server_socket_has_curve_on(tmp_path: Path) -> None:
    pair = keys.ensure_daemon_pair(tmp_path)
    ctx: zmq.Context = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    try:
        curve_server(sock, pair)
        assert sock.getsockopt(zmq.CURVE_SERVER) == 1
        assert sock.getsockopt(zmq.MECHANISM) == zmq.CURVE
    finally:
        sock.close(0)
        ctx.term()


def test_guard_reads_the_allow_list_afresh(tmp_path: Path) -> None:
    allowed: set[bytes] = {b"A" * 40}
    ctx: zmq.Context = zmq.Context()
    guard = Guard(ctx, lambda: set(allowed))
    try:
        assert guard.callback("*", b"A" * 40)
        assert not guard.callback("*", b"B" * 40)
        assert guard.refused == 1
        allowed.add(b"B" * 40)
        guard._cache = (0.0, set())  # as after ALLOWED_CACHE seconds
        assert guard.callback("*", b"B" * 40)
    finally:
        guard.stop()
        ctx.term()


def test_keys_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sugo.cli.main import main

    assert main(["--appdir", str(tmp_path), "keys", "new", "pc"]) == 0
    capsys.readouterr()
    for argv, words in (
        (["keys", "new", "daemon"], "key name 'daemon'"),
        (["keys", "new", "pc"], "exists already"),
        (["keys", "export", "nobody", str(tmp_path / "x")], "no key 'nobody'"),
    ):
        assert main(["--appdir", str(tmp_path), *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, err
    assert not (tmp_path / "x").exists()
    assert main(["--appdir", str(tmp_path), "--json", "keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert '"pc"' in listed and "secret-key" not in listed


def test_curve_endpoints_carry_the_server_key_and_errors_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sugo.errors import RequestTimeout
    from sugo.protocol import daemon_api as api
    from sugo.protocol.client import Client

    daemon = keys.ensure_daemon_pair(tmp_path)
    agent = keys.new_pair(tmp_path, "agent")
    ep = keys.curve_endpoint("tcp://127.0.0.1:9", agent.public)
    assert keys.split_curve(ep) == ("tcp://127.0.0.1:9", agent.public)
    assert keys.split_curve("tcp://127.0.0.1:9") == ("tcp://127.0.0.1:9", None)
    monkeypatch.setenv(keys.PROCESS_KEY_ENV, str(tmp_path / "keys" / "daemon.key_secret"))
    assert keys.process_client_keys(agent.public).public == daemon.public
    with Client(ep, timeout=0.2) as c, pytest.raises(RequestTimeout) as err:
        c.call(api.Ping())
    assert str(err.value).startswith("tcp://127.0.0.1:9: no reply") and "curve" not in str(
        err.value
    )
    monkeypatch.delenv(keys.PROCESS_KEY_ENV)
    with Client(ep, timeout=0.2) as c, pytest.raises(SugoError, match="SUGO_CURVE_KEY"):
        c.call(api.Ping())


def test_local_keys_made_once_allowed_and_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(keys.KEY_ENV, raising=False)
    with pytest.raises(SugoError, match="no client key in"):
        keys.local_client_keys(tmp_path)
    assert keys.ensure_local_keys(tmp_path) is True
    assert keys.ensure_local_keys(tmp_path) is False  # nothing made twice
    folder = tmp_path / "keys"
    local = keys.load_pair(folder, "local")
    assert _mode(folder / "local.key_secret") == 0o600
    assert local.public in keys.allowed_public_keys(tmp_path)
    got = keys.local_client_keys(tmp_path)
    assert (got.name, got.public) == ("local", local.public)
    assert got.server == keys.load_pair(folder, "daemon").public
    # --connect on the daemon's PC: a pair made for another PC is preferred
    # only when it is the one other pair; else `local`.
    assert keys.client_keys(tmp_path).name == "local"
    keys.new_pair(tmp_path, "pc1")
    assert keys.client_keys(tmp_path).name == "pc1"
    keys.new_pair(tmp_path, "pc2")
    assert keys.client_keys(tmp_path).name == "local"


def test_key_files_read_as_zmq_auth_reads_them(tmp_path: Path) -> None:
    import zmq.auth

    keys.ensure_local_keys(tmp_path)
    folder = tmp_path / "keys"
    for name in ("daemon", "local"):
        public, secret = zmq.auth.load_certificate(folder / f"{name}.key_secret")
        assert keys.load_pair(folder, name) == keys.KeyPair(name, public, secret)
    (folder / "bad.key").write_text('public-key = "short"\n')
    with pytest.raises(SugoError, match="not a CURVE key file"):
        keys.load_pair(folder, "bad")


def test_family_env_gives_unmarked_endpoints_curve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys.ensure_local_keys(tmp_path)
    monkeypatch.delenv(keys.PROCESS_SERVER_ENV, raising=False)
    assert keys.process_server_keys() is None  # not a process the daemon started
    for name, value in keys.daemon_family_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    got = keys.process_server_keys()
    daemon = keys.load_pair(tmp_path / "keys", "daemon")
    assert got is not None and (got.public, got.server) == (daemon.public, daemon.public)


def test_guard_rereads_the_allow_list_on_a_miss() -> None:
    """A key made a moment ago counts at once, though the list was read < 1 s ago."""
    allowed = {b"a" * 40}
    reads = []

    def read() -> set[bytes]:
        reads.append(1)
        return set(allowed)

    ctx: zmq.Context = zmq.Context()
    guard = Guard(ctx, read)
    try:
        assert guard.callback("*", b"a" * 40) and len(reads) == 1
        assert guard.callback("*", b"a" * 40) and len(reads) == 1  # cached
        allowed.add(b"b" * 40)
        assert guard.callback("*", b"b" * 40) and len(reads) == 2
        assert not guard.callback("*", b"c" * 40) and guard.refused == 1
    finally:
        guard.stop()
        ctx.destroy(linger=0)
