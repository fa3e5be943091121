"""CURVE on ZeroMQ sockets: encryption plus an allow-list of client keys.

A server socket gets the server's pair; a ``Guard`` (pyzmq's ZAP
authenticator in a thread) accepts a client only if its public key is in the
allow-list. A refused client gets nothing at all, not even an error that would
tell it which keys exist: libzmq drops the connection in the handshake.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from sugo.protocol.keys import ClientKeys, KeyPair

log = logging.getLogger(__name__)

ALLOWED_CACHE = 1.0  # seconds a read of the allow-list is reused (handshakes are rare)


def curve_server(sock: zmq.Socket[Any], pair: KeyPair) -> None:
    """Make ``sock`` (before bind) a CURVE server with ``pair``."""
    if pair.secret is None:
        raise ValueError(f"key {pair.name!r}: a server needs its secret key")
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, pair.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, pair.secret)


def curve_client(sock: zmq.Socket[Any], keys: ClientKeys) -> None:
    """Make ``sock`` (before connect) a CURVE client of the server ``keys.server``."""
    sock.setsockopt(zmq.CURVE_SERVERKEY, keys.server)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)


class Guard:
    """The ZAP handler of one context: accept a CURVE client whose public key
    ``allowed()`` returns (re-read when older than ALLOWED_CACHE s or when a
    key is not in it, so a key made counts at once and one removed within a
    second)."""

    def __init__(self, ctx: zmq.Context[Any], allowed: Callable[[], set[bytes]]) -> None:
        from zmq.auth.thread import ThreadAuthenticator

        self._allowed = allowed
        self._cache: tuple[float, set[bytes]] = (0.0, set())
        self._lock = threading.Lock()
        self.refused = 0  # handshakes refused so far (for logs and tests)
        self.auth = ThreadAuthenticator(ctx, log=logging.getLogger("sugo.curve.zap"))
        self.auth.start()
        self.auth.configure_curve_callback("*", credentials_provider=self)

    def callback(self, domain: str, key: bytes) -> bool:
        """Called by the authenticator's thread with the client's z85 public key."""
        now = time.monotonic()
        with self._lock:
            at, keys = self._cache
            # A miss re-reads the list too: a key made a moment ago counts at
            # once, however busy the cache is (the local socket handshakes often).
            if now - at > ALLOWED_CACHE or key not in keys:
                keys = self._read(now)
        if key in keys:
            return True
        self.refused += 1
        log.warning("curve: refused a client with an unknown key %s...", key[:8].decode())
        return False

    def _read(self, now: float) -> set[bytes]:
        try:
            keys = self._allowed()
        except Exception:
            log.exception("curve: cannot read the allow-list; refusing")
            keys = set()
        self._cache = (now, keys)
        return keys

    def stop(self) -> None:
        self.auth.stop()
