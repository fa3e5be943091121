"""What sugo reports about a tomato component that tomato does not keep: the
task it runs, its points and finished tasks, why its worker thread ended,
and its health (part of the tomato adapter, `sugo.driverinterface.tomato_adapter`)."""

import logging
import threading
from typing import Any

from sugo.driverinterface.calls import one_line
from sugo.driverinterface.health import HealthRecorder


class ThreadErrors(logging.Handler):
    """Keeps the last error tomato's worker threads log before they end:
    `task_runner` logs an exception from `do_task` and quits its thread, and
    that log record is the only trace of why."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.by_thread: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread is None:
            return
        if record.exc_info and record.exc_info[1] is not None:
            self.by_thread[record.thread] = one_line(record.exc_info[1])
        else:
            self.by_thread.setdefault(record.thread, record.getMessage())


thread_errors = ThreadErrors()


def is_running(dev: Any) -> bool:
    """Whether tomato device ``dev`` runs or has queued a task."""
    # tomato sets `running` only once its thread took the task off the queue;
    # `unfinished_tasks` counts it from task_start until task_done().
    return bool(dev.thread.is_alive() and (dev.running or dev.task_list.unfinished_tasks))


class ComponentState:
    """sugo's bookkeeping of one tomato component (``dev``: tomato's device)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.technique: str | None = None
        self.task: str | None = None
        self.started_at: float | None = None
        self.points = 0
        self.finished = 0
        self.thread: Any = None  # the worker thread that took the current task
        self.health = HealthRecorder()

    def task_started(self, technique: str, task: str, at: float, dev: Any) -> None:
        with self._lock:
            self.technique = technique
            self.task = task
            self.started_at = at
            self.points = 0
            self.thread = None if dev is None else dev.thread

    def count(self, ds: Any) -> None:
        """Count the points of Dataset ``ds``, handed out by the driver."""
        with self._lock:
            self.points += int(ds.sizes.get("uts", 0))

    def thread_error(self, dev: Any) -> str | None:
        """Why the component's worker thread ended, if it ended by an error."""
        thread = self.thread or dev.thread
        if thread.is_alive() or thread.ident is None:
            return None
        text = thread_errors.by_thread.get(thread.ident)
        return f"the driver's task thread ended: {text}" if text else None

    def runtime(self, dev: Any) -> dict[str, Any]:
        """The runtime state sugo's verbs report (as `DeviceManager.task_state`)."""
        running = is_running(dev)
        error = None if running else self.thread_error(dev)
        with self._lock:
            if not running and self.started_at is not None and self.task is not None:
                self.finished += 1
                self.task = None
            return {
                "running": running,
                "task": self.task if running else None,
                "technique": self.technique,
                "points": self.points,
                "started_at": self.started_at,
                "error": error,
                "queued": max(0, dev.task_list.unfinished_tasks - int(bool(dev.running))),
                "finished": self.finished,
            }
