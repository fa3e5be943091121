"""Where the daemon listens and where its app folder is, when not said explicitly.

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
