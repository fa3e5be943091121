"""Logging set-up for sugo's processes: one log file per process."""

import logging
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(process)d %(name)s: %(message)s"
#: The daemon's log level, inherited by the driver hosts it starts.
LOG_LEVEL_ENV = "SUGO_LOG_LEVEL"


def inherited_level(default: str = "INFO") -> str:
    """The log level a child of the daemon should use."""
    return os.environ.get(LOG_LEVEL_ENV) or default


def setup_logging(logfile: str | Path | None, level: str = "INFO", who: str = "") -> None:
    """Send this process's log lines to ``logfile`` (stderr when None)."""
    handler: logging.Handler
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(logfile, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if who:
        logging.getLogger("sugo").debug("%s: logging to %s", who, logfile or "stderr")
