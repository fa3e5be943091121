"""ExitWatch: ended processes are noticed at once (pidfds), once each."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from sugo import platform
from sugo.platform.exits import ExitWatch
from sugo.platform.procs import Tracked


@pytest.fixture
def sleepers() -> Iterator[dict[str, tuple[subprocess.Popen[bytes], Tracked]]]:
    procs = {}
    for name in ("a", "b"):
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        tracked = Tracked.attach(p.pid)
        assert tracked is not None
        procs[name] = (p, tracked)
    yield procs
    for p, _ in procs.values():
        p.kill()
        p.wait()


@pytest.mark.parametrize("way", ["pidfds", "no pidfd_open", "portable mode"])
def test_an_ended_process_is_reported_once(
    sleepers: dict[str, tuple[subprocess.Popen[bytes], Tracked]],
    way: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pidfds = way == "pidfds"
    if way == "no pidfd_open":
        monkeypatch.delattr(os, "pidfd_open")
    elif way == "portable mode":
        monkeypatch.setenv(platform.MODE_ENV, "portable")
    else:
        monkeypatch.setenv(platform.MODE_ENV, "fast")
    watch: ExitWatch[str] = ExitWatch()
    procs = {name: tracked for name, (_, tracked) in sleepers.items()}
    t0 = time.monotonic()
    assert watch.wait(procs, 0.2) == []
    assert time.monotonic() - t0 >= 0.15  # it waited: nothing ended
    sleepers["a"][0].kill()
    sleepers["a"][0].wait()
    t0 = time.monotonic()
    ended: list[str] = []
    while not ended and time.monotonic() - t0 < 5:
        ended = watch.wait(procs, 2.0)
    assert ended == ["a"]
    if pidfds:
        assert time.monotonic() - t0 < 1.0  # woken by the exit, not by the timeout
    assert watch.wait(procs, 0.05) == []  # reported once
    del procs["a"]
    assert watch.wait(procs, 0.05) == []
    watch.close()


def test_fds_are_closed_when_processes_leave_the_set(
    sleepers: dict[str, tuple[subprocess.Popen[bytes], Tracked]],
) -> None:
    if not hasattr(os, "pidfd_open"):
        pytest.skip("no pidfds here")
    watch: ExitWatch[str] = ExitWatch()
    procs = {name: tracked for name, (_, tracked) in sleepers.items()}
    watch.wait(procs, 0)
    fds = [fd for _, fd in watch._fds.values()]
    assert all(fd is not None for fd in fds)
    watch.wait({}, 0)
    for fd in fds:
        assert fd is not None
        with pytest.raises(OSError):
            os.fstat(fd)


def test_a_reused_pid_is_not_taken_for_ours() -> None:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        impostor = Tracked(p.pid, create_time=1.0)  # same PID, another start time
        assert impostor.exit_fd() is None
        assert ExitWatch[int]().wait({1: impostor}, 1.0) == [1]
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("pidfds", [True, False])
def test_tracked_wait_returns_when_an_attached_process_ends(
    sleepers: dict[str, tuple[subprocess.Popen[bytes], Tracked]],
    pidfds: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not pidfds:
        monkeypatch.delattr(os, "pidfd_open")
    popen, tracked = sleepers["a"]  # attached by PID: waited on as a non-child
    t0 = time.monotonic()
    assert tracked.wait(0.2) is False and time.monotonic() - t0 >= 0.15
    popen.kill()  # a zombie until the fixture reaps it: gone for `wait`
    t0 = time.monotonic()
    assert tracked.wait(5.0) is True
    assert time.monotonic() - t0 < 1.0
