"""The daemon's connections to its driver hosts, kept per thread.

A connection is a DEALER socket and a CURVE handshake (a few ms of crypto on
both sides). Made afresh for every request, it was paid on every submit's
task validation, every component command and every reset. A client is not
thread-safe, so each thread keeps its own, one per driver; a host replaced on
a new endpoint gets a new one and the old one is closed.
"""

import contextlib
import threading
from collections.abc import Iterator

from sugo.protocol.client import Client


class HostClients:
    def __init__(self) -> None:
        self._local = threading.local()

    @contextlib.contextmanager
    def lease(self, driver: str, endpoint: str, timeout: float) -> Iterator[Client]:
        """``with lease as client:`` this thread's client of ``driver`` at
        ``endpoint`` (its requests wait ``timeout`` s), kept for the next
        request (a timed-out one reset its socket). The client is picked when
        the ``with`` is entered, so a lease made on the loop thread may be used
        in a worker."""
        mine: dict[str, Client] | None = getattr(self._local, "clients", None)
        if mine is None:
            mine = self._local.clients = {}
        client = mine.get(driver)
        if client is not None and client.address != endpoint:
            client.close()  # the host was replaced
            client = None
        if client is None:
            client = mine[driver] = Client(endpoint)
        client.timeout = timeout
        yield client
