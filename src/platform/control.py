"""Control requests to a job runner: cancel its job, take a snapshot, poll now.

The fast mode sends them as POSIX signals (a handler runs at once, whatever
the runner is doing). The portable mode has no user signals (Windows): the
runner asks the daemon for them over its socket, a request the daemon holds
open until it has one to give (`sugo.daemon.jobs.runctl`, `sugo.jobs.controls`).
This module is the signal half; the actions are named the same in both.
"""

import signal
from collections.abc import Callable, Mapping

from sugo.platform.procs import Tracked

CANCEL = "cancel"  # end the job: stop its tasks, write what it has (status cd)
SNAPSHOT = "snapshot"  # write the snapshot file now
WAKE = "wake"  # every role polls its driver host now (a host was lost)
ACTIONS = (CANCEL, SNAPSHOT, WAKE)

_SIGNALS = {CANCEL: "SIGTERM", SNAPSHOT: "SIGUSR1", WAKE: "SIGUSR2"}


def send_signal(tracked: Tracked, action: str) -> None:
    """Deliver ``action`` to the runner ``tracked`` as a signal (fast mode)."""
    tracked.signal(getattr(signal, _SIGNALS[action]))


def install_signals(handlers: Mapping[str, Callable[[], None]]) -> None:
    """In the runner (fast mode, main thread): call ``handlers[action]`` when
    the signal of ``action`` arrives."""
    for action, handler in handlers.items():
        signal.signal(getattr(signal, _SIGNALS[action]), lambda *_, h=handler: h())
