"""sugo.platform: the process mode, the portable launcher, and the delivery of
control requests to runners (signals or held `job_control` replies)."""

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from sugo import platform
from sugo.config.settings import DaemonSettings
from sugo.daemon.jobs.runctl import RunnerControl
from sugo.jobs import RUN_PRELOAD, RUNNER_MODULE
from sugo.platform import control
from sugo.platform.launcher import Launcher
from sugo.platform.procs import Tracked
from sugo.protocol import daemon_api as api
from sugo.protocol.server import DEFERRED
from sugo.protocol.wire import to_builtins

# -- the mode -------------------------------------------------------------------------


def test_the_mode_is_the_fast_one_where_available_and_can_be_forced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(platform.MODE_ENV, raising=False)
    best = "fast" if platform.fast_available() else "portable"
    assert platform.mode() == best
    assert platform.resolve(" Portable ") == "portable"
    monkeypatch.setenv(platform.MODE_ENV, "portable")
    assert platform.mode() == "portable" and not platform.fast()
    assert platform.export("auto") == best
    assert platform.mode() == best  # exported for the processes started from here on


def test_a_bad_or_unavailable_mode_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="'quick': expected one of auto, fast, portable"):
        platform.resolve("quick")
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(ValueError, match="'fast' is not available on win32; use portable"):
        platform.resolve("fast")
    assert platform.resolve("auto") == "portable"
    with pytest.raises(ValueError, match="process_mode"):
        DaemonSettings(process_mode="quick")  # type: ignore[arg-type]


# -- the portable launcher ------------------------------------------------------------


def test_the_portable_launcher_hands_work_to_a_spare_started_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(platform.MODE_ENV, "portable")
    launcher = Launcher(tmp_path / "spare.log", RUNNER_MODULE, RUN_PRELOAD)
    started: list[Tracked] = []
    try:
        launcher.start()
        spare = launcher._spare
        assert spare is not None
        # A runner for a job of a daemon that is not there: it asks, then gives up.
        tracked = launcher.spawn(["run", "1", "--daemon", "tcp://127.0.0.1:9"], tmp_path / "j.log")
        started.append(tracked)
        assert tracked.pid == spare.pid  # the spare took it: no fork server, no new start
        assert psutil.Process(tracked.pid).ppid() == psutil.Process().pid
        assert launcher._spare is not None and launcher._spare.pid != spare.pid  # the next one
        assert tracked.wait(30)
        assert "cannot get the job from the daemon" in (tmp_path / "j.log").read_text()
    finally:
        for t in started:
            t.kill()
        last = launcher._spare
        launcher.close()
    assert last is not None and last.wait(5) == 0  # told to end, it ran nothing


# -- control requests -----------------------------------------------------------------


class FakeCall:
    def __init__(self) -> None:
        self.replies: list[Any] = []

    def reply(self, data: Any = None) -> None:
        self.replies.append(to_builtins(data))


class Timers:
    def __init__(self) -> None:
        self.due: list[Callable[[], None]] = []

    def __call__(self, delay: float, fn: Callable[[], None]) -> None:
        assert delay == api.CONTROL_HOLD
        self.due.append(fn)

    def fire(self) -> None:
        due, self.due = self.due, []
        for fn in due:
            fn()


def poll(ctl: RunnerControl, call: FakeCall, cancelled: bool = False, cancelling: bool = False):
    req = api.JobControl(jobid=7, cancelled=cancelled)
    reply = ctl.on_poll(req, call, cancelling)  # type: ignore[arg-type]
    return reply if reply is DEFERRED else to_builtins(reply)


def test_portable_requests_answer_a_held_poll_at_once_or_wait_for_the_next() -> None:
    timers = Timers()
    ctl = RunnerControl(timers, fast=False)
    held = FakeCall()
    assert poll(ctl, held) is DEFERRED  # nothing to say: held
    ctl.send(7, None, control.SNAPSHOT)
    assert held.replies == [{"actions": ["snapshot"]}]  # delivered at once
    timers.fire()  # its hold ends later: nothing more is sent
    assert held.replies == [{"actions": ["snapshot"]}]
    # Sent while no poll is open: kept for the next one (and not twice).
    ctl.send(7, None, control.WAKE)
    ctl.send(7, None, control.WAKE)
    assert poll(ctl, FakeCall()) == {"actions": ["wake"]}
    idle = FakeCall()
    assert poll(ctl, idle) is DEFERRED
    timers.fire()
    assert idle.replies == [{"actions": []}]  # the hold ended: the runner asks again
    last = FakeCall()
    poll(ctl, last)
    ctl.forget(7)  # the job ended
    assert last.replies == [{"actions": []}]


def test_a_cancel_is_repeated_until_the_runner_says_it_cancels() -> None:
    ctl = RunnerControl(Timers(), fast=False)
    # A daemon restarted after the cancel was asked: the job's state says it.
    assert poll(ctl, FakeCall(), cancelling=True) == {"actions": ["cancel"]}
    assert poll(ctl, FakeCall(), cancelling=True) == {"actions": ["cancel"]}
    assert poll(ctl, FakeCall(), cancelled=True, cancelling=True) is DEFERRED


def test_fast_requests_are_signals() -> None:
    # A process that reports the user signals it gets, once its handlers are up.
    code = (
        "import signal, sys, time\n"
        "for s in (signal.SIGUSR1, signal.SIGUSR2):\n"
        "    signal.signal(s, lambda n, f: print(signal.Signals(n).name, flush=True))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        tracked = Tracked.attach(proc.pid)
        assert tracked is not None
        ctl = RunnerControl(Timers(), fast=True)
        ctl.send(7, tracked, control.SNAPSHOT)
        assert proc.stdout.readline() == "SIGUSR1\n"
        ctl.send(7, tracked, control.WAKE)
        assert proc.stdout.readline() == "SIGUSR2\n"
        ctl.send(7, tracked, control.CANCEL)
        assert proc.wait(5) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]


def test_kill_ends_a_process_that_ignores_terminate() -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    tracked = Tracked.attach(proc.pid)
    assert tracked is not None
    tracked.popen = proc  # type: ignore[assignment]
    t0 = time.monotonic()
    tracked.stop(grace=0.2, term_wait=0.5)
    assert not tracked.alive()
    assert time.monotonic() - t0 < 5
