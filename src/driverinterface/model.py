"""ModelInterface: a driver's verbs over its registered components.

Every verb returns a Reply and never raises. Verbs may be called from many
threads at once (one per component): `devmap` is guarded by a lock that is
never held while driver code runs, so a slow component delays only itself.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import ValidationError

from sugo.driverinterface.attr import is_quantity
from sugo.driverinterface.device import DeviceManager as BaseDeviceManager
from sugo.driverinterface.reply import Reply
from sugo.driverinterface.settings import Setting
from sugo.driverinterface.task import Task

logger = logging.getLogger(__name__)

UTS_UNITS = "seconds since 1970-01-01T00:00:00Z"
"""CF units of the `uts` coordinate (unix seconds)."""


Key = tuple[str, str]
"""A component: `(address, channel)`."""


def _name(address: str, channel: str) -> str:
    return f"({address},{channel})"


def one_line(e: BaseException) -> str:
    """An exception as one line: its type and message."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


_one_line = one_line


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


def _task_args(key: Any, task: Any, channel: str | None, kw: dict[str, Any]) -> tuple[Key, Any]:
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


def _parse_task(task: Task | dict[str, Any]) -> Task:
    if isinstance(task, Task):
        return task
    try:
        return Task.model_validate(task)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'task'}: {err['msg']}" for err in e.errors()
        )
        raise ValueError(f"invalid task: {problems}") from None


class ModelInterface:
    """The base of every driver: subclasses set `DeviceManager` to their
    DeviceManager subclass. `settings` holds the driver's settings (from
    settings.toml) for its DeviceManagers to read."""

    DeviceManager: ClassVar[type[BaseDeviceManager]] = BaseDeviceManager  # type: ignore[type-abstract]
    """The DeviceManager class of the driver's components; drivers subclass it
    (also as `class DeviceManager(ModelInterface.DeviceManager)`, as the seed
    interface writes it)."""
    settings_spec: ClassVar[dict[str, Setting]] = {}
    """The settings this driver accepts (see `sugo.driverinterface.settings`);
    empty means "not declared": anything is passed through."""
    version: ClassVar[str] = "1.0"
    """The driver interface version (the seed interface's); the loader checks it."""
    reset_timeout: ClassVar[float] = 60.0
    """How long `reset` waits for all components."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self.settings: dict[str, Any] = dict(settings) if settings is not None else {}
        self.devmap: dict[tuple[str, str], BaseDeviceManager] = {}
        self._lock = threading.Lock()
        self._registering: set[tuple[str, str]] = set()
        self.constants: dict[str, Any] = {}
        """Driver-wide constant metadata (tomato 2.1); merged with each component's."""
        self._last: dict[Key, dict[str, Any]] = {}  # the last point handed out, per component

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A driver that overrides `task_data` or `task_stop` (as the seed
        interface allows) gets column verbs that call its override, so the
        driver host, which serves the column verbs, honours it."""
        super().__init_subclass__(**kwargs)
        base = ModelInterface
        if cls.task_data is not base.task_data and cls.task_data_columns is base.task_data_columns:
            cls.task_data_columns = base._data_via_task_data  # type: ignore[method-assign]
        if cls.task_stop is not base.task_stop and cls.task_stop_columns is base.task_stop_columns:
            cls.task_stop_columns = base._stop_via_task_stop  # type: ignore[method-assign]

    def CreateDeviceManager(self, key: tuple[str, str], **kwargs: Any) -> BaseDeviceManager:
        """Build the DeviceManager of component `key` for this driver."""
        return self.DeviceManager(self, key, **kwargs)

    # ----- plumbing ----------------------------------------------------------------

    def before_verb(self, verb: str, dm: BaseDeviceManager) -> None:
        """Hook run before each component verb (a test driver uses it to hang)."""

    def _get(self, key: Key) -> BaseDeviceManager | None:
        with self._lock:
            return self.devmap.get(key)

    def _unknown(self, address: str, channel: str) -> Reply:
        with self._lock:
            known = ", ".join(_name(*k) for k in sorted(self.devmap)) or "none"
        return Reply(
            False,
            f"unknown component {_name(address, channel)} (registered: {known})",
        )

    def _call(
        self,
        verb: str,
        key: Key,
        action: Callable[[BaseDeviceManager], Reply],
    ) -> Reply:
        """Look the component up, run `action` on it, turn errors into Replies."""
        dm = self._get(key)
        if dm is None:
            return self._unknown(*key)
        try:
            self.before_verb(verb, dm)
            return action(dm)
        except ValueError as e:
            # validation failures already name the attr and the problem
            return Reply(False, " ".join(str(e).split()) or type(e).__name__)
        except Exception as e:
            dm.log.exception("%s failed", verb)
            return Reply(False, f"{verb} failed on component {dm.name}: {_one_line(e)}")

    # ----- components --------------------------------------------------------------

    def dev_register(self, address: str, channel: str, **kwargs: Any) -> Reply:
        """Create the DeviceManager of `(address, channel)`; idempotent.
        Reply data: the component's capabilities (sorted list)."""
        key = (str(address), str(channel))
        name = _name(*key)
        with self._lock:
            dm = self.devmap.get(key)
            busy = key in self._registering
            if dm is None and not busy:
                self._registering.add(key)
        if dm is not None:
            return self._capabilities_reply(dm, f"component {name} already registered")
        if busy:
            return Reply(False, f"component {name} is being registered by another request")
        try:
            dm = self.CreateDeviceManager(key, **kwargs)
        except Exception as e:
            with self._lock:
                self._registering.discard(key)
            logger.exception("registering component %s failed", name)
            return Reply(False, f"registering component {name} failed: {_one_line(e)}")
        with self._lock:
            self._registering.discard(key)
            self.devmap[key] = dm
        dm.log.info("registered")
        return self._capabilities_reply(dm, f"component {name} registered")

    def _capabilities_reply(self, dm: BaseDeviceManager, msg: str) -> Reply:
        try:
            return Reply(True, msg, sorted(dm.capabilities()))
        except Exception as e:
            return Reply(False, f"capabilities failed on component {dm.name}: {_one_line(e)}")

    def dev_teardown(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """Reset the component to its safe state, stop its worker, forget it."""
        key = component_key(key, channel, kw)
        with self._lock:
            dm = self.devmap.pop(key, None)
        if dm is None:
            return self._unknown(*key)
        msgs = []
        try:
            dm.reset()
        except Exception as e:
            dm.log.exception("reset failed during teardown")
            msgs.append(f"reset failed: {_one_line(e)}")
        if not dm.teardown():
            msgs.append("worker thread did not end")
        if msgs:
            return Reply(False, f"component {dm.name} torn down with problems: {'; '.join(msgs)}")
        return Reply(True, f"component {dm.name} torn down")

    def dev_reset(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """Stop the task, drop queued ones, clear data, restore attr defaults."""

        def action(dm: BaseDeviceManager) -> Reply:
            dm.reset()
            return Reply(True, f"component {dm.name} reset")

        return self._call("dev_reset", component_key(key, channel, kw), action)

    def dev_set_attr(
        self,
        attr: str,
        val: Any,
        key: Key | str | None = None,
        channel: str | None = None,
        **kw: Any,
    ) -> Reply:
        """Validate `val` with the attr's spec and set it. Data: the value set."""

        def action(dm: BaseDeviceManager) -> Reply:
            value = dm.check_attr(attr, val)
            dm.set_attr(attr, value)
            shown = _show(value)
            return Reply(True, f"attr {attr!r} of component {dm.name} set to {shown}", value)

        return self._call("dev_set_attr", component_key(key, channel, kw), action)

    def dev_get_attr(
        self, attr: str, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """The value of `attr` (a pint Quantity for attrs with units)."""

        def action(dm: BaseDeviceManager) -> Reply:
            if attr not in dm.attrs():
                known = ", ".join(sorted(dm.attrs()))
                return Reply(
                    False, f"unknown attr {attr!r} for component {dm.name} (known: {known})"
                )
            value = dm.get_attr(attr)
            return Reply(True, f"attr {attr!r} of component {dm.name} is {_show(value)}", value)

        return self._call("dev_get_attr", component_key(key, channel, kw), action)

    def dev_status(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """Runtime status plus the values of attrs marked `status=True`."""

        def action(dm: BaseDeviceManager) -> Reply:
            data = dm.task_state()
            report = dm.status()  # the status attrs (and the runtime state again)
            data["attrs"] = {k: v for k, v in report.items() if k not in data}
            data["health"] = dm.health.snapshot(running=data["running"])
            state = "running" if data["running"] else "idle"
            return Reply(True, f"component {dm.name} is {state}", data)

        return self._call("dev_status", component_key(key, channel, kw), action)

    def dev_ping(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """Check the instrument without a task; data: its health record
        (code, label, text, errors, properties)."""

        def action(dm: BaseDeviceManager) -> Reply:
            health = dm.check_health()
            return Reply(True, f"component {dm.name}: {health['label']}", health)

        return self._call("dev_ping", component_key(key, channel, kw), action)

    def capabilities(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """The techniques of the component (sorted list)."""
        return self._call(
            "capabilities",
            component_key(key, channel, kw),
            lambda dm: self._capabilities_reply(dm, f"capabilities of component {dm.name}"),
        )

    def attrs(self, key: Key | str | None = None, channel: str | None = None, **kw: Any) -> Reply:
        """The Attrs of the component (dict name → Attr; `Attr.describe()` for the wire)."""
        return self._call(
            "attrs",
            component_key(key, channel, kw),
            lambda dm: Reply(True, f"attrs of component {dm.name}", dm.attrs()),
        )

    def dev_constants(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """The driver's and the component's constants (`constants` dicts)."""

        def action(dm: BaseDeviceManager) -> Reply:
            data = {**self.constants, **getattr(dm, "constants", {})}
            return Reply(True, f"constants of component {dm.name}", data)

        return self._call("dev_constants", component_key(key, channel, kw), action)

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
            return Reply(True, f"no data on component {_name(*k)} yet", None)
        return Reply(True, f"last point of component {_name(*k)}", last)

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

        def action(dm: BaseDeviceManager) -> Reply:
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
        key, task = _task_args(key, task, channel, kw)

        def action(dm: BaseDeviceManager) -> Reply:
            parsed = _parse_task(task)
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
        key, task = _task_args(key, task, channel, kw)

        def action(dm: BaseDeviceManager) -> Reply:
            parsed = _parse_task(task)
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

        def action(dm: BaseDeviceManager) -> Reply:
            data = dm.task_state()
            data["can_submit"] = not data["running"]
            return Reply(True, "running" if data["running"] else "ready", data)

        return self._call("task_status", component_key(key, channel, kw), action)

    def task_stop(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """Stop the current task; data: what it recorded so far (as `task_data`)."""
        reply = ModelInterface.task_stop_columns(self, component_key(key, channel, kw))
        return self._columns_to_dataset(reply)

    def task_stop_columns(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """`task_stop` with the data as plain columns (see `task_data_columns`).
        The keyword ``force``: stop the sampling loop even if the driver's
        `stop_task` does not (`DeviceManager.abort_task`); ``timeout``: how long
        to wait for the task to end (default: the DeviceManager's `stop_timeout`)."""
        force = bool(kw.pop("force", False))
        timeout: float | None = kw.pop("timeout", None)

        def action(dm: BaseDeviceManager) -> Reply:
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
        reply = ModelInterface.task_data_columns(self, component_key(key, channel, kw))
        return self._columns_to_dataset(reply)

    def task_data_columns(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """The cached points as `{"columns": {name: list}, "units": {name: str}}`
        (both empty when there are none); the cache is cleared. Needs no xarray."""

        def action(dm: BaseDeviceManager) -> Reply:
            data = self._columns(dm)
            n = len(data["columns"].get("uts", ()))
            return Reply(True, f"{n} new points on component {dm.name}", data)

        return self._call("task_data", component_key(key, channel, kw), action)

    def _data_via_task_data(self, key: Key | str | None = None, channel: str | None = None,
                            **kw: Any) -> Reply:  # fmt: skip
        """`task_data_columns` of a driver that overrides `task_data`."""
        return self._override_columns(self.task_data(component_key(key, channel, kw)))

    def _stop_via_task_stop(self, key: Key | str | None = None, channel: str | None = None,
                            **kw: Any) -> Reply:  # fmt: skip
        """`task_stop_columns` of a driver that overrides `task_stop`."""
        return self._override_columns(self.task_stop(component_key(key, channel, kw)))

    @staticmethod
    def _override_columns(reply: Reply) -> Reply:
        """A driver's own task_data/task_stop reply as columns: its data may be
        None, a Dataset on `uts`, or the raw `dict[str, list]` cache."""
        from sugo.driverinterface.dataset import to_columns

        if not isinstance(reply, Reply):
            return Reply(False, f"the driver returned {type(reply).__name__}, not a Reply")
        data = reply.data
        if not reply.success or data is None:
            return Reply(reply.success, reply.msg, {"columns": {}, "units": {}})
        try:
            if isinstance(data, dict):
                if "columns" in data:
                    return reply
                columns = {k: list(v) for k, v in data.items()}
                cols = {"columns": columns, "units": {"uts": UTS_UNITS}} if columns else {}
                return Reply(True, reply.msg, cols or {"columns": {}, "units": {}})
            return Reply(True, reply.msg, to_columns(data))
        except Exception as e:
            return Reply(False, f"cannot read the driver's task data: {one_line(e)}")

    def _columns(self, dm: BaseDeviceManager) -> dict[str, Any]:
        raw = dm.get_data()
        if not raw.get("uts"):
            return {"columns": {}, "units": {}}
        declared = dm.variable_units()
        units = {"uts": UTS_UNITS}
        columns: dict[str, list[Any]] = {}
        for name, values in raw.items():
            unit = declared.get(name) if name != "uts" else None
            columns[name] = (
                [_magnitude(v, unit) for v in values] if _has_quantity(values) else values
            )
            if unit:
                units[name] = unit
        out: dict[str, Any] = {"columns": columns, "units": units}
        dims = dm.variable_dims()
        if dims:  # array quantities with named dimensions (and maybe coordinates)
            out["dims"] = dims
            coords = dm.variable_coords()
            if coords:
                out["coords"] = coords
                units.update((d, u) for d, u in declared.items() if d in coords and u)
        last = {"columns": {n: v[-1:] for n, v in columns.items()}, "units": units}
        with self._lock:
            self._last[dm.key] = last
        return out

    @staticmethod
    def _columns_to_dataset(reply: Reply) -> Reply:
        if not reply.success:
            return reply
        if not reply.data["columns"]:
            return Reply(True, reply.msg, None)
        from sugo.driverinterface.dataset import to_dataset

        try:
            data = reply.data
            ds = to_dataset(data["columns"], data["units"], data.get("dims"), data.get("coords"))
        except Exception as e:
            return Reply(False, f"cannot build a dataset: {_one_line(e)}")
        return Reply(True, reply.msg, ds)

    # ----- the whole driver --------------------------------------------------------

    def status(self) -> Reply:
        """Status of every component: data `{"components": [{address, channel, ...}]}`."""
        with self._lock:
            items = sorted(self.devmap.items())
        comps = []
        for (address, channel), dm in items:
            try:
                comps.append({"address": address, "channel": channel, **dm.task_state()})
            except Exception as e:
                comps.append({"address": address, "channel": channel, "error": _one_line(e)})
        return Reply(True, f"driver running with {len(comps)} components", {"components": comps})

    def reset(self) -> Reply:
        """Reset every component, concurrently (resets can be slow)."""
        with self._lock:
            keys = sorted(self.devmap)
        replies: dict[tuple[str, str], Reply] = {}

        def one(key: tuple[str, str]) -> None:
            replies[key] = self.dev_reset(key)

        threads = [threading.Thread(target=one, args=(k,), daemon=True) for k in keys]
        for t in threads:
            t.start()
        deadline = time.monotonic() + self.reset_timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        failed = [f"{_name(*k)}: {r.msg}" for k, r in replies.items() if not r.success]
        failed += [f"{_name(*k)}: still resetting" for k in keys if k not in replies]
        if failed:
            return Reply(False, f"reset failed on {len(failed)} components: {'; '.join(failed)}")
        return Reply(True, f"{len(keys)} components reset")


def _has_quantity(values: list[Any]) -> bool:
    return any(is_quantity(v) for v in values)


def _magnitude(value: Any, unit: str | None) -> Any:
    if not is_quantity(value):
        return value
    return float((value.to(unit) if unit else value).magnitude)


def _show(value: Any) -> str:
    return f"{value:~}" if is_quantity(value) else repr(value)
