"""A driver host started by an agent: `python -m sugo.agent.child HOST-ARGS`.

The host itself (sugo.driverinterface.host), plus one portable tie to the
agent: its stdin is a pipe from the agent, and when that pipe closes (the
agent stopped, or died) the host ends at once. No signals, sessions or
parent-death settings, which Windows lacks.
"""

import sys
import threading

from sugo.driverinterface.host import exit_now, main


def _exit_with_agent() -> None:
    try:
        while sys.stdin.buffer.read(1):
            pass
    except (OSError, ValueError):
        pass
    exit_now(0)


if __name__ == "__main__":
    threading.Thread(target=_exit_with_agent, name="agent-tie", daemon=True).start()
    exit_now(main(sys.argv[1:]))
