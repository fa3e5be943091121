"""A ROUTER server with an explicit command registry, run by an event loop.

The loop owns the socket. Other threads never touch it: they hand work back
with ``post()``, which wakes the loop at once through an inproc socket, so
handlers can defer a reply to a worker thread without blocking the loop.
"""

import contextvars
import enum
import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_args, get_origin

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


class Deferred(enum.Enum):
    """The type of ``DEFERRED`` (an enum of one, so handlers can name it)."""

    DEFERRED = "deferred"


DEFERRED = Deferred.DEFERRED
"""Returned by a handler that will answer later through ``Call.reply``."""

R = TypeVar("R")

#: Set to "1" (the test suite does), a server answers a reply of the wrong
#: type with an error instead of only logging it.
STRICT_REPLIES_ENV = "SUGO_STRICT_REPLIES"


@dataclass
class Call(Generic[R]):
    """One received request: who sent it and how to answer it. ``R`` is the
    type of its reply data (a handler's ``call: Call[api.JobInfo]``)."""

    identity: bytes
    req_id: str
    cmd: str
    frames: list[bytes]
    loop: "ServerLoop"
    answered: bool = field(default=False)
    sock: Any = None  # the socket it came on (None: the loop's main socket)
    peer: str | None = None  # the client's CURVE public key (z85), on a CURVE socket
    peer_address: str | None = None  # the client's IP address, on an extra socket

    kind: type | None = None  # the request's type, once decoded

    def reply(self, data: R, frames: list[bytes] | None = None) -> None:
        """Answer with data (thread-safe)."""
        self.loop.send_soon(self, self.loop.reply_of(self, data), frames)

    def fail(self, message: str) -> None:
        """Answer with an error (thread-safe)."""
        reply = wire.Reply(id=self.req_id, ok=False, error=wire.printable(message))
        self.loop.send_soon(self, reply, None)


Handler = Callable[[Any, Call[Any]], Any]
"""A handler gets the typed request and the Call; it returns the reply data,
a (data, frames) tuple via ``Result``, or ``DEFERRED``; raising SugoError (or
ValueError) turns into an error reply with that message. (A registry holds
handlers of many request types, so its type is loose; each handler names its
own request and reply types, and ``replies`` checks them at run time.)"""


def reply_matches(data: Any, expected: Any) -> bool:
    """Whether ``data`` is of the declared reply type ``expected`` (a struct
    class, ``list[Struct]``, or ``Any`` for a reply forwarded unchanged)."""
    if expected is Any:
        return True
    if get_origin(expected) is list:
        (item,) = get_args(expected)
        return isinstance(data, list) and all(reply_matches(d, item) for d in data)
    return isinstance(data, expected)


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
        replies: dict[type[wire.Request], Any] | None = None,
        strict_replies: bool = False,
    ) -> None:
        self.name = name
        self.registry = registry
        # The declared reply type of each request: a handler that answers with
        # another is a bug, logged; with strict_replies (the tests) it fails the request.
        self.replies = replies or {}
        self.strict_replies = strict_replies
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

    def send_soon(self, call: Call[Any], reply: wire.Reply, frames: list[bytes] | None) -> None:
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
        call: Call[Any] = Call(identity, req_id, cmd, body, self, sock=sock, peer=peer)
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
        call.kind = type(req)
        handler = self.registry[call.kind]
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
            self._send(call, self.reply_of(call, out.data), out.frames)
        else:
            self._send(call, self.reply_of(call, out), None)

    def reply_of(self, call: Call[Any], data: Any) -> wire.Reply:
        """The reply envelope of ``data``, checked against the declared reply type."""
        expected = self.replies.get(call.kind) if call.kind is not None else None
        if expected is not None and not reply_matches(data, expected):
            name = getattr(expected, "__name__", str(expected))
            problem = f"the reply to {call.cmd!r} is a {type(data).__name__}, not a {name}"
            log.error("%s: %s", self.name, problem)
            if self.strict_replies:
                return wire.Reply(id=call.req_id, ok=False, error=f"internal error: {problem}")
        return wire.Reply(id=call.req_id, data=data)

    def _error(self, call: Call[Any], message: str) -> None:
        # Errors often quote what the peer sent (a file name, a key): escape
        # control characters so that every error reply is one line.
        error = wire.printable(message)
        self._send(call, wire.Reply(id=call.req_id, ok=False, error=error), None)

    def _send(self, call: Call[Any], reply: wire.Reply, frames: list[bytes] | None) -> None:
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
