"""The connection under ``sugo.client.SugoClient``: where the daemon is, this
client's CURVE keys, how long each request may take, and one typed request.

Every reply is decoded into the type the protocol declares for its request
(``daemon_api.DAEMON_REPLIES``, ``agent_api.AGENT_REPLIES``), so a reply of
the wrong shape is a ``ProtocolError`` here rather than a KeyError later.

Import-light on purpose (no numpy, xarray, pydantic or pint): the CLI's queue
and status commands are built on it.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, Self

from sugo.errors import RequestTimeout, SugoError
from sugo.paths import daemon_host, resolve_appdir, resolve_port
from sugo.protocol import daemon_api as api
from sugo.protocol.client import Client
from sugo.protocol.endpoints import endpoint
from sugo.protocol.wire import Request, encode

if TYPE_CHECKING:
    from pathlib import Path  # imported where used: `sugo status` need not pay for it

    from sugo.protocol.keys import ClientKeys

# Requests the daemon answers only after slow work; their own upper bounds
# (driver stop, validation on driver hosts, snapshot expiry) plus a margin.
SLOW_TIMEOUTS = {
    "stop": 30.0,
    "reload": 30.0,
    "submit": 30.0,
    "snapshot": 35.0,
    "component": 15.0,
    "job_rebuild": 620.0,
}


#: The daemon's default `[daemon] max_message_bytes`; requests up to
#: SMALL_REQUEST bytes (the least it can be set to) are sent without asking.
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SMALL_REQUEST = 1024


class DaemonUnreachable(RequestTimeout):
    """Nothing accepts connections on the daemon's port (it is not running)."""


def reply_type(req: Request) -> Any:
    """The type the reply data of ``req`` decodes into."""
    kind = type(req)
    if kind in api.DAEMON_REPLIES:
        return api.DAEMON_REPLIES[kind]
    from sugo.protocol import agent_api  # (only `sugo status agents` asks the registry)

    return agent_api.AGENT_REPLIES[kind]


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB ({size} bytes)"


class DaemonConnection:
    """A connection to the sugo daemon on ``port`` (a context manager); see
    ``SugoClient`` for the arguments. Not thread-safe: one per thread."""

    def __init__(
        self,
        port: int | None = None,
        appdir: Path | None = None,
        timeout: float = 5.0,
        host: str | None = None,
        connect: str | None = None,
    ) -> None:
        self._appdir = appdir
        curve = None
        if connect:
            from sugo.protocol.endpoints import split_endpoint
            from sugo.protocol.keys import client_keys

            try:
                host, port = split_endpoint(connect)
            except ValueError as e:
                raise SugoError(f"--connect: {e}") from None
            curve = client_keys(self.appdir)
        self.port = resolve_port(port)
        self._host = host  # None: where the app folder's daemon listens, when first used
        self._host_given = host is not None
        self.timeout = timeout
        self._curve = curve  # CURVE keys: of a `connect` client, else read when first used
        self._client = Client("", timeout=timeout, curve=curve)  # its address: on first use
        self._listening = False
        self._max_bytes: int | None = None  # the daemon's request size limit, once asked

    @property
    def appdir(self) -> Path:
        """The app folder (absolute)."""
        return resolve_appdir(self._appdir)

    @property
    def host(self) -> str:
        """Where the daemon is reached: as given, else where the app folder's
        daemon says it listens (``sugo.paths.daemon_host``)."""
        if self._host is None:
            self._host = daemon_host(self.appdir, self.port)
        return self._host

    @property
    def endpoint(self) -> str:
        return endpoint(self.host, self.port)

    @property
    def curve(self) -> ClientKeys:
        """This client's CURVE keys: every daemon socket is CURVE, its
        loopback port included, so only a user who can read the app folder's
        keys/ gets an answer (docs/network.md). Read on first use."""
        if self._curve is None:
            from sugo.protocol.keys import local_client_keys

            self._curve = local_client_keys(self.appdir)
            self._client.curve = self._curve
        return self._curve

    def close(self) -> None:
        """Close the socket; the client may be used again afterwards."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_listening(self) -> None:
        # ZeroMQ waits silently for a peer that never comes; a plain TCP
        # connect tells "nobody listens" at once instead of after the timeout.
        if self._listening:
            return
        # An ASCII host as bytes (getaddrinfo takes either): a str would load
        # the idna codec, ~1 ms of every CLI command.
        host: Any = self.host.encode() if self.host.isascii() else self.host
        try:
            with socket.create_connection((host, self.port), timeout=min(1.0, self.timeout)):
                pass
        except ConnectionRefusedError:
            where = self.endpoint
            if not self._host_given:  # looked up again next time: a daemon started
                self._host = None  # meanwhile may listen elsewhere (the web's pump waits)
            raise DaemonUnreachable(f"{where}: no daemon listening (connection refused)") from None
        except OSError:
            return  # unclear (e.g. slow): let the request and its timeout decide
        self._listening = True

    def ask(self, req: Request, timeout: float | None = None) -> Any:
        """Send ``req``; return its reply data decoded into the request's reply
        type (``reply_type``). A refusal raises RequestFailed with the reason."""
        return self._call(req, reply_type(req), timeout)

    def ask_json(self, req: Request, timeout: float | None = None) -> Any:
        """Send ``req``; return its reply data as plain JSON data, undecoded:
        for who passes it on as it is (the web API serves it as JSON)."""
        return self._call(req, None, timeout)

    def _call(self, req: Request, type_: Any = None, timeout: float | None = None) -> Any:
        """Send ``req``; its reply data validated into ``type_``, or as plain
        JSON data when ``type_`` is None (the web API, which re-shapes it)."""
        self._check_listening()
        _ = self.curve  # read after the check: "not running" beats "no keys"
        if self._client.address != self.endpoint:  # the first request, or the daemon moved
            self._client.close()
            self._client.address = self.endpoint
        if timeout is None:
            slow = SLOW_TIMEOUTS.get(str(type(req).__struct_config__.tag))
            timeout = max(self.timeout, slow) if slow else self.timeout
        return self._client.call(req, type_, timeout=timeout)

    def _check_size(self, req: Request, source: str) -> None:
        """Refuse a request the daemon would not read, before sending it: past
        twice its limit the daemon's socket drops it unread, and the client
        would wait for a reply that never comes."""
        if len(getattr(req, "payload", "")) <= SMALL_REQUEST:
            return  # every daemon reads this much
        size = len(encode(req))
        if size <= SMALL_REQUEST:
            return
        if self._max_bytes is None:
            ping: api.PingInfo = self.ask(api.Ping())
            limit = ping.max_message_bytes
            self._max_bytes = DEFAULT_MAX_MESSAGE_BYTES if limit is None else limit
        if size > self._max_bytes:
            raise SugoError(
                f"{source}: the request is {_mib(size)}, over the daemon's limit of"
                f" {_mib(self._max_bytes)} ([daemon] max_message_bytes in settings.toml)"
            )
