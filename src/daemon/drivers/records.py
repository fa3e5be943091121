"""The driver hosts' record outside the database: `<appdir>/hosts/<driver>.json`.

A SIGTERM leaves the hosts running for the next daemon to re-attach (issue 13
item 4), and the database, where the daemon keeps their pids, may then be
deleted (the way out of a damaged one, item 1). Without a second record the
next daemon would start a second host per driver beside the old ones: two
processes on one instrument, the old one left running for good. The app
folder is the daemon's own (its lock is there), so the record is kept there.
"""

import logging
import re
from pathlib import Path

import msgspec

from sugo.daemon.store.jobrecords import write_atomic

log = logging.getLogger(__name__)

FOLDER = "hosts"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


class HostRecord(msgspec.Struct, kw_only=True):
    pid: int
    create_time: float
    port: int | None = None  # known once the host has said hello


def _path(appdir: Path, driver: str) -> Path | None:
    if not _SAFE_NAME.fullmatch(driver) or driver.startswith("."):
        return None  # an entry point name that is no file name: the database alone
    return appdir / FOLDER / f"{driver}.json"


def save(appdir: Path, driver: str, record: HostRecord) -> None:
    path = _path(appdir, driver)
    if path is None:
        return
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        write_atomic(path, msgspec.json.encode(record))
    except OSError as e:  # the database still has it; only its loss would miss this
        log.warning("driver %s: cannot write %s: %s", driver, path, e)


def load(appdir: Path, driver: str) -> HostRecord | None:
    path = _path(appdir, driver)
    if path is None:
        return None
    try:
        return msgspec.json.decode(path.read_bytes(), type=HostRecord)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.MsgspecError) as e:
        log.warning("driver %s: unreadable %s: %s", driver, path, e)
        return None
