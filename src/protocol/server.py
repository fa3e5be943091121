"""A ROUTER server with an explicit command registry, run by an event loop.

The loop owns the socket. Other threads never touch it: they hand work back
with ``post()``, which wakes the loop at once through an inproc socket, so
handlers can defer a reply to a worker thread without blocking the loop.
"""

import contextvars
import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import zmq

from sugo.errors import ProtocolError, SugoError
from sugo.protocol import wire
from sugo.protocol.endpoints import is_ipv6

if TYPE_CHECKING:
    from sugo.protocol.keys import KeyPair

log = logging.getLogger(__name__)

#: ``by`` of the request being handled ("" for none), for the events it causes.
ACTOR: contextvars.ContextVar[str] = contextvars.ContextVar("sugo_actor", default="")

DEFERRED = object()
"""Returned by a handler that will answer later through ``Call.reply``."""


@dataclass
class Call:
    """One received request: who sent it and how to answer it."""

    identity: bytes
    req_id: str
    cmd: str
    frames: list[bytes]
    loop: "ServerLoop"
    answered: bool = field(default=False)
    sock: Any = None  # the socket it came on (None: the loop's main socket)
    peer: str | None = None  # the client's CURVE public key (z85), on a CURVE socket
    peer_address: str | None = None  # the client's IP address, on an extra socket

    def reply(self, data: Any = None, frames: list[bytes] | None = None) -> None:
        """Answer with data (thread-safe)."""
        self.loop.send_soon(self, wire.Reply(id=self.req_id, data=data), frames)

    def fail(self, message: str) -> None:
        """Answer with an error (thread-safe)."""
        reply = wire.Reply(id=self.req_id, ok=False, error=wire.printable(message))
        self.loop.send_soon(self, reply, None)


Handler = Callable[[Any, Call], Any]
"""A handler gets the typed request and the Call; it returns the reply data,
a (data, frames) tuple via ``Result``, or ``DEFERRED``; raising SugoError (or
ValueError) turns into an error reply with that message."""


def _property(frame: zmq.Frame, name: str) -> str | None:
    try:
        value = frame.get(name)
    except zmq.ZMQError:  # not set on this message
        return None
    return str(value) if value else None


@dataclass
class Result:
    data: Any = None
    frames: list[bytes] = field(default_factory=list)


class ServerLoop:
    """Serve requests on ``address`` with the handlers of ``registry``."""

    def __init__(
        self,
        name: str,
        registry: dict[type[wire.Request], Handler],
        bind: str,
        port: int | None = None,
        max_bytes: int = 16 * 1024 * 1024,
        context: zmq.Context[Any] | None = None,
        curve: "KeyPair | None" = None,
    ) -> None:
        self.name = name
        self.registry = registry
        self.max_bytes = max_bytes
        self.decoder = wire.RequestDecoder(list(registry))
        self.ctx = context or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        # zmq drops a peer that sends a frame over this limit before we ever see it.
        self.sock.setsockopt(zmq.MAXMSGSIZE, max_bytes * 2)
        if curve is not None:  # a CURVE server: the context needs a Guard (curve.py)
            from sugo.protocol.curve import curve_server

            curve_server(self.sock, curve)
        if is_ipv6(bind):  # `[daemon] bind = "::1"`: off by default in zmq
            self.sock.setsockopt(zmq.IPV6, 1)
            bind = f"[{bind}]"
        if port:
            self.sock.bind(f"tcp://{bind}:{port}")
            self.port = port
        else:
            self.port = self.sock.bind_to_random_port(f"tcp://{bind}")
        self._wake_addr = f"inproc://wake-{id(self)}"
        self._wake = self.ctx.socket(zmq.PULL)
        self._wake.bind(self._wake_addr)
        self._wake_senders = threading.local()
        self._posted: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._stopping = False
        self._all_wake_senders: list[zmq.Socket[Any]] = []
        self._lock = threading.Lock()
        self._loop_thread: int | None = None  # ident of the thread in run()
        self._extra: list[zmq.Socket[Any]] = []  # more listeners (see add_socket)

    def add_socket(self, sock: zmq.Socket[Any]) -> None:
        """Serve the same registry on another bound ROUTER socket too (e.g. a
        CURVE listener for the network); before ``run``. Its requests carry
        the peer's key and address (``Call.peer``, ``Call.peer_address``)."""
        self._extra.append(sock)

    # -- thread-safe entry points ------------------------------------------------

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loop thread as soon as possible (any thread)."""
        self._posted.put(fn)
        sender = getattr(self._wake_senders, "sock", None)
        if sender is None:
            sender = self.ctx.socket(zmq.PUSH)
            sender.setsockopt(zmq.LINGER, 0)
            sender.connect(self._wake_addr)
            self._wake_senders.sock = sender
            with self._lock:
                self._all_wake_senders.append(sender)
        sender.send(b"", zmq.NOBLOCK)

    def send_soon(self, call: Call, reply: wire.Reply, frames: list[bytes] | None) -> None:
        """Send ``reply``: at once on the loop thread, else through ``post``."""
        if threading.get_ident() == self._loop_thread:
            self._send(call, reply, frames)
        else:
            self.post(lambda: self._send(call, reply, frames))

    def stop(self) -> None:
        self.post(self._set_stopping)

    # -- loop-thread API -----------------------------------------------------------

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._counter), fn))

    def _set_stopping(self) -> None:
        self._stopping = True

    def run(self) -> None:
        self._loop_thread = threading.get_ident()
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self._wake, zmq.POLLIN)
        for extra in self._extra:
            poller.register(extra, zmq.POLLIN)
        while not self._stopping:
            timeout: int | None = None
            if self._timers:
                timeout = int(max(0.0, self._timers[0][0] - time.monotonic()) * 1000) + 1
            events = dict(poller.poll(timeout))
            if self._wake in events:
                while self._wake.poll(0):
                    self._wake.recv()
            while not self._posted.empty():
                self._run_safely(self._posted.get_nowait())
            if self.sock in events:
                # Bounded batch so timers and posted work are never starved.
                # (Asking for EVENTS is cheaper than a recv that raises Again.)
                for _ in range(100):
                    if not self.sock.get(zmq.EVENTS) & zmq.POLLIN:
                        break
                    self._dispatch(self.sock.recv_multipart(zmq.NOBLOCK))
            for extra in self._extra:
                if extra in events:
                    self._receive_extra(extra)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                self._run_safely(fn)

    def close(self) -> None:
        with self._lock:
            for s in self._all_wake_senders:
                s.close(linger=0)
            self._all_wake_senders.clear()
        self._wake.close(linger=0)
        for extra in self._extra:
            extra.close(linger=0)
        self.sock.close(linger=0)

    def _run_safely(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("%s: internal task failed", self.name)

    def _receive_extra(self, sock: zmq.Socket[Any]) -> None:
        for _ in range(100):
            if not int(sock.get(zmq.EVENTS)) & zmq.POLLIN:
                break
            parts = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            # Message properties: set by the ZAP handler (User-Id: the CURVE
            # key) and by the TCP transport (Peer-Address).
            peer = _property(parts[-1], "User-Id")
            address = _property(parts[-1], "Peer-Address")
            self._dispatch([p.bytes for p in parts], sock, peer, address)

    def _dispatch(
        self,
        frames: list[bytes],
        sock: Any = None,
        peer: str | None = None,
        peer_address: str | None = None,
    ) -> None:
        if len(frames) < 2:
            return  # an identity with no body: nothing to answer
        identity, head, body = frames[0], frames[1], frames[2:]
        req_id, cmd = wire.peek(head)
        call = Call(identity, req_id, cmd, body, self, sock=sock, peer=peer)
        call.peer_address = peer_address
        size = sum(len(f) for f in frames[1:])
        if size > self.max_bytes:
            self._error(call, f"request of {size} bytes exceeds the limit of {self.max_bytes}")
            return
        try:
            req = self.decoder.decode(head)
        except ProtocolError as e:
            log.warning("%s: rejected request: %s", self.name, e)
            self._error(call, str(e))
            return
        handler = self.registry[type(req)]
        actor = ACTOR.set(req.by)
        try:
            out = handler(req, call)
        except (SugoError, ValueError) as e:
            self._error(call, str(e))
            return
        except Exception as e:
            log.exception("%s: handler for %r failed", self.name, cmd)
            self._error(call, f"internal error in {cmd!r}: {e}")
            return
        finally:
            ACTOR.reset(actor)
        if out is DEFERRED:
            return
        if isinstance(out, Result):
            self._send(call, wire.Reply(id=req_id, data=out.data), out.frames)
        else:
            self._send(call, wire.Reply(id=req_id, data=out), None)

    def _error(self, call: Call, message: str) -> None:
        # Errors often quote what the peer sent (a file name, a key): escape
        # control characters so that every error reply is one line.
        error = wire.printable(message)
        self._send(call, wire.Reply(id=call.req_id, ok=False, error=error), None)

    def _send(self, call: Call, reply: wire.Reply, frames: list[bytes] | None) -> None:
        if call.answered:
            return
        call.answered = True
        try:
            head = wire.encode(reply)
        except (msgspec.EncodeError, TypeError) as e:
            log.exception("%s: cannot encode reply to %r", self.name, call.cmd)
            head = wire.encode(
                wire.Reply(id=call.req_id, ok=False, error=f"cannot encode reply: {e}")
            )
            frames = None
        try:
            sock = call.sock if call.sock is not None else self.sock
            sock.send_multipart([call.identity, head, *(frames or [])], zmq.NOBLOCK)
        except zmq.ZMQError as e:
            log.warning("%s: reply to %r not delivered: %s", self.name, call.cmd, e)
