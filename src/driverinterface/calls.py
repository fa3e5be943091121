"""How a verb names its component and its task.

Drivers are called both as the seed interface writes it (`key=(address,
channel)`, `task_start(key, task)`) and as sugo's host calls them (`address,
channel` as keywords, `task_start(task, address, channel)`); these helpers
turn either into one `(address, channel)` key and a validated Task.
"""

from typing import Any

from pydantic import ValidationError

from sugo.driverinterface.task import Task

Key = tuple[str, str]
"""A component: `(address, channel)`."""


def component_name(address: str, channel: str) -> str:
    """The component as "(address,channel)", for messages."""
    return f"({address},{channel})"


def one_line(e: BaseException) -> str:
    """An exception as one line: its type and message."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def component_key(
    key: Key | str | None, channel: str | None = None, kw: dict[str, Any] | None = None
) -> Key:
    """The component a verb is about, however the caller named it: the seed
    interface's `key=(address, channel)`, or sugo's `address, channel` (as
    positional arguments after the verb's own, or as keywords)."""
    if key is None and channel is not None and kw:  # the host's call: the fast path
        address = kw.pop("address", None)
        if address is not None:
            return (str(address), str(channel))
    if isinstance(key, tuple | list):
        if len(key) != 2:
            raise TypeError(f"a component key is (address, channel), not {key!r}")
        return (str(key[0]), str(key[1]))
    kw = kw if kw is not None else {}
    address = key if key is not None else kw.pop("address", None)
    if channel is None:
        channel = kw.pop("channel", None)
    if address is None or channel is None:
        raise TypeError("name the component: key=(address, channel), or address and channel")
    return (str(address), str(channel))


def task_args(key: Any, task: Any, channel: str | None, kw: dict[str, Any]) -> tuple[Key, Any]:
    """`(key, task)` as the seed interface passes them, or sugo's
    `(task, address, channel)`."""
    if task is None and "task" in kw:
        task = kw.pop("task")
    if key is not None and not isinstance(key, tuple | list | str):  # sugo's order
        if task is not None:
            key, task = task, key
        else:
            key, task = None, key
    return component_key(key, channel, kw), task


def parse_task(task: Task | dict[str, Any]) -> Task:
    """`task` as a Task; ValueError listing every invalid field."""
    if isinstance(task, Task):
        return task
    try:
        return Task.model_validate(task)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'task'}: {err['msg']}" for err in e.errors()
        )
        raise ValueError(f"invalid task: {problems}") from None
