"""Notice that watched processes ended, without polling /proc for each of them.

In the fast mode a pidfd (Linux 5.3+) becomes readable when its process
ends, zombie or not, so one ``poll`` call sleeps until any of many processes
ends (or a timeout). In the portable mode (no pidfds) each process is checked
with ``alive`` every timeout.
"""

import os
import select
import time
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

from sugo.platform.procs import Tracked

K = TypeVar("K", bound=Hashable)


class ExitWatch(Generic[K]):
    """Which of a changing set of tracked processes have ended. Each ended
    process is reported once, while it stays in the set."""

    def __init__(self) -> None:
        self._fds: dict[K, tuple[Tracked, int | None]] = {}
        self._reported: set[K] = set()

    def wait(self, procs: Mapping[K, Tracked], timeout: float) -> list[K]:
        """Wait up to ``timeout`` s for one of ``procs`` to end; return the keys
        of those that ended (not reported before)."""
        self._sync(procs)
        ended: list[K] = []
        by_fd: dict[int, K] = {}
        for key, (tracked, fd) in self._fds.items():
            if key in self._reported:
                continue
            if fd is None:
                if not tracked.alive():
                    ended.append(key)
            else:
                by_fd[fd] = key
        if not ended and by_fd:
            poller = select.poll()  # only with pidfds, so only on Linux
            for fd in by_fd:
                poller.register(fd, select.POLLIN)
            ended = [by_fd[fd] for fd, _ in poller.poll(max(0, int(timeout * 1000)))]
        elif not ended:
            # Nothing to wait on: sleep the timeout, as a poll would.
            time.sleep(timeout)
        self._reported.update(ended)
        return ended

    def close(self) -> None:
        self._sync({})

    def _sync(self, procs: Mapping[K, Tracked]) -> None:
        for key in [k for k in self._fds if k not in procs or procs[k] is not self._fds[k][0]]:
            _, fd = self._fds.pop(key)
            self._reported.discard(key)
            if fd is not None:
                os.close(fd)
        for key, tracked in procs.items():
            if key not in self._fds:
                self._fds[key] = (tracked, tracked.exit_fd())
