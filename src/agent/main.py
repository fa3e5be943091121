"""`sugo agent`: register, keep the driver hosts the daemon assigns running,
heartbeat, and unregister on a clean stop (Ctrl-C or a termination request)."""

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sugo.agent.hosts import HostSupervisor
from sugo.agent.registration import AgentSession, Refused, local_address
from sugo.errors import SugoError
from sugo.protocol import agent_api as api
from sugo.protocol.client import Client
from sugo.protocol.daemon_api import HostFailed
from sugo.protocol.keys import client_keys

log = logging.getLogger("sugo.agent")


def run_agent(
    daemon: str,
    name: str,
    appdir: Path,
    alive_timeout: float = 10.0,
    overwrite: bool = False,
    out: Any = None,
    install_signals: Callable[[threading.Event], None] | None = None,
) -> int:
    """Run until stopped; 0 after a clean stop. Raises SugoError when the
    daemon refuses the registration or the keys are missing."""
    from sugo.protocol.keys import check_name

    check_name(name)

    def registered(reply: api.Registered) -> None:
        drivers = ", ".join(d.name for d in reply.drivers) or "none"
        if out is not None:
            out.note(
                f"sugo agent: registered as {reply.name} ({reply.identity}); drivers: {drivers}"
            )
        hosts.apply(reply.drivers)

    def give_up(driver: str, why: str) -> None:
        # Its own connection: the session's client belongs to the session's thread.
        try:
            with Client(daemon, timeout=5.0, curve=client_keys(appdir)) as client:
                client.call(HostFailed(driver=driver, pid=0, error=why))
        except SugoError as e:
            log.error("driver %s: could not tell the daemon: %s", driver, e)

    session = AgentSession(daemon, name, appdir, alive_timeout, overwrite, registered)
    hosts = HostSupervisor(daemon, appdir, session.key_name, local_address(daemon), give_up)
    if install_signals is not None:
        install_signals(session.stop)
    try:
        session.run()
    except KeyboardInterrupt:
        session.stop.set()
    except Refused as e:
        raise SugoError(f"the daemon at {daemon} refused agent {name!r}: {e}") from None
    finally:
        hosts.close()  # after the unregister (in session.run): jobs end, then hosts go
    if out is not None:
        out.note(f"sugo agent: {name} stopped")
    return 0
