"""Translation between tomato's driver interface and sugo's (part of the
tomato adapter, `sugo.driverinterface.tomato_adapter`): task arguments,
tasks and Attrs."""

from typing import Any

from sugo.driverinterface.attr import Attr
from sugo.driverinterface.calls import Key, component_key, one_line


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


def to_tomato_task(spec: Any) -> Any:
    """sugo's task (a Task or its dict) as tomato's `Task`; ValueError if tomato refuses it."""
    from tomato.models import Task as TomatoTask

    values = spec.model_dump() if hasattr(spec, "model_dump") else dict(spec)
    known = TomatoTask.model_fields
    fields = {k: v for k, v in values.items() if k in known and v is not None}
    try:
        return TomatoTask.model_validate(fields)
    except Exception as e:
        raise ValueError(f"invalid task for a tomato driver: {one_line(e)}") from None
