"""A driver host started by an agent: `python -m sugo.agent.child HOST-ARGS`.

The host itself (sugo.driverinterface.host), plus one portable tie to the
agent: its stdin is a pipe from the agent, and when that pipe closes (the
agent stopped, or died) the host ends at once. No signals, sessions or
parent-death settings, which Windows lacks.
"""

import sys

from sugo.driverinterface.host import exit_now, main
from sugo.platform.procs import exit_with_parent

if __name__ == "__main__":
    exit_with_parent(lambda: exit_now(0))
    exit_now(main(sys.argv[1:]))
