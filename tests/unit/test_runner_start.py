"""A job runner forked from the fork server takes a cancel at any moment of
its start: the control signals are held from the fork until its handlers are
in place (`sugo.platform.forkserver`), so a SIGTERM sent right after the fork
is a cancel, not a kill. The other modes still end on SIGTERM."""

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sugo import platform
from sugo.jobs import RUN_PRELOAD, RUNNER_MODULE
from sugo.platform.launcher import Launcher

# Job 1 of a daemon that is not there: the runner keeps asking for its spec.
DAEMON = "tcp://127.0.0.1:9"

pytestmark = pytest.mark.skipif(not platform.fast_available(), reason="fork servers: Linux only")


@pytest.fixture
def launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Launcher]:
    monkeypatch.setenv(platform.MODE_ENV, "fast")
    launcher = Launcher(tmp_path / "fs.log", RUNNER_MODULE, RUN_PRELOAD)
    launcher.start()
    assert launcher._ensure_ready()
    yield launcher
    launcher.close()


def _wait(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_a_sigterm_right_after_the_fork_is_a_cancel(tmp_path: Path, launcher: Launcher) -> None:
    log = tmp_path / "job.log"
    tracked = launcher.spawn(["run", "1", "--daemon", DAEMON], log)
    tracked.signal(signal.SIGTERM)  # before the runner can have run a line of its own
    _wait(lambda: "cancel requested" in _text(log), "the runner to take the cancel")
    assert tracked.alive()
    tracked.kill()
    assert tracked.wait(5)
    assert "killed by SIGTERM" not in _text(tmp_path / "fs.log")


def test_a_writer_still_ends_on_sigterm(tmp_path: Path, launcher: Launcher) -> None:
    tracked = launcher.spawn(["write", "1", "--daemon", DAEMON, "--path", "x.nc"], tmp_path / "w")
    tracked.signal(signal.SIGTERM)
    assert tracked.wait(10)
    _wait(lambda: "killed by SIGTERM" in _text(tmp_path / "fs.log"), "the fork server's report")
