"""The task verbs of a ModelInterface, and the data they hand out.

`TaskVerbs` is a part of `ModelInterface` (sugo.driverinterface.model), which
holds the components and runs a verb on one (`_call`): start, stop and watch
tasks, take their points as columns or a Dataset, measure once, and keep each
component's last point.
"""

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sugo.driverinterface.calls import Key, component_key, component_name, parse_task, task_args
from sugo.driverinterface.columns import (
    columns_to_dataset,
    last_point,
    override_columns,
    take_columns,
)
from sugo.driverinterface.device import DeviceManager
from sugo.driverinterface.reply import Reply
from sugo.driverinterface.task import Task


class TaskVerbs:
    """Task verbs over the components of a ModelInterface."""

    # Provided by ModelInterface.
    _lock: threading.Lock
    _last: dict[Key, dict[str, Any]]  # the last point handed out, per component

    if TYPE_CHECKING:

        def _get(self, key: Key) -> DeviceManager | None: ...

        def _unknown(self, address: str, channel: str) -> Reply: ...

        def _call(self, verb: str, key: Key, action: Callable[[DeviceManager], Reply]) -> Reply: ...

    def dev_last_data(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """The last point the component handed out (by a task or `dev_measure`),
        also between tasks: `{"columns": {name: [value]}, "units": {...}}`, or
        None before the first."""
        k = component_key(key, channel, kw)
        if self._get(k) is None:
            return self._unknown(*k)
        with self._lock:
            last = self._last.get(k)
        if last is None:
            return Reply(True, f"no data on component {component_name(*k)} yet", None)
        return Reply(True, f"last point of component {component_name(*k)}", last)

    def dev_measure(
        self,
        key: Key | str | None = None,
        channel: str | None = None,
        technique: str | None = None,
        **kw: Any,
    ) -> Reply:
        """One measurement now, outside any task: a one-point task of
        `technique` (default: the first capability) run at once. Refused while
        a task runs. Data: the point, as `dev_last_data` gives it."""

        def action(dm: DeviceManager) -> Reply:
            if dm.task_state()["running"]:
                return Reply(False, f"component {dm.name} is running a task")
            name = technique or sorted(dm.capabilities())[0]
            one = Task(
                component_role="measure", technique_name=name,
                max_duration=1e-3, sampling_interval=1e-3,
            )  # fmt: skip
            dm.validate_task(one)
            dm.get_data()  # nothing stale mixes into the measurement
            if not dm.wait_task(dm.submit(one), timeout=dm.stop_timeout + 5.0):
                dm.stop_task()
                return Reply(False, f"measurement on component {dm.name} did not end")
            error = dm.task_state()["error"]
            if error:
                return Reply(False, f"measurement on component {dm.name} failed: {error}")
            data = self._columns(dm)
            if not data["columns"]:
                return Reply(False, f"measurement on component {dm.name} recorded nothing")
            return Reply(True, f"measured {name!r} on component {dm.name}", data)

        return self._call("dev_measure", component_key(key, channel, kw), action)

    # ----- tasks -------------------------------------------------------------------

    def task_validate(
        self, key: Any = None, task: Any = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """Whether the component could run `task`: technique known, every
        task parameter a known, writable attr with an acceptable value.
        Called as `task_validate(key, task)` or `task_validate(task, address, channel)`."""
        key, task = task_args(key, task, channel, kw)

        def action(dm: DeviceManager) -> Reply:
            parsed = parse_task(task)
            dm.validate_task(parsed)
            return Reply(True, f"task {parsed.technique_name!r} valid on component {dm.name}")

        return self._call("task_validate", key, action)

    def task_start(
        self, key: Any = None, task: Any = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """Validate `task` and queue it. Data: the task and its sequence number.
        Called as `task_start(key, task)` (the seed interface) or
        `task_start(task, address, channel)`; the keyword ``grace`` is the task
        watchdog's, if not the DeviceManager's `task_grace`."""
        grace: float | None = kw.pop("grace", None)
        key, task = task_args(key, task, channel, kw)

        def action(dm: DeviceManager) -> Reply:
            parsed = parse_task(task)
            dm.validate_task(parsed)
            seq = dm.submit(parsed) if grace is None else dm.submit(parsed, grace=grace)
            return Reply(
                True,
                f"task {parsed.technique_name!r} queued on component {dm.name}",
                {"task": parsed.model_dump(mode="json"), "seq": seq},
            )

        return self._call("task_start", key, action)

    def task_status(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """Whether a task runs (`running`, `can_submit`) and its progress."""

        def action(dm: DeviceManager) -> Reply:
            data = dm.task_state()
            data["can_submit"] = not data["running"]
            return Reply(True, "running" if data["running"] else "ready", data)

        return self._call("task_status", component_key(key, channel, kw), action)

    def task_stop(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """Stop the current task; data: what it recorded so far (as `task_data`)."""
        reply = TaskVerbs.task_stop_columns(self, component_key(key, channel, kw))
        return columns_to_dataset(reply)

    def task_stop_columns(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """`task_stop` with the data as plain columns (see `task_data_columns`).
        The keyword ``force``: stop the sampling loop even if the driver's
        `stop_task` does not (`DeviceManager.abort_task`); ``timeout``: how long
        to wait for the task to end (default: the DeviceManager's `stop_timeout`)."""
        force = bool(kw.pop("force", False))
        timeout: float | None = kw.pop("timeout", None)

        def action(dm: DeviceManager) -> Reply:
            wait = dm.stop_timeout if timeout is None else timeout
            ended: bool | None
            ended = dm.abort_task(wait) if force else dm.stop_task(timeout=wait)
            data = self._columns(dm)
            state = "stopped" if ended else "asked to stop (still running)"
            return Reply(True, f"task on component {dm.name} {state}", data)

        return self._call("task_stop", component_key(key, channel, kw), action)

    def task_data(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """The points cached since the last call, as an xarray Dataset on `uts`
        (data None when there are none); the cache is cleared."""
        reply = TaskVerbs.task_data_columns(self, component_key(key, channel, kw))
        return columns_to_dataset(reply)

    def task_data_columns(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """The cached points as `{"columns": {name: list}, "units": {name: str}}`
        (both empty when there are none); the cache is cleared. Needs no xarray."""

        def action(dm: DeviceManager) -> Reply:
            data = self._columns(dm)
            n = len(data["columns"].get("uts", ()))
            return Reply(True, f"{n} new points on component {dm.name}", data)

        return self._call("task_data", component_key(key, channel, kw), action)

    def _data_via_task_data(self, key: Key | str | None = None, channel: str | None = None,
                            **kw: Any) -> Reply:  # fmt: skip
        """`task_data_columns` of a driver that overrides `task_data`."""
        return override_columns(self.task_data(component_key(key, channel, kw)))

    def _stop_via_task_stop(self, key: Key | str | None = None, channel: str | None = None,
                            **kw: Any) -> Reply:  # fmt: skip
        """`task_stop_columns` of a driver that overrides `task_stop`."""
        return override_columns(self.task_stop(component_key(key, channel, kw)))

    def _columns(self, dm: DeviceManager) -> dict[str, Any]:
        """Take the component's points as columns, keeping the last one for
        `dev_last_data`."""
        data = take_columns(dm)
        if data["columns"]:
            with self._lock:
                self._last[dm.key] = last_point(data)
        return data
