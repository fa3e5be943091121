"""Where the daemon listens (its port, the address a client reaches it at) and
where its app folder is, when not said explicitly.

Explicit argument first, then the environment (``SUGO_PORT``, ``SUGO_APPDIR``),
then the defaults. Kept import-light: the CLI resolves the port on every call.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sugo.errors import SugoError

if TYPE_CHECKING:
    from pathlib import Path

#: The daemon's port when neither ``--port`` nor ``SUGO_PORT`` is given.
DEFAULT_PORT = 9271
PORT_ENV = "SUGO_PORT"
APPDIR_ENV = "SUGO_APPDIR"
SETTINGS_FILE = "settings.toml"
DEVICES_FILE = "devices.toml"


def _check_port(port: int, source: str) -> int:
    if not 1 <= port <= 65535:
        raise SugoError(f"{source}: port {port} is not between 1 and 65535")
    return port


def resolve_port(port: int | None = None) -> int:
    """The daemon port: ``port`` if given, else ``$SUGO_PORT``, else DEFAULT_PORT."""
    if port is not None:
        return _check_port(port, "port")
    text = os.environ.get(PORT_ENV, "").strip()
    if not text:
        return DEFAULT_PORT
    try:
        value = int(text)
    except ValueError:
        raise SugoError(f"{PORT_ENV}={text!r} is not a port number") from None
    return _check_port(value, PORT_ENV)


def default_appdir() -> Path:
    """The platform's per-user config folder for sugo."""
    # platformdirs costs a few milliseconds: only paid by commands that need it.
    from pathlib import Path

    import platformdirs

    return Path(platformdirs.user_config_dir("sugo"))


def resolve_appdir(appdir: Path | str | None = None) -> Path:
    """The app folder: ``appdir`` if given, else ``$SUGO_APPDIR``, else the
    platform's user config folder; always absolute, ``~`` expanded."""
    from pathlib import Path  # not at import: `sugo status` never needs it

    if appdir is None or str(appdir) == "":
        env = os.environ.get(APPDIR_ENV, "").strip()
        appdir = Path(env) if env else default_appdir()
    return Path(os.path.abspath(Path(appdir).expanduser()))


def settings_path(appdir: Path) -> Path:
    """The settings file of an app folder."""
    return appdir / SETTINGS_FILE


def daemon_host(appdir: Path, port: int | None = None) -> str:
    """Where a client on this machine reaches the daemon of ``appdir`` on
    ``port``: at the `[daemon] bind` its lock file says it listens at (the
    daemon writes it there once it listens), as
    ``sugo.protocol.endpoints.connect_host`` has it (loopback for 0.0.0.0 and
    ::); else loopback (no daemon listens, or one of another port).

    The lock, not settings.toml: the file may have been edited since the
    daemon started (a reload may not change the bind), and no TOML parser is
    loaded for it."""
    from sugo.platform.oslock import lock_path, read_holder
    from sugo.protocol.endpoints import connect_host, is_ip

    holder = read_holder(lock_path(appdir))
    if holder.bind and (port is None or holder.port == port):
        host = connect_host(holder.bind)
        if is_ip(host):
            return host
    return "127.0.0.1"


def bind_failed(appdir: Path, bind: str, port: int, code: int | None, reason: str) -> str:
    """The one line that says the daemon cannot listen at its `[daemon] bind`
    (from `sugo start`'s check, and from the daemon itself); ``code`` and
    ``reason``: the errno and message of the failed bind."""
    import errno

    hint = ""
    if code in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        hint = " (not an address of this machine: give one of its own, or 0.0.0.0 / :: for all)"
    where = f"{settings_path(appdir)}: [daemon] bind = {bind!r}"
    return f"{where}: cannot listen on port {port}: {reason}{hint}"
