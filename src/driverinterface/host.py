"""The driver host process: `python -m sugo.driverinterface.host --driver NAME`.

It loads the driver, binds its port, says hello to the daemon (whose reply
carries the driver's settings), builds the driver's ModelInterface and serves
it with a `DriverHost` (sugo.driverinterface.host_server) until shut down.
"""

import argparse
import logging
import os
import sys
import time
from typing import Any

from sugo.driverinterface.chunk_buffer import ChunkBuffer
from sugo.driverinterface.host_server import TEARDOWN_TIMEOUT, DriverHost
from sugo.driverinterface.settings import check_settings
from sugo.errors import DriverError, SugoError
from sugo.protocol.client import Client
from sugo.protocol.daemon_api import HostFailed, HostHello

# Also importable from here, where they were first defined.
__all__ = ["TEARDOWN_TIMEOUT", "ChunkBuffer", "DriverHost", "exit_now", "main", "say_hello"]

log = logging.getLogger("sugo.host")

HELLO_RECONNECT_MS = 10


def say_hello(
    daemon: str, driver: str, port: int, timeout: float, source: str = ""
) -> dict[str, Any]:
    """Announce this host to the daemon; the reply carries the driver settings.

    The daemon starts its hosts before it binds its own port (see
    sugo.daemon.prestart): until it listens, the connection is tried again
    every 10 ms instead of ZeroMQ's default 100 ms.
    """
    import zmq

    ctx: zmq.Context[Any] = zmq.Context.instance()
    ctx.setsockopt(zmq.RECONNECT_IVL, HELLO_RECONNECT_MS)
    try:
        with Client(daemon, timeout=timeout, context=ctx) as client:
            hello = HostHello(driver=driver, port=port, pid=os.getpid(), source=source)
            data = client.call(hello, retries=2)
    finally:
        ctx.sockopts.pop(zmq.RECONNECT_IVL, None)
    return dict(data.get("settings") or {})


def report_failure(daemon: str, driver: str, error: str) -> None:
    try:
        with Client(daemon, timeout=2.0) as client:
            client.call(HostFailed(driver=driver, pid=os.getpid(), error=error))
    except SugoError as e:
        log.error("driver %s: could not tell the daemon: %s", driver, e)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sugo-driver-host")
    parser.add_argument("--driver", required=True)
    parser.add_argument("--daemon", required=True, help="daemon endpoint, tcp://host:port")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--logfile")
    parser.add_argument("--verbosity", help="log level (default: the daemon's)")
    args = parser.parse_args(argv)

    from sugo.logs import inherited_level, setup_logging

    setup_logging(args.logfile, args.verbosity or inherited_level(), f"driver {args.driver}")
    from sugo.driverinterface.loader import find_driver, load_driver

    try:
        cls = load_driver(args.driver)
        found = find_driver(args.driver)
        source = found.describe() if found else ""
    except DriverError as e:
        log.error("%s", e)
        return 1

    t0 = time.monotonic()
    # Bind first: the hello carries our port and its reply carries the settings
    # the interface is built with. Nothing is served before loop.run().
    from sugo.protocol.keys import PROCESS_ALLOW_ENV, process_pair

    # Started by an agent: reachable over the network, so CURVE (docs/network.md).
    curve = process_pair() if os.environ.get(PROCESS_ALLOW_ENV) else None
    host = DriverHost(args.driver, bind=args.bind, curve=curve)
    try:
        settings = say_hello(args.daemon, args.driver, host.loop.port, timeout=5.0, source=source)
    except SugoError as e:
        log.error("driver %s: cannot reach the daemon: %s", args.driver, e)
        host.close()
        return 1
    try:
        settings = check_settings(args.driver, cls.settings_spec, settings)
        host.interface = cls(settings)
    except Exception as e:
        # Tell the daemon why, so it shows the reason instead of restarting us in a loop.
        log.error("driver %s: cannot start: %s", args.driver, e)
        report_failure(args.daemon, args.driver, str(e))
        host.close()
        return 1
    log.info(
        "driver %s: serving on port %d (pid %d, up in %.3f s)",
        args.driver,
        host.loop.port,
        os.getpid(),
        time.monotonic() - t0,
    )
    try:
        host.loop.run()
    finally:
        host.close()
    log.info("driver %s: stopped", args.driver)
    return 0


def exit_now(code: int) -> None:
    """End the process without joining worker threads: one may still be in a
    verb on a hung instrument, and a stop must not wait for it."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
