"""Register with the daemon, heartbeat, come back after a loss, unregister.

One thread (the caller's) does it all: each request has a short timeout, and
a timed-out request closes its socket, so the next attempt opens a fresh
connection. After a network cut, the first attempt after the link is back
gets through within REQUEST_TIMEOUT (a TCP connection that died silently
would otherwise wait for the kernel's retransmissions).
"""

import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sugo import __version__
from sugo.errors import RequestFailed, RequestTimeout, SugoError
from sugo.protocol import agent_api as api
from sugo.protocol.client import Client
from sugo.protocol.endpoints import split_endpoint
from sugo.protocol.keys import client_keys
from sugo.protocol.wire import convert

log = logging.getLogger("sugo.agent")

REQUEST_TIMEOUT = 0.5  # per request; also how often a silent daemon is tried again
MAX_PERIOD = 1.0  # heartbeat at least this often (and 4 times per alive timeout)
SLICE = 0.2  # waits are cut into slices so Ctrl-C is seen on every platform
UNREGISTER_TIMEOUT = 5.0  # a stop waits this long at most to say goodbye
SILENT_WARNING = 5.0  # say so when the daemon has not answered for this long


class Refused(SugoError):
    """The daemon refused the registration (e.g. the name is in use)."""


def local_address(daemon: str) -> str:
    """This PC's IP address on the route to the daemon (no packet is sent)."""
    host, port = split_endpoint(daemon)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((host, port))
            return str(s.getsockname()[0])
    except OSError:
        return ""


class AgentSession:
    """Keeps one agent registered until ``stop`` is set; ``on_registered``
    gets every (re-)registration's reply, ``on_silent`` a daemon gone quiet."""

    def __init__(
        self,
        daemon: str,
        name: str,
        appdir: Path,
        alive_timeout: float = 10.0,
        overwrite: bool = False,
        on_registered: Callable[[api.Registered], None] | None = None,
    ) -> None:
        try:
            split_endpoint(daemon)
        except ValueError as e:
            raise SugoError(f"--daemon: {e}") from None
        self.daemon = daemon
        self.name = name
        self.alive_timeout = alive_timeout
        self.overwrite = overwrite
        self.on_registered = on_registered
        keys = client_keys(appdir)
        self.key_name = keys.name
        self.client = Client(daemon, timeout=REQUEST_TIMEOUT, curve=keys)
        self.identity: str | None = None
        self.accepted: str | None = None
        self.stop = threading.Event()
        self.registrations = 0

    @property
    def period(self) -> float:
        return min(self.alive_timeout / 4, MAX_PERIOD)

    def run(self) -> None:
        """Until ``stop``: register, heartbeat, re-register; then unregister.
        Raises Refused when the daemon refuses the name."""
        silent_since: float | None = None
        warned = False
        try:
            while not self.stop.is_set():
                try:
                    self._once()
                except RequestTimeout:
                    now = time.monotonic()
                    silent_since = silent_since or now
                    if not warned and now - silent_since >= SILENT_WARNING:
                        warned = True
                        log.warning(
                            "agent %s: no answer from %s for %.0f s (daemon down, network cut, "
                            "or this key is not allowed there); still trying",
                            self.name, self.daemon, now - silent_since,
                        )  # fmt: skip
                    continue  # the timeout was the wait: try again at once
                if silent_since is not None:
                    log.info("agent %s: daemon answers again", self.name)
                silent_since, warned = None, False
                self._sleep(self.period)
        finally:
            self._unregister()
            self.client.close()

    def _once(self) -> None:
        if self.identity is None:
            self._register()
            return
        try:
            self.client.call(
                api.AgentAlive(identity=self.identity, alive_timeout=self.alive_timeout)
            )
        except RequestFailed as e:
            # The daemon restarted or replaced us: register again at once.
            log.warning("agent %s: %s", self.name, e)
            self.identity = None
            self._register()

    def _register(self) -> None:
        req = api.AgentRegister(
            name=self.name, alive_timeout=self.alive_timeout, overwrite=self.overwrite,
            address=local_address(self.daemon), version=__version__,
            fresh=self.registrations == 0,
        )  # fmt: skip
        try:
            reply = convert(self.client.call(req), api.Registered)
        except RequestFailed as e:
            raise Refused(str(e)) from None
        self.identity, self.accepted = reply.identity, reply.name
        self.registrations += 1
        log.info(
            "agent %s: registered with %s (identity %s, %d drivers)",
            reply.name, self.daemon, reply.identity, len(reply.drivers),
        )  # fmt: skip
        if self.on_registered is not None:
            self.on_registered(reply)

    def _unregister(self) -> None:
        if self.identity is None:
            return
        identity, self.identity = self.identity, None
        try:
            self.client.call(api.AgentUnregister(identity=identity), timeout=UNREGISTER_TIMEOUT)
            log.info("agent %s: unregistered", self.name)
        except SugoError as e:
            log.warning("agent %s: could not unregister: %s", self.name, e)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.stop.wait(min(left, SLICE))
