"""A request/reply client with a timeout on every request.

One DEALER socket per client (not thread-safe: one client per thread). Replies
are matched to requests by id, so a late reply to a timed-out request is
discarded instead of being mistaken for the answer to the next one.
"""

import os
import time
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import zmq

from sugo.errors import ProtocolError, RequestFailed, RequestTimeout
from sugo.protocol import wire
from sugo.protocol.endpoints import endpoint, is_ipv6  # (endpoint: public here too)

if TYPE_CHECKING:
    from sugo.protocol.keys import ClientKeys


def _debug(msg: str, *args: object) -> None:
    # `logging` only when there is something to say: the CLI's quick commands
    # (one request, one reply) need not pay for importing it.
    import logging

    logging.getLogger(__name__).debug(msg, *args)


DEFAULT_TIMEOUT = 5.0
# sugo.protocol.keys.PROCESS_SERVER_ENV (not imported: this module is kept light)
_FAMILY_ENV = "SUGO_CURVE_SERVER"
T = TypeVar("T")


def request_id() -> str:
    """A fresh request id. Give one to a request that will be sent again
    (servers recognise a repeated id); `Client.request` fills in the rest."""
    return os.urandom(12).hex()


class Client:
    """Talk to one sugo server (daemon or driver host)."""

    def __init__(
        self,
        address: str,
        timeout: float = DEFAULT_TIMEOUT,
        context: zmq.Context[Any] | None = None,
        curve: "ClientKeys | None" = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.curve = curve  # CURVE keys: required by a `[network] listen` endpoint
        self._ctx = context or zmq.Context.instance()
        self._sock: zmq.Socket[Any] | None = None

    def _socket(self) -> zmq.Socket[Any]:
        if self._sock is None:
            address, curve = self.address, self.curve
            if "#" in address:  # tcp://H:P#curve=KEY: a CURVE server (sugo.protocol.keys)
                from sugo.protocol.keys import process_client_keys, split_curve

                address, server = split_curve(address)
                if curve is None and server is not None:
                    curve = process_client_keys(server)
            elif curve is None and _FAMILY_ENV in os.environ:
                # A process the daemon started: the daemon and its local hosts
                # are CURVE servers with the daemon's key (sugo.protocol.keys).
                from sugo.protocol.keys import process_server_keys

                curve = process_server_keys()
            sock = self._ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            if is_ipv6(address):
                sock.setsockopt(zmq.IPV6, 1)
            if curve is not None:
                from sugo.protocol.curve import curve_client

                curve_client(sock, curve)
            sock.connect(address)
            self._sock = sock
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        req: wire.Request,
        frames: list[bytes] | tuple[bytes, ...] = (),
        timeout: float | None = None,
        retries: int = 0,
    ) -> tuple[wire.Reply, list[bytes]]:
        """Send ``req`` and return (reply, binary frames).

        With ``retries``, a timed-out request is sent again with the same id;
        servers recognise the id and never execute a non-idempotent verb twice.
        """
        if not req.id:
            req = msgspec.structs.replace(req, id=request_id())
        payload = [wire.encode(req), *frames]
        wait = self.timeout if timeout is None else timeout
        cmd = type(req).__struct_config__.tag
        for attempt in range(retries + 1):
            sock = self._socket()
            sock.send_multipart(payload, copy=False)
            got = self._receive(sock, req.id, wait)
            if got is not None:
                return got
            _debug("%s: %s timed out (attempt %d)", self.address, cmd, attempt + 1)
            # A fresh socket drops whatever the old one had queued.
            self.close()
        where = self.address.partition("#")[0]  # not the server key of a CURVE endpoint
        raise RequestTimeout(f"{where}: no reply to {cmd!r} within {wait:g} s")

    def _receive(
        self, sock: zmq.Socket[Any], req_id: str, wait: float
    ) -> tuple[wire.Reply, list[bytes]] | None:
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            # A receive timeout, not Socket.poll: that builds a Poller per call,
            # which costs more than the rest of a request.
            sock.setsockopt(zmq.RCVTIMEO, int(remaining * 1000) + 1)
            try:
                frames = sock.recv_multipart()
            except zmq.Again:
                return None
            if not frames:
                continue
            reply = wire.decode_reply(frames[0])
            if reply.id == req_id:
                return reply, frames[1:]
            _debug("%s: dropped stale reply %s", self.address, reply.id)

    def call(
        self,
        req: wire.Request,
        type_: type[T] | None = None,
        timeout: float | None = None,
        retries: int = 0,
    ) -> Any:
        """Request and return the reply data (validated into ``type_`` if given).

        An error reply raises RequestFailed carrying the server's message.
        """
        reply, _ = self.request(req, timeout=timeout, retries=retries)
        if not reply.ok:
            raise RequestFailed(reply.error or "request failed")
        if type_ is None:
            return reply.data
        return wire.convert(reply.data, type_)


__all__ = ["DEFAULT_TIMEOUT", "Client", "ProtocolError", "endpoint"]
