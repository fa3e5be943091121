"""One daemon per appdir: an OS file lock held for the daemon's whole life.

The kernel releases the lock when the holder's last descriptor of the file
closes, so a daemon killed with SIGKILL (or a power cut) leaves nothing to
clean up: no stale pid to guess about. The lock file also says who holds it
(``pid port`` on its first line, then ``bind`` once the daemon listens there),
for the refusal message of the next one and for clients that look for it.

Two paths behind one door: ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on
Windows (a mandatory byte-range lock on one byte far past the text, so that
the text itself stays readable to the process that is refused).

The descriptor is not inheritable (PEP 446), so the driver hosts and job
processes that may outlive the daemon never hold the lock. The daemon must not
``fork()`` without ``exec`` while it holds it (it does not: fork servers are
started with ``subprocess``).

Light on purpose: imported before the driver hosts are spawned.
"""

import os
from pathlib import Path
from typing import NamedTuple

LOCK_FILE = "daemon.lock"
WINDOWS_LOCK_OFFSET = 1 << 30  # the locked byte: far past the holder's text


class Holder(NamedTuple):
    pid: int | None
    port: int | None
    bind: str | None = None  # the address the daemon listens at, once it does

    def describe(self) -> str:
        pid = "?" if self.pid is None else str(self.pid)
        port = "?" if self.port is None else str(self.port)
        return f"pid {pid}, port {port}"


class LockHeld(Exception):
    """Another process holds the lock."""

    def __init__(self, path: Path, holder: Holder) -> None:
        super().__init__(f"{path} is held by {holder.describe()}")
        self.path = path
        self.holder = holder


class HeldLock:
    """A lock this process holds until ``release()`` or its exit."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def note(self, pid: int, port: int | None, bind: str | None = None) -> None:
        """Say in the file who holds it (read by `read_holder`)."""
        if self._fd is None:
            return
        text = f"{pid} {'' if port is None else port} {bind or ''}".rstrip().encode() + b"\n"
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, text)
        if os.name != "nt":  # Windows: the locked byte lies past the text; leave the size
            os.ftruncate(self._fd, len(text))

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> "HeldLock":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def lock_path(appdir: Path) -> Path:
    return Path(appdir) / LOCK_FILE


def db_lock_path(dbpath: Path) -> Path:
    """The lock beside a database: two appdirs may name one database file."""
    dbpath = Path(dbpath)
    return dbpath.with_name(f"{dbpath.name}.lock")


def acquire(path: Path, pid: int | None = None, port: int | None = None) -> HeldLock:
    """Take the lock at ``path`` without waiting; LockHeld names its holder.

    ``pid``/``port`` are written into the file once it is ours."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not _try_lock(fd):
            raise LockHeld(path, read_holder(path))
    except BaseException:
        os.close(fd)
        raise
    held = HeldLock(path, fd)
    if pid is not None:
        held.note(pid, port)
    return held


def read_holder(path: Path) -> Holder:
    """Who the lock file says holds it (fields it cannot tell are None)."""
    try:
        with open(path, "rb") as f:
            words = f.read(128).split(b"\n", 1)[0].split()
    except OSError:
        words = []
    nums = [int(w) if w.isdigit() else None for w in words[:2]]
    nums += [None] * (2 - len(nums))
    bind = words[2].decode("ascii", "replace") if len(words) > 2 else None
    return Holder(nums[0], nums[1], bind)


# -- the two paths -----------------------------------------------------------------


def _try_lock(fd: int) -> bool:
    """True if the lock is now ours, False if another process holds it."""
    if os.name == "nt":
        return _try_lock_windows(fd)
    return _try_lock_posix(fd)


def _unlock(fd: int) -> None:
    if os.name == "nt":
        _unlock_windows(fd)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


def _try_lock_posix(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _try_lock_windows(fd: int) -> bool:
    import msvcrt  # type: ignore[import-not-found,unused-ignore]

    os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
    except OSError:  # "Permission denied" / "Resource deadlock avoided": held elsewhere
        return False
    return True


def _unlock_windows(fd: int) -> None:
    import msvcrt  # type: ignore[import-not-found,unused-ignore]

    os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined,unused-ignore]
