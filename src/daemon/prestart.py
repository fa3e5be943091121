"""The daemon's first moments: start the driver hosts before its own imports.

Importing the daemon (the pydantic models of the files, the store, the job
machinery) and validating the files takes ~0.3 s, and a driver host about as
long again to start. So `python -m sugo.daemon` first reads the few settings a
host needs straight from the files, without validating them, and spawns the
hosts. The DriverManager then adopts them (`procs.spawn_python` hands out
a process started early with the same command); one it does not ask for (the
validated files say otherwise, or a host of the previous daemon is still
alive and re-attached) is killed (`procs.discard_early`).

Light on purpose: no pydantic, zmq or psutil before the hosts are spawned.
"""

import ipaddress
import json
import os
import tomllib
from pathlib import Path
from typing import NamedTuple

from sugo.platform.hostcmd import HOST_MODULE, host_args
from sugo.platform.logfiles import driver_log
from sugo.protocol.endpoints import local_endpoint

DEFAULT_BIND = "127.0.0.1"  # as sugo.config.settings.DaemonSettings


keys_made: list[Path] = []  # start_hosts made this app folder's keys (the daemon logs it)


class QuickSettings(NamedTuple):
    logdir: Path
    bind: str
    devices: Path


def quick_settings(sfile: Path) -> QuickSettings | None:
    """The log folder, bind address and devices file of a settings file, read
    without validating it: None when one is missing or malformed (validation
    will say what is wrong). Paths as the settings resolve them: "~" expanded,
    relative to the file's folder."""
    try:
        data = tomllib.loads(sfile.read_text(encoding="utf-8"))
        logdir, devices = data["logdir"], data["devices"]["config"]
        bind = data.get("daemon", {}).get("bind", DEFAULT_BIND)
        if not all(isinstance(v, str) and v.strip() for v in (logdir, devices, bind)):
            return None
        ipaddress.ip_address(bind)
    except (OSError, ValueError, LookupError, TypeError, AttributeError):
        return None
    base = Path(os.path.abspath(sfile)).parent
    return QuickSettings(_resolve(logdir, base), bind, _resolve(devices, base))


def quick_log_level(appdir: Path) -> str | None:
    """`[logging] level` of the app folder's settings.toml, read without
    validating the file; None when it is not there (or not a level name)."""
    try:
        data = tomllib.loads((Path(appdir) / "settings.toml").read_text(encoding="utf-8"))
        level = data["logging"]["level"].upper()
    except (OSError, ValueError, LookupError, TypeError, AttributeError):
        return None
    return level if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else None


def _resolve(text: str, base: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else Path(os.path.abspath(base / path))


def quick_drivers(devices: Path) -> list[str] | None:
    """The driver names of a TOML or JSON devices file in order of first use,
    read without validating it; None when malformed or another format."""
    suffix = devices.suffix.lower()
    try:
        text = devices.read_text(encoding="utf-8")
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            return None  # YAML: its parser is not worth loading twice
        # A device with a `host` hangs off an agent's PC: its host runs there.
        names = [d["driver"] for d in data["devices"] if not d.get("host")]
    except (OSError, ValueError, LookupError, TypeError, AttributeError, RecursionError):
        return None
    if not all(isinstance(n, str) and n for n in names):
        return None
    return list(dict.fromkeys(names))


def host_command(driver: str, port: int, bind: str, logdir: Path) -> tuple[list[str], Path]:
    """The arguments and log file of the host of ``driver``, exactly as
    `sugo.daemon.drivers.hosts` builds them (else the early host is not adopted)."""
    logfile = driver_log(logdir, driver, port)
    return host_args(driver, local_endpoint(bind, port), bind, logfile), logfile


def start_hosts(appdir: Path, port: int) -> int:
    """Spawn the driver host of every driver of the devices file now; returns
    how many. Spawns nothing when the files cannot be read quickly."""
    quick = quick_settings(appdir / "settings.toml")
    drivers = quick_drivers(quick.devices) if quick else None
    if quick is None or not drivers or not quick.logdir.is_dir():
        return 0
    from sugo.protocol import keys

    # A host is a CURVE server with the daemon's keys, found through its
    # environment. An app folder without them (from before them) has them
    # made here: zmq's import, once; the regular start says so in the log.
    family = keys.daemon_family_env(appdir)
    if not all(os.path.isfile(f) for f in family.values()):
        try:
            if keys.ensure_local_keys(appdir):
                keys_made.append(appdir)
        except OSError:
            return 0  # the regular start says what is wrong
    os.environ.update(family)
    from sugo.platform import procs

    started = 0
    for name in drivers:
        args, logfile = host_command(name, port, quick.bind, quick.logdir)
        try:
            procs.spawn_early(HOST_MODULE, args, logfile)
        except OSError:
            break  # the regular start will say what is wrong
        started += 1
    return started
