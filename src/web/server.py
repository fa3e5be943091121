"""Run `sugo web`: read the settings, check the tokens rule, serve with uvicorn."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from sugo.errors import SugoError
from sugo.protocol.endpoints import is_loopback, url_of
from sugo.web.auth import TokenFile, tokens_path

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sugo.web.daemon import EventPump

log = logging.getLogger("sugo.web")

DEFAULT_LISTEN = "127.0.0.1:9280"


def build(host: str, port: int, daemon_port: int, appdir: Path) -> tuple[FastAPI, EventPump]:
    """The app for ``host:port`` talking to the daemon on ``daemon_port``."""
    from sugo.config.settings import load_settings
    from sugo.web.app import WebConfig, create_app
    from sugo.web.daemon import Daemon, EventPump

    settings_file = appdir / "settings.toml"
    settings = load_settings(settings_file) if settings_file.exists() else None
    tokens = TokenFile(tokens_path(appdir, settings.web.tokens if settings else None))
    if not is_loopback(host):
        tokens.check_private()
        if not tokens.entries():
            raise SugoError(
                f"listening on {host} (beyond loopback) needs tokens, and {tokens.path} has"
                " none: make one with `sugo web token new NAME --role viewer|operator`"
            )
    daemon = Daemon(daemon_port, appdir)  # where it listens: `sugo.paths.daemon_host`
    cfg = WebConfig(host, port, daemon, tokens, settings.datadir if settings else appdir)
    pump = EventPump(daemon)
    return create_app(cfg, pump), pump


def serve(host: str, port: int, daemon_port: int, appdir: Path, tied: bool = False) -> int:
    """Serve until SIGINT/SIGTERM (or, ``tied``, until the daemon that started
    it ends: `sugo.platform.procs.spawn_tied`); returns the exit code."""
    import uvicorn

    app, pump = build(host, port, daemon_port, appdir)
    sock = listen(host, port)
    pump.start()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    if tied:
        from sugo.platform.procs import exit_with_parent

        def parent_gone() -> None:
            log.warning("sugo web: the daemon that started it is gone: stopping")
            server.should_exit = True

        exit_with_parent(parent_gone)
    print(f"sugo web: serving {url_of(host, port)} (daemon port {daemon_port})", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        pump.stop()
        sock.close()
    return 0 if server.started else 1


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is a clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if os.name == "posix":  # on Windows it would let two servers share the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise SugoError(f"cannot listen on {url_of(host, port)}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock
