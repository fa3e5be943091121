"""Would these drivers start with these settings? Asked before a reload changes anything.

    python -m sugo.driverinterface.precheck  < {"counter": {"reset_delay": 1.0}}
    > {"counter": null}          (or the reason, one line, as the host would log it)

It does what a driver host does before it serves (`host.main`): find the
driver through its entry point, check the settings against its
`settings_spec`, and build its ModelInterface (which must not touch the
instrument: components are opened at `dev_register`). It runs as a process
of its own so that the daemon never imports driver code, and a driver that
hangs or crashes on import cannot take the daemon with it.
"""

import contextlib
import json
import sys
from typing import Any

from sugo.driverinterface.loader import load_driver
from sugo.driverinterface.settings import check_settings


def problem(driver: str, settings: dict[str, Any]) -> str | None:
    """None if ``driver`` would start with ``settings``; else why not, in one line."""
    try:
        cls = load_driver(driver)
        cls(check_settings(driver, cls.settings_spec, settings))
    except Exception as e:
        text = " ".join(str(e).split()) or type(e).__name__
        # The loader's and the settings check's messages name the driver already.
        named = text.startswith(("driver ", "unknown driver"))
        return text if named else f"driver {driver}: {text}"
    return None


def main() -> int:
    wanted: dict[str, dict[str, Any]] = json.load(sys.stdin)
    # A driver that prints while it is imported or built must not spoil the answer.
    with contextlib.redirect_stdout(sys.stderr):
        answer = {name: problem(name, settings) for name, settings in wanted.items()}
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
