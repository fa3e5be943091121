"""Pieces of the tomato adapter (`sugo.driverinterface.tomato_adapter`): what
sugo keeps about a tomato component, the errors its worker threads log, and
the translation of tomato's Attrs and task arguments."""

import logging
from typing import Any

from sugo.driverinterface.attr import Attr
from sugo.driverinterface.calls import Key, component_key, one_line
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


class ComponentState:
    """What sugo reports about a component that tomato does not keep."""

    def __init__(self) -> None:
        self.technique: str | None = None
        self.task: str | None = None
        self.started_at: float | None = None
        self.points = 0
        self.finished = 0
        self.thread: Any = None  # the worker thread that took the current task
        self.health = HealthRecorder()


def task_call(key: Any, task: Any, channel: str | None, kw: dict[str, Any]) -> tuple[Key, Any]:
    """`(key, task)` as tomato calls them, or sugo's `(task, address, channel)`."""
    if task is None and "task" in kw:
        task = kw.pop("task")
    if key is not None and not isinstance(key, tuple | str):  # sugo: task first
        key, task = task, key
    return component_key(key, channel, kw), task


def describe(attr: Any) -> Attr:
    """A tomato Attr as sugo's (limits with units as text: "0.1 second")."""

    def limit(value: Any) -> Any:
        return f"{value.m} {value.u}" if hasattr(value, "m") and hasattr(value, "u") else value

    options = getattr(attr, "options", None)
    return Attr(
        type=getattr(attr, "type", object),
        rw=bool(getattr(attr, "rw", False)),
        status=bool(getattr(attr, "status", False)),
        units=getattr(attr, "units", None),
        minimum=limit(getattr(attr, "minimum", None)),
        maximum=limit(getattr(attr, "maximum", None)),
        options=None if options is None else tuple(sorted(options, key=str)),
    )
