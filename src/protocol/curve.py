"""CURVE on ZeroMQ sockets: encryption plus an allow-list of client keys.

A server socket gets the server's pair; a ``Guard`` (a ZAP handler in a
thread) accepts a client only if its public key is in the
allow-list. A refused client gets nothing at all, not even an error that would
tell it which keys exist: libzmq drops the connection in the handshake.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq
from zmq.utils import z85

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


#: Where libzmq asks a context's ZAP handler about each handshake (RFC 27).
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_VERSION = b"1.0"


class Guard:
    """The ZAP handler of one context: accept a CURVE client whose public key
    ``allowed()`` returns (re-read when older than ALLOWED_CACHE s or when a
    key is not in it, so a key made counts at once and one removed within a
    second).

    It answers in a plain thread with a blocking poll, not with pyzmq's
    ThreadAuthenticator: that one runs an asyncio loop whose poll builds
    future sockets at every request, ~1 ms of CPU per handshake, and a burst
    of 64 job starts makes a few hundred handshakes."""

    def __init__(self, ctx: zmq.Context[Any], allowed: Callable[[], set[bytes]]) -> None:
        self._allowed = allowed
        self._cache: tuple[float, set[bytes]] = (0.0, set())
        self._lock = threading.Lock()
        self.refused = 0  # handshakes refused so far (for logs and tests)
        self._zap = ctx.socket(zmq.REP)
        self._zap.linger = 0
        self._zap.bind(ZAP_ENDPOINT)
        wake = f"inproc://sugo-guard-{id(self):x}"
        self._wake_in = ctx.socket(zmq.PAIR)
        self._wake_in.bind(wake)
        self._wake = ctx.socket(zmq.PAIR)
        self._wake.connect(wake)
        self._thread: threading.Thread | None = threading.Thread(
            target=self._serve, name="curve-zap", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self._zap, zmq.POLLIN)
        poller.register(self._wake_in, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if self._wake_in in ready:
                    return
                if self._zap in ready:
                    self._zap.send_multipart(self.answer(self._zap.recv_multipart()))
        except zmq.ContextTerminated:
            return
        finally:
            self._zap.close(linger=0)
            self._wake_in.close(linger=0)

    def answer(self, msg: list[bytes]) -> list[bytes]:
        """The ZAP reply to one request (RFC 27): 200 for a CURVE client with
        an allowed key (its user id is the key, z85), 400 otherwise. A NULL
        handshake (a socket without CURVE) passes, as with pyzmq's handler."""
        request_id = msg[1] if len(msg) > 1 else b""
        if len(msg) < 6:
            return _zap_reply(request_id, b"400", b"Not enough frames")
        version, _, domain, _address, _identity, mechanism = msg[:6]
        if version != ZAP_VERSION:
            return _zap_reply(request_id, b"400", b"Invalid version")
        if mechanism == b"NULL":
            return _zap_reply(request_id, b"200", b"OK", b"anonymous")
        if mechanism != b"CURVE" or len(msg) < 7:
            return _zap_reply(request_id, b"400", b"Unsupported mechanism")
        key = z85.encode(msg[6])
        if self.callback(domain.decode("utf-8", "replace") or "*", key):
            return _zap_reply(request_id, b"200", b"OK", key)
        return _zap_reply(request_id, b"400", b"Unknown key")

    def callback(self, domain: str, key: bytes) -> bool:
        """Whether the client with this z85 public key may connect."""
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
        """End the handler's thread (it closes its sockets); a second call does nothing."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        # (a context that is gone has ended the thread already)
        with contextlib.suppress(zmq.ZMQError):
            self._wake.send(b"stop", zmq.NOBLOCK)
        thread.join(timeout=5.0)
        self._wake.close(linger=0)


def _zap_reply(request_id: bytes, code: bytes, text: bytes, user: bytes = b"") -> list[bytes]:
    return [ZAP_VERSION, request_id, code, text, user if code == b"200" else b"", b""]
