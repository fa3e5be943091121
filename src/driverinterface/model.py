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


def _name(address: str, channel: str) -> str:
    return f"({address},{channel})"


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


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

    DeviceManager: ClassVar[type[BaseDeviceManager]]
    settings_spec: ClassVar[dict[str, Setting]] = {}
    """The settings this driver accepts (see `sugo.driverinterface.settings`);
    empty means "not declared": anything is passed through."""
    version: ClassVar[str] = "1.0"
    reset_timeout: ClassVar[float] = 60.0
    """How long `reset` waits for all components."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self.settings: dict[str, Any] = dict(settings) if settings is not None else {}
        self.devmap: dict[tuple[str, str], BaseDeviceManager] = {}
        self._lock = threading.Lock()
        self._registering: set[tuple[str, str]] = set()

    def CreateDeviceManager(self, key: tuple[str, str], **kwargs: Any) -> BaseDeviceManager:
        """Build the DeviceManager of component `key` for this driver."""
        return self.DeviceManager(self, key, **kwargs)

    # ----- plumbing ----------------------------------------------------------------

    def before_verb(self, verb: str, dm: BaseDeviceManager) -> None:
        """Hook run before each component verb (a test driver uses it to hang)."""

    def _get(self, address: str, channel: str) -> BaseDeviceManager | None:
        with self._lock:
            return self.devmap.get((str(address), str(channel)))

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
        address: str,
        channel: str,
        action: Callable[[BaseDeviceManager], Reply],
    ) -> Reply:
        """Look the component up, run `action` on it, turn errors into Replies."""
        dm = self._get(address, channel)
        if dm is None:
            return self._unknown(address, channel)
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

    def dev_teardown(self, address: str, channel: str) -> Reply:
        """Reset the component to its safe state, stop its worker, forget it."""
        key = (str(address), str(channel))
        with self._lock:
            dm = self.devmap.pop(key, None)
        if dm is None:
            return self._unknown(address, channel)
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

    def dev_reset(self, address: str, channel: str) -> Reply:
        """Stop the task, drop queued ones, clear data, restore attr defaults."""

        def action(dm: BaseDeviceManager) -> Reply:
            dm.reset()
            return Reply(True, f"component {dm.name} reset")

        return self._call("dev_reset", address, channel, action)

    def dev_set_attr(self, attr: str, val: Any, address: str, channel: str) -> Reply:
        """Validate `val` with the attr's spec and set it. Data: the value set."""

        def action(dm: BaseDeviceManager) -> Reply:
            value = dm.check_attr(attr, val)
            dm.set_attr(attr, value)
            shown = _show(value)
            return Reply(True, f"attr {attr!r} of component {dm.name} set to {shown}", value)

        return self._call("dev_set_attr", address, channel, action)

    def dev_get_attr(self, attr: str, address: str, channel: str) -> Reply:
        """The value of `attr` (a pint Quantity for attrs with units)."""

        def action(dm: BaseDeviceManager) -> Reply:
            if attr not in dm.attrs():
                known = ", ".join(sorted(dm.attrs()))
                return Reply(
                    False, f"unknown attr {attr!r} for component {dm.name} (known: {known})"
                )
            value = dm.get_attr(attr)
            return Reply(True, f"attr {attr!r} of component {dm.name} is {_show(value)}", value)

        return self._call("dev_get_attr", address, channel, action)

    def dev_status(self, address: str, channel: str) -> Reply:
        """Runtime status plus the values of attrs marked `status=True`."""

        def action(dm: BaseDeviceManager) -> Reply:
            data = dm.status()
            data["attrs"] = {k: dm.get_attr(k) for k, a in dm.attrs().items() if a.status}
            data["health"] = dm.health.snapshot(running=data["running"])
            state = "running" if data["running"] else "idle"
            return Reply(True, f"component {dm.name} is {state}", data)

        return self._call("dev_status", address, channel, action)

    def dev_ping(self, address: str, channel: str) -> Reply:
        """Check the instrument without a task; data: its health record
        (code, label, text, errors, properties)."""

        def action(dm: BaseDeviceManager) -> Reply:
            health = dm.check_health()
            return Reply(True, f"component {dm.name}: {health['label']}", health)

        return self._call("dev_ping", address, channel, action)

    def capabilities(self, address: str, channel: str) -> Reply:
        """The techniques of the component (sorted list)."""
        return self._call(
            "capabilities",
            address,
            channel,
            lambda dm: self._capabilities_reply(dm, f"capabilities of component {dm.name}"),
        )

    def attrs(self, address: str, channel: str) -> Reply:
        """The Attrs of the component (dict name → Attr; `Attr.describe()` for the wire)."""
        return self._call(
            "attrs",
            address,
            channel,
            lambda dm: Reply(True, f"attrs of component {dm.name}", dm.attrs()),
        )

    # ----- tasks -------------------------------------------------------------------

    def task_validate(self, task: Task | dict[str, Any], address: str, channel: str) -> Reply:
        """Whether the component could run `task`: technique known, every
        task parameter a known, writable attr with an acceptable value."""

        def action(dm: BaseDeviceManager) -> Reply:
            parsed = _parse_task(task)
            dm.validate_task(parsed)
            return Reply(True, f"task {parsed.technique_name!r} valid on component {dm.name}")

        return self._call("task_validate", address, channel, action)

    def task_start(
        self, task: Task | dict[str, Any], address: str, channel: str, *, grace: float | None = None
    ) -> Reply:
        """Validate `task` and queue it. Data: the task and its sequence number.
        ``grace``: the task watchdog's, if not the DeviceManager's `task_grace`."""

        def action(dm: BaseDeviceManager) -> Reply:
            parsed = _parse_task(task)
            dm.validate_task(parsed)
            seq = dm.submit(parsed) if grace is None else dm.submit(parsed, grace=grace)
            return Reply(
                True,
                f"task {parsed.technique_name!r} queued on component {dm.name}",
                {"task": parsed.model_dump(mode="json"), "seq": seq},
            )

        return self._call("task_start", address, channel, action)

    def task_status(self, address: str, channel: str) -> Reply:
        """Whether a task runs (`running`, `can_submit`) and its progress."""

        def action(dm: BaseDeviceManager) -> Reply:
            data = dm.status()
            data["can_submit"] = not data["running"]
            return Reply(True, "running" if data["running"] else "ready", data)

        return self._call("task_status", address, channel, action)

    def task_stop(self, address: str, channel: str) -> Reply:
        """Stop the current task; data: what it recorded so far (as `task_data`)."""
        reply = self.task_stop_columns(address, channel)
        return self._columns_to_dataset(reply)

    def task_stop_columns(
        self, address: str, channel: str, *, force: bool = False, timeout: float | None = None
    ) -> Reply:
        """`task_stop` with the data as plain columns (see `task_data_columns`).
        ``force``: stop the sampling loop even if the driver's `stop_task`
        does not (`DeviceManager.abort_task`); ``timeout``: how long to wait
        for the task to end (default: the DeviceManager's `stop_timeout`)."""

        def action(dm: BaseDeviceManager) -> Reply:
            wait = dm.stop_timeout if timeout is None else timeout
            ended = dm.abort_task(wait) if force else dm.stop_task(timeout=wait)
            data = self._columns(dm)
            state = "stopped" if ended else "asked to stop (still running)"
            return Reply(True, f"task on component {dm.name} {state}", data)

        return self._call("task_stop", address, channel, action)

    def task_data(self, address: str, channel: str) -> Reply:
        """The points cached since the last call, as an xarray Dataset on `uts`
        (data None when there are none); the cache is cleared."""
        return self._columns_to_dataset(self.task_data_columns(address, channel))

    def task_data_columns(self, address: str, channel: str) -> Reply:
        """The cached points as `{"columns": {name: list}, "units": {name: str}}`
        (both empty when there are none); the cache is cleared. Needs no xarray."""

        def action(dm: BaseDeviceManager) -> Reply:
            data = self._columns(dm)
            n = len(data["columns"].get("uts", ()))
            return Reply(True, f"{n} new points on component {dm.name}", data)

        return self._call("task_data", address, channel, action)

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
                comps.append({"address": address, "channel": channel, **dm.status()})
            except Exception as e:
                comps.append({"address": address, "channel": channel, "error": _one_line(e)})
        return Reply(True, f"driver running with {len(comps)} components", {"components": comps})

    def reset(self) -> Reply:
        """Reset every component, concurrently (resets can be slow)."""
        with self._lock:
            keys = sorted(self.devmap)
        replies: dict[tuple[str, str], Reply] = {}

        def one(key: tuple[str, str]) -> None:
            replies[key] = self.dev_reset(*key)

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
