"""The daemon's `[network] listen` endpoint: a second ROUTER socket on the
daemon's loop serving the same commands, always CURVE (loopback included),
with the allow-list of the app folder's keys/ (docs/network.md)."""

import logging
import os
from typing import TYPE_CHECKING, Any

import zmq

from sugo.errors import SugoError
from sugo.protocol.curve import Guard, curve_server
from sugo.protocol.keys import (
    DAEMON,
    PROCESS_KEY_ENV,
    allowed_public_keys,
    ensure_daemon_pair,
    keys_dir,
)

if TYPE_CHECKING:
    from sugo.daemon.core import Daemon

log = logging.getLogger("sugo.daemon.network")


class NetworkListener:
    def __init__(self, daemon: "Daemon", listen: str) -> None:
        appdir = daemon.appdir
        pair = ensure_daemon_pair(appdir)
        ctx = daemon.loop.ctx
        self.guard = Guard(ctx, lambda: allowed_public_keys(appdir))
        sock: zmq.Socket[Any] = ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, daemon.settings.daemon.max_message_bytes * 2)
        curve_server(sock, pair)
        try:
            sock.bind(listen)
        except zmq.ZMQError as e:
            sock.close(linger=0)
            self.guard.stop()
            raise SugoError(f"[network] listen = {listen!r}: cannot bind: {e}") from None
        self.sock = sock
        self.endpoint = listen
        daemon.loop.add_socket(sock)
        log.info("daemon: CURVE listener on %s (key %s)", listen, pair.public.decode())

    def close(self) -> None:
        self.guard.stop()  # the socket is closed with the loop's


def start(daemon: "Daemon") -> NetworkListener | None:
    """Make the daemon's key pair on its first start; listen if asked to.

    The pair is also this process's (and its job runners') key for the
    CURVE endpoints of driver hosts on agents' PCs (``$SUGO_CURVE_KEY``)."""
    listen = daemon.settings.network.listen
    try:
        ensure_daemon_pair(daemon.appdir)
    except (OSError, SugoError) as e:
        if listen is not None:
            raise SugoError(f"[network] listen needs the daemon's key pair: {e}") from None
        log.warning("daemon: cannot make its key pair: %s", e)  # only the network needs it
        return None
    os.environ[PROCESS_KEY_ENV] = str(keys_dir(daemon.appdir) / f"{DAEMON}.key_secret")
    if listen is None:
        return None
    return NetworkListener(daemon, listen)
