"""CURVE key files in an app folder's ``keys/`` folder (owner-only).

Layout (pyzmq's certificate format, readable with ``zmq.auth.load_certificate``)::

    keys/daemon.key, keys/daemon.key_secret   the daemon's own pair (`sugo init`)
    keys/NAME.key, keys/NAME.key_secret       a client or agent pair (`sugo keys new`)
    keys/local.key, keys/local.key_secret     the daemon's own PC's clients (CLI, SugoClient)
    keys/allowed/NAME.key                     public keys the daemon accepts

A client picks its own pair: ``$SUGO_KEY`` names it, else the one pair that is
neither the daemon's nor the local one, else the local pair, else the daemon's
pair (whoever can read the daemon's secret is its owner, so the daemon always
accepts its own public key).

Every socket of the daemon is CURVE, its loopback port included: only a user
who can read keys/ (the daemon's owner) can talk to it. Processes the daemon
starts (driver hosts, job runners, results writers) get their key files in
the environment (`daemon_family_env`) and use them for every endpoint without
a ``#curve=`` mark (sugo.protocol.client).

Kept import-light: zmq.auth is imported only where a key is made or an allow-list read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from sugo.errors import SugoError

KEYS_DIR = "keys"
ALLOWED_DIR = "allowed"
DAEMON = "daemon"
LOCAL = "local"  # the pair of clients on the daemon's own PC (`sugo init`, first start)
KEY_ENV = "SUGO_KEY"
#: A process's own pair for CURVE endpoints named ``tcp://H:P#curve=KEY``: the
#: path of a ``.key_secret`` file (set by the daemon for itself and its job
#: runners, and by an agent for its driver hosts).
PROCESS_KEY_ENV = "SUGO_CURVE_KEY"
#: A driver host's allow-list: ``os.pathsep``-separated public key files.
PROCESS_ALLOW_ENV = "SUGO_CURVE_ALLOW"
#: The public key file of the server behind every unmarked endpoint (the
#: daemon and its local driver hosts), for processes the daemon started.
PROCESS_SERVER_ENV = "SUGO_CURVE_SERVER"
CURVE_MARK = "#curve="
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class KeyPair:
    name: str
    public: bytes  # z85, 40 bytes
    secret: bytes | None  # z85, or None when only the public key is here


@dataclass(frozen=True)
class ClientKeys:
    """What a CURVE client needs: its own pair and the server's public key."""

    public: bytes
    secret: bytes
    server: bytes
    name: str = ""


def keys_dir(appdir: Path) -> Path:
    return Path(appdir) / KEYS_DIR


def check_name(name: str) -> str:
    if not _NAME.match(name) or name in (DAEMON, ALLOWED_DIR):
        raise SugoError(
            f"key name {name!r}: use letters, digits, '.', '_' or '-' "
            f"(up to 64, not {DAEMON!r} or {ALLOWED_DIR!r})"
        )
    return name


def _private_dir(path: Path) -> Path:
    """Make ``path`` (and keys/allowed) owner-only: nobody else may list it."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # a no-op for others on Windows: the user folder is private there
    return path


def _copy(src: Path, dst: Path) -> None:
    import shutil  # not at the top: its compression imports would cost every CLI command

    shutil.copyfile(src, dst)


def _make_pair(folder: Path, name: str) -> KeyPair:
    import zmq.auth

    _private_dir(folder)
    public_file, secret_file = zmq.auth.create_certificates(folder, name)
    os.chmod(secret_file, 0o600)
    os.chmod(public_file, 0o600)
    return load_pair(folder, name)


def _read_certificate(path: Path) -> tuple[bytes, bytes | None]:
    """(public, secret or None) of a certificate file as zmq.auth writes it
    (``public-key = "..."`` lines). Read here, not with zmq.auth, whose
    import (logging, datetime) would cost every CLI command ~10 ms."""
    found: dict[bytes, bytes] = {}
    for line in path.read_bytes().splitlines():
        name, sep, value = line.strip().partition(b"=")
        if sep and name.strip() in (b"public-key", b"secret-key"):
            found[name.strip()] = value.strip(b" \t'\"")
    public, secret = found.get(b"public-key"), found.get(b"secret-key")
    if not public or len(public) != 40 or (secret is not None and len(secret) != 40):
        raise ValueError(f"{path.name} is not a CURVE key file")
    return public, secret


def load_pair(folder: Path, name: str) -> KeyPair:
    secret_file = folder / f"{name}.key_secret"
    public_file = folder / f"{name}.key"
    try:
        public, secret = _read_certificate(secret_file if secret_file.exists() else public_file)
    except (OSError, ValueError) as e:
        raise SugoError(f"cannot read key {name!r} in {folder}: {e}") from None
    return KeyPair(name, public, secret)


def ensure_daemon_pair(appdir: Path) -> KeyPair:
    """The daemon's pair, made on first use (by `sugo init` or the first start)."""
    folder = keys_dir(appdir)
    if (folder / f"{DAEMON}.key_secret").exists():
        return load_pair(folder, DAEMON)
    return _make_pair(folder, DAEMON)


def ensure_local_keys(appdir: Path) -> bool:
    """The daemon's pair and the allow-listed local client pair, made if
    missing (`sugo init`, or the start of a daemon whose app folder predates
    them); True if something was made."""
    folder = keys_dir(appdir)
    made = False
    if not (folder / f"{DAEMON}.key_secret").exists():
        _make_pair(folder, DAEMON)
        made = True
    if not (folder / f"{LOCAL}.key_secret").exists():
        _make_pair(folder, LOCAL)
        made = True
    allowed = folder / ALLOWED_DIR / f"{LOCAL}.key"
    if not allowed.exists():
        _private_dir(folder / ALLOWED_DIR)
        _copy(folder / f"{LOCAL}.key", allowed)
        os.chmod(allowed, 0o600)
        made = True
    return made


def daemon_family_env(appdir: Path) -> dict[str, str]:
    """The environment of the daemon and every process it starts: the daemon's
    pair as their own (a driver host serves CURVE with it and accepts only it;
    runners and hosts are CURVE clients of the daemon and hosts with it)."""
    folder = keys_dir(appdir).absolute()
    return {
        PROCESS_KEY_ENV: str(folder / f"{DAEMON}.key_secret"),
        PROCESS_SERVER_ENV: str(folder / f"{DAEMON}.key"),
        PROCESS_ALLOW_ENV: str(folder / f"{DAEMON}.key"),
    }


def new_pair(appdir: Path, name: str) -> KeyPair:
    """Make a client or agent pair and allow-list its public key at once."""
    check_name(name)
    folder = keys_dir(appdir)
    if (folder / f"{name}.key").exists() or (folder / ALLOWED_DIR / f"{name}.key").exists():
        raise SugoError(f"key {name!r} exists already in {folder}")
    ensure_daemon_pair(appdir)
    pair = _make_pair(folder, name)
    allowed = _private_dir(folder / ALLOWED_DIR)
    _copy(folder / f"{name}.key", allowed / f"{name}.key")
    os.chmod(allowed / f"{name}.key", 0o600)
    return pair


def list_keys(appdir: Path) -> list[dict[str, object]]:
    """Every pair or allowed key: name, public key, secret here, allowed."""
    folder = keys_dir(appdir)
    names = {p.stem for p in folder.glob("*.key")} if folder.is_dir() else set()
    allowed_dir = folder / ALLOWED_DIR
    allowed = {p.stem for p in allowed_dir.glob("*.key")} if allowed_dir.is_dir() else set()
    out: list[dict[str, object]] = []
    for name in sorted(names | allowed):
        where = folder if name in names else allowed_dir
        pair = load_pair(where, name)
        out.append(
            {
                "name": name,
                "public": pair.public.decode(),
                "secret": pair.secret is not None,
                "allowed": name == DAEMON or name in allowed,
            }
        )
    return out


def export(appdir: Path, name: str, target: Path) -> list[Path]:
    """Write into ``target``'s keys/ what ``name`` needs on another PC: its
    own pair and the daemon's public key, never another secret."""
    check_name(name)
    folder = keys_dir(appdir)
    if not (folder / f"{name}.key_secret").exists():
        raise SugoError(f"no key {name!r} with a secret in {folder} (see 'sugo keys list')")
    if not (folder / f"{DAEMON}.key").exists():
        raise SugoError(f"no daemon key in {folder} (run 'sugo init' or start the daemon once)")
    out = _private_dir(keys_dir(target))
    written = []
    for src, dst in (
        (f"{name}.key", f"{name}.key"),
        (f"{name}.key_secret", f"{name}.key_secret"),
        (f"{DAEMON}.key", f"{DAEMON}.key"),  # the public half only
    ):
        _copy(folder / src, out / dst)
        os.chmod(out / dst, 0o600)
        written.append(out / dst)
    return written


def allowed_public_keys(appdir: Path) -> set[bytes]:
    """The z85 public keys the daemon accepts (read afresh: a key made with
    `sugo keys new` or deleted from keys/allowed counts at once)."""
    import zmq.auth

    folder = keys_dir(appdir)
    keys: set[bytes] = set()
    allowed = folder / ALLOWED_DIR
    if allowed.is_dir():
        keys.update(k for k, ok in zmq.auth.load_certificates(allowed).items() if ok)
    if (folder / f"{DAEMON}.key").exists():
        keys.add(load_pair(folder, DAEMON).public)
    return keys


def client_keys(appdir: Path) -> ClientKeys:
    """This app folder's own pair (see the module doc) and the daemon's public key."""
    folder = keys_dir(appdir)
    if not (folder / f"{DAEMON}.key").exists():
        raise SugoError(
            f"no daemon public key in {folder}: copy it there with 'sugo keys export NAME DIR' "
            "on the daemon's PC"
        )
    server = load_pair(folder, DAEMON).public
    wanted = os.environ.get(KEY_ENV, "").strip()
    if wanted:
        pair = load_pair(folder, check_name(wanted))
    else:
        own = sorted(p.name[: -len(".key_secret")] for p in folder.glob("*.key_secret"))
        others = [n for n in own if n not in (DAEMON, LOCAL)]
        if len(others) == 1:
            pair = load_pair(folder, others[0])
        elif LOCAL in own:
            pair = load_pair(folder, LOCAL)
        elif DAEMON in own:
            pair = load_pair(folder, DAEMON)
        elif not others:
            raise SugoError(f"no key with a secret in {folder} (see 'sugo keys export')")
        else:
            raise SugoError(f"several keys in {folder} ({', '.join(others)}): set ${KEY_ENV}")
    if pair.secret is None:
        raise SugoError(f"key {pair.name!r} in {folder} has no secret")
    return ClientKeys(pair.public, pair.secret, server, pair.name)


# -- CURVE endpoints between processes -----------------------------------------------


def curve_endpoint(address: str, server_public: bytes) -> str:
    """``address`` marked as a CURVE server with this public key (z85): a
    Client connects to it with its process's own pair."""
    return f"{address}{CURVE_MARK}{server_public.hex()}"


def split_curve(address: str) -> tuple[str, bytes | None]:
    """(the address to connect to, the server's z85 public key or None)."""
    plain, mark, key = address.partition(CURVE_MARK)
    if not mark:
        return address, None
    try:
        return plain, bytes.fromhex(key)
    except ValueError:
        raise SugoError(f"{address}: malformed server key") from None


def process_pair() -> KeyPair:
    """This process's own pair, from ``$SUGO_CURVE_KEY``."""
    path = os.environ.get(PROCESS_KEY_ENV, "").strip()
    if not path:
        raise SugoError(f"a CURVE endpoint needs ${PROCESS_KEY_ENV} (this process has no key)")
    file = Path(path)
    return load_pair(file.parent, file.name[: -len(".key_secret")])


def process_client_keys(server: bytes) -> ClientKeys:
    pair = process_pair()
    if pair.secret is None:
        raise SugoError(f"${PROCESS_KEY_ENV}: key {pair.name!r} has no secret")
    return ClientKeys(pair.public, pair.secret, server, pair.name)


def local_client_keys(appdir: Path) -> ClientKeys:
    """The keys of a client of the daemon's loopback port: ``$SUGO_KEY``'s pair
    if set, else the local pair, else the daemon's; a clear error for a user
    who cannot read keys/ (who gets nothing from the daemon)."""
    folder = keys_dir(appdir)
    wanted = os.environ.get(KEY_ENV, "").strip()
    names = [check_name(wanted)] if wanted else [LOCAL, DAEMON]
    try:
        server = load_pair(folder, DAEMON).public if (folder / f"{DAEMON}.key").exists() else None
        name = next((n for n in names if (folder / f"{n}.key_secret").exists()), None)
        pair = load_pair(folder, name) if name and server else None
    except (OSError, SugoError) as e:
        raise SugoError(f"cannot read the daemon's keys in {folder}: {e}") from None
    if pair is None or pair.secret is None or server is None:
        raise SugoError(
            f"no client key in {folder}: only a user who can read it may use this daemon "
            "('sugo init' or the daemon's first start makes it)"
        )
    return ClientKeys(pair.public, pair.secret, server, pair.name)


def process_server_keys() -> ClientKeys | None:
    """For a process the daemon started: CURVE keys for an unmarked endpoint
    (``$SUGO_CURVE_SERVER`` and ``$SUGO_CURVE_KEY``), or None when not set."""
    server = os.environ.get(PROCESS_SERVER_ENV, "").strip()
    if not server:
        return None
    # Cached: a job runner opens a socket per daemon request; the files are
    # the daemon's own, made before it started this process.
    key = (server, os.environ.get(PROCESS_KEY_ENV, ""))
    got = _FAMILY_KEYS.get(key)
    if got is None:
        file = Path(server)
        got = _FAMILY_KEYS[key] = process_client_keys(load_pair(file.parent, file.stem).public)
    return got


_FAMILY_KEYS: dict[tuple[str, str], ClientKeys] = {}


def process_allowed() -> set[bytes]:
    """The public keys in ``$SUGO_CURVE_ALLOW``'s files."""
    keys: set[bytes] = set()
    for path in os.environ.get(PROCESS_ALLOW_ENV, "").split(os.pathsep):
        if path.strip():
            file = Path(path.strip())
            keys.add(load_pair(file.parent, file.stem).public)
    return keys
