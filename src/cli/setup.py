"""`sugo init`: write settings.toml and devices.toml into the app folder."""

import os
import tempfile
from pathlib import Path

from sugo.cli.context import OK, Context
from sugo.cli.output import CliError
from sugo.paths import DEVICES_FILE, SETTINGS_FILE


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path.expanduser()))


def _write_private(path: Path, text: str) -> None:
    # Written whole under a temporary name, then renamed: a reader never sees
    # half a file, and the mode is 0600 from the first byte.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_config(
    appdir: Path,
    datadir: Path | None = None,
    logdir: Path | None = None,
    force: bool = False,
) -> dict[str, str]:
    """Write ``settings.toml`` and ``devices.toml`` into ``appdir`` (mode 0600)
    and create the data and log folders. Refuses (CliError) to overwrite
    either file unless ``force``. Returns the paths written."""
    # Imported here: sugo.config pulls in pydantic, which no other command needs.
    from sugo.config.defaults import render_devices, render_settings

    appdir = _absolute(appdir)
    datadir = _absolute(datadir) if datadir else appdir / "data"
    logdir = _absolute(logdir) if logdir else appdir / "logs"
    settings = appdir / SETTINGS_FILE
    devices = appdir / DEVICES_FILE
    existing = [str(p) for p in (settings, devices) if p.exists()]
    if existing and not force:
        verb = "exists" if len(existing) == 1 else "exist"
        raise CliError(
            f"{' and '.join(existing)} already {verb}; use 'sugo init --force' to overwrite"
        )
    try:
        appdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        datadir.mkdir(parents=True, exist_ok=True, mode=0o700)
        logdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(settings, render_settings(appdir, datadir, logdir))
        _write_private(devices, render_devices())
        from sugo.protocol.keys import ensure_local_keys, keys_dir

        ensure_local_keys(appdir)  # every daemon socket is CURVE (docs/network.md)
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        raise CliError(f"cannot write{where}: {e.strerror or e}") from None
    return {
        "appdir": str(appdir),
        "settings": str(settings),
        "devices": str(devices),
        "datadir": str(datadir),
        "logdir": str(logdir),
        "keys": str(keys_dir(appdir)),
    }


def cmd_init(ctx: Context) -> int:
    args = ctx.args
    written = write_config(ctx.appdir, args.datadir, args.logdir, force=args.force)
    if ctx.out.json_mode:
        ctx.out.json(written)
        return OK
    ctx.out.line(f"sugo: wrote {written['settings']}")
    ctx.out.line(f"sugo: wrote {written['devices']}")
    ctx.out.line(f"sugo: data in {written['datadir']}, logs in {written['logdir']}")
    ctx.out.line("sugo: next: 'sugo start'")
    return OK
