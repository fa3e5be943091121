"""`sugo agent` (an instrument PC's agent) and `sugo status agents`."""

import signal
from typing import Any

from sugo.cli.context import FAILED, OK, Context
from sugo.cli.output import CliError, fmt_value
from sugo.errors import SugoError


def cmd_agent(ctx: Context) -> int:
    from sugo.agent.main import run_agent

    args = ctx.args
    try:
        return run_agent(
            daemon=args.daemon, name=args.name, appdir=ctx.appdir,
            alive_timeout=args.alive_timeout, overwrite=args.overwrite, out=ctx.out,
            install_signals=_install_signals,
        )  # fmt: skip
    except SugoError as e:
        raise CliError(str(e), FAILED) from None


def _install_signals(stop: Any) -> None:
    # Ctrl-C is KeyboardInterrupt everywhere; a termination request (SIGTERM
    # on Unix, Ctrl-Break on Windows) is a clean stop too.
    for name in ("SIGTERM", "SIGBREAK"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, lambda *_: stop.set())


def cmd_status_agents(ctx: Context) -> int:
    from sugo.protocol.wire import to_builtins

    agents = ctx.client().agents()
    if ctx.out.json_mode:
        ctx.out.json(to_builtins(agents))
        return OK
    styles = {"alive": "green", "lost": "red", "removed": "dim"}
    ctx.out.table(
        ["AGENT", "STATE", "ADDRESS", "LAST HEARTBEAT", "TIMEOUT", "IDENTITY", "DEVICES"],
        [
            [
                a.name,
                (a.state, styles.get(a.state, "")),
                a.address,
                _ago(a.last_heartbeat),
                f"{a.alive_timeout:g} s",
                a.identity[:12],
                ", ".join(a.devices) or "-",
            ]
            for a in agents
        ],
    )
    return OK


def _ago(when: float | None) -> str:
    import time

    if when is None:
        return fmt_value(None)
    return f"{max(0.0, time.time() - when):.1f} s ago"
