"""The store's record files (``job.json``, ``tasks.json``, ``pipelines.json``),
written off the daemon's loop thread.

Each change the store commits rewrites a record file (the durable copy a lost
database is rebuilt from, `sugo.daemon.store.jobrecords`). A rewrite is a
file create and a rename over the old one: 0.2-2 ms each, several per job,
which a burst of 64 jobs felt on the loop. The daemon's store hands them to a
thread of their own; each is the whole file, so newer content for a path
replaces content not yet written. The database has every change at once; a
record lags it by milliseconds, and a clean stop writes every record before
the store closes. Outside the daemon (``sugo db rebuild``, tests) records are
written at once.
"""

import logging
import threading
from pathlib import Path

from sugo.daemon.store.jobrecords import write_record

log = logging.getLogger(__name__)

FLUSH_TIMEOUT = 30.0  # a close waits this long for the records still to write


class RecordWriter:
    def __init__(self, background: bool) -> None:
        self.background = background
        self._pending: dict[Path, bytes] = {}  # in order of first change
        self._cond = threading.Condition()
        self._writing = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def write(self, path: Path, data: bytes) -> None:
        """Replace the record ``path`` with ``data``: now, or soon in the
        background (any thread)."""
        if not self.background:
            write_record(path, data)
            return
        with self._cond:
            if self._closed:  # (after a close: written at once, as outside the daemon)
                write_record(path, data)
                return
            self._pending[path] = data
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="records", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float = FLUSH_TIMEOUT) -> bool:
        """Wait until every record handed over is written; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._writing, timeout)

    def close(self) -> None:
        """Write what is pending, then stop the thread (idempotent)."""
        if not self.flush():
            log.warning("records not all written within %g s: %s", FLUSH_TIMEOUT,
                        ", ".join(str(p) for p in self._pending))  # fmt: skip
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5.0)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return  # closed
                path = next(iter(self._pending))
                data = self._pending.pop(path)
                self._writing = True
            try:
                write_record(path, data)
            except Exception:  # (write_record logs OSError; anything else must not stop us)
                log.exception("cannot write %s", path)
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()
