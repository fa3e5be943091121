"""What every part of the daemon shares: its app folder and port, the
configuration (which a reload replaces), the store, the loop, the worker pool
and whether it is stopping.

A manager is given the ``Runtime`` and the few other managers' services it
really uses (each a narrow Protocol or callable); none sees the ``Daemon``.
"""

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sugo.daemon.store import retryable
from sugo.errors import StoreError
from sugo.protocol.endpoints import connect_host, local_endpoint

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from sugo.config.devices import DevicesConfig
    from sugo.config.settings import Settings
    from sugo.daemon.store import Store
    from sugo.protocol.client import Client

log = logging.getLogger("sugo.daemon")

STORE_RETRY = 1.0  # seconds before redoing a change the locked database refused


class Loop(Protocol):
    """The loop as managers use it (``sugo.protocol.server.ServerLoop``)."""

    def post(self, fn: Callable[[], None]) -> None: ...  # any thread

    def call_later(self, delay: float, fn: Callable[[], None]) -> None: ...  # loop thread


class LoopRef:
    """The loop, bound once it is made: the ``ServerLoop`` is made from the
    managers' handlers, so the managers are made before it."""

    def __init__(self) -> None:
        self._loop: Loop | None = None

    def bind(self, loop: Loop) -> None:
        self._loop = loop

    @property
    def loop(self) -> Loop:
        if self._loop is None:
            raise RuntimeError("the daemon's loop is not made yet")
        return self._loop

    def post(self, fn: Callable[[], None]) -> None:
        self.loop.post(fn)

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.loop.call_later(delay, fn)


class Hosts(Protocol):
    """The driver hosts as others reach them (``DriverManager``)."""

    def client_for(self, driver: str, timeout: float = 5.0) -> "AbstractContextManager[Client]": ...

    def endpoint_of(self, driver: str) -> str | None: ...


@dataclass
class Runtime:
    appdir: Path
    port: int
    settings: "Settings"  # replaced by a reload: read it when needed, do not keep it
    devices: "DevicesConfig"  # (the same)
    store: "Store"
    loop: Loop
    pool: Executor
    stopping: bool = False

    @property
    def local_host(self) -> str:
        """Where the processes the daemon starts reach it and its local driver
        hosts (all bound to `[daemon] bind`, which a reload may not change)."""
        return connect_host(self.settings.daemon.bind)

    @property
    def endpoint(self) -> str:
        """The daemon's own endpoint, as its job runners and writers are given it."""
        return local_endpoint(self.settings.daemon.bind, self.port)

    def until_stored(self, what: str, change: Callable[[], object]) -> None:
        """Make ``change`` now (loop thread) or, while the database refuses it for
        a passing reason (locked by another process, a full disk, a read-only
        file system, an I/O error), every STORE_RETRY s until it goes through:
        delayed, never lost."""
        try:
            change()
        except StoreError as e:
            if not retryable(e):
                log.error("%s: %s", what, e)
            elif not self.stopping:
                log.warning("%s: %s; trying again in %g s", what, e, STORE_RETRY)
                self.loop.call_later(STORE_RETRY, lambda: self.until_stored(what, change))
