"""The daemon's appdir lock: POSIX path for real, Windows path where it runs
(and its logic against a stand-in of msvcrt elsewhere)."""

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from sugo.platform import oslock


def test_a_second_acquire_is_refused_with_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "daemon.lock"
    with oslock.acquire(path, pid=1234, port=9271):
        # Another process (a lock is per open file; a child is the real case).
        code = (
            "import sys; from sugo.platform import oslock\n"
            f"try: oslock.acquire(oslock.Path({str(path)!r}))\n"
            "except oslock.LockHeld as e: print(e.holder.describe()); sys.exit(7)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], check=False, capture_output=True, text=True
        )
        assert done.returncode == 7, done.stderr
        assert done.stdout.strip() == "pid 1234, port 9271"
    # Released: the next one gets it.
    with oslock.acquire(path, pid=5, port=None) as held:
        assert oslock.read_holder(held.path) == oslock.Holder(5, None)


def test_the_lock_goes_with_a_killed_holder(tmp_path: Path) -> None:
    path = tmp_path / "daemon.lock"
    code = (
        "import os, signal; from sugo.platform import oslock\n"
        f"oslock.acquire(oslock.Path({str(path)!r}), os.getpid(), 1)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    with oslock.acquire(path, pid=os.getpid(), port=2):
        pass


def test_the_descriptor_is_not_inherited(tmp_path: Path) -> None:
    """A child that outlives the holder (a driver host) must not keep the lock."""
    path = tmp_path / "daemon.lock"
    held = oslock.acquire(path, pid=os.getpid(), port=1)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        held.release()
        with oslock.acquire(path):
            pass
    finally:
        child.kill()
        child.wait()


def test_read_holder_of_a_garbled_file(tmp_path: Path) -> None:
    path = tmp_path / "daemon.lock"
    path.write_bytes(b"\xff junk\n")
    assert oslock.read_holder(path) == oslock.Holder(None, None)
    assert oslock.read_holder(tmp_path / "missing") == oslock.Holder(None, None)


@pytest.mark.skipif(os.name != "nt", reason="msvcrt exists on Windows only")
def test_windows_lock(tmp_path: Path) -> None:
    path = tmp_path / "daemon.lock"
    with oslock.acquire(path, pid=1, port=2):
        fd = os.open(path, os.O_RDWR)
        try:
            assert not oslock._try_lock_windows(fd)
        finally:
            os.close(fd)


def test_windows_path_logic_with_a_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Windows path locks one byte far past the text (so that the holder
    stays readable) and maps a refused lock to False; here a stand-in of
    msvcrt records what it is asked (the real one runs in the test above)."""
    locked: dict[tuple[int, int], int] = {}  # (inode, offset) -> fd
    calls: list[tuple[str, int]] = []

    def locking(fd: int, mode: int, nbytes: int) -> None:
        key = (os.fstat(fd).st_ino, os.lseek(fd, 0, os.SEEK_CUR))
        calls.append(("lock" if mode == fake.LK_NBLCK else "unlock", key[1]))
        if mode == fake.LK_NBLCK:
            if key in locked:
                raise PermissionError(13, "Permission denied")
            locked[key] = fd
        else:
            locked.pop(key, None)

    fake = types.SimpleNamespace(LK_NBLCK=2, LK_UNLCK=0, locking=locking)
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    path = tmp_path / "daemon.lock"
    a = os.open(path, os.O_RDWR | os.O_CREAT)
    b = os.open(path, os.O_RDWR)
    try:
        assert oslock._try_lock_windows(a)
        assert not oslock._try_lock_windows(b)
        oslock._unlock_windows(a)
        assert oslock._try_lock_windows(b)
    finally:
        os.close(a)
        os.close(b)
    assert {offset for _, offset in calls} == {oslock.WINDOWS_LOCK_OFFSET}
