"""The daemon's keys and `[network] listen` endpoint.

Every socket of the daemon is CURVE with the allow-list of the app folder's
keys/: its own port (`[daemon] bind`, loopback by default) and the optional
`[network] listen` one, a second ROUTER socket on the daemon's loop serving
the same commands (docs/network.md). One Guard (ZAP handler) serves both.
"""

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq

from sugo import paths
from sugo.daemon import prestart
from sugo.errors import SugoError
from sugo.protocol.curve import Guard, curve_server
from sugo.protocol.endpoints import is_ipv6
from sugo.protocol.keys import (
    KeyPair,
    allowed_public_keys,
    daemon_family_env,
    ensure_daemon_pair,
    ensure_local_keys,
    keys_dir,
)

if TYPE_CHECKING:
    from sugo.config.settings import Settings
    from sugo.protocol.server import ServerLoop

log = logging.getLogger("sugo.daemon.network")


class ListenFailed(SugoError):
    """The daemon cannot listen where its settings say (one line naming the setting)."""


def bind_failed(appdir: Path, bind: str, port: int, e: zmq.ZMQError) -> ListenFailed:
    """Why the daemon's own socket could not bind: an address of no interface
    of this machine, or a port taken."""
    return ListenFailed(paths.bind_failed(appdir, bind, port, e.errno, e.strerror))


def prepare_keys(appdir: Path) -> KeyPair:
    """Before the daemon binds: its pair and the local client pair (made,
    with a notice, in an app folder that predates them), and the environment
    by which every process it starts finds them."""
    try:
        made = ensure_local_keys(appdir) or bool(prestart.keys_made)
        pair = ensure_daemon_pair(appdir)
    except OSError as e:
        raise SugoError(f"cannot make the daemon's keys in {keys_dir(appdir)}: {e}") from None
    if made:
        log.warning(
            "daemon: made CURVE keys in %s: clients of this daemon (the CLI, SugoClient) "
            "read them there, so only users who can read that folder can use it",
            keys_dir(appdir),
        )
    os.environ.update(daemon_family_env(appdir))
    return pair


class NetworkListener:
    def __init__(
        self, loop: "ServerLoop", settings: "Settings", listen: str, pair: KeyPair
    ) -> None:
        ctx = loop.ctx
        sock: zmq.Socket[Any] = ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, settings.daemon.max_message_bytes * 2)
        curve_server(sock, pair)
        if is_ipv6(listen):  # tcp://[::]:PORT: off by default in zmq
            sock.setsockopt(zmq.IPV6, 1)
        try:
            sock.bind(listen)
        except zmq.ZMQError as e:
            sock.close(linger=0)
            raise SugoError(f"[network] listen = {listen!r}: cannot bind: {e}") from None
        self.sock = sock
        self.endpoint = listen
        loop.add_socket(sock)
        log.info("daemon: CURVE listener on %s (key %s)", listen, pair.public.decode())


def guard(appdir: Path) -> Guard:
    """The ZAP handler of the daemon's context (the loop's, zmq's instance)."""
    return Guard(zmq.Context.instance(), lambda: allowed_public_keys(appdir))


class Network:
    """The Guard of the daemon's context and the optional network listener."""

    def __init__(
        self, loop: "ServerLoop", settings: "Settings", pair: KeyPair, guard: Guard
    ) -> None:
        self.guard = guard
        listen = settings.network.listen
        try:
            self.listener = NetworkListener(loop, settings, listen, pair) if listen else None
        except SugoError:
            self.guard.stop()
            raise

    def close(self) -> None:
        self.guard.stop()  # the sockets are closed with the loop's


def start(loop: "ServerLoop", settings: "Settings", pair: KeyPair, guard: Guard) -> Network:
    """Listen on `[network] listen` if set (the Guard already runs)."""
    return Network(loop, settings, pair, guard)
