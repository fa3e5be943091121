"""ModelInterface: a driver's verbs over its registered components.

Every verb returns a Reply and never raises. Verbs may be called from many
threads at once (one per component): `devmap` is guarded by a lock that is
never held while driver code runs, so a slow component delays only itself.

This module holds the components (register, tear down, look up, run a verb
on one) and their attr, status and health verbs; the task verbs are
`TaskVerbs` (sugo.driverinterface.task_verbs), the argument conventions
`sugo.driverinterface.calls`, the data shaping `sugo.driverinterface.columns`.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from sugo.driverinterface.calls import Key, component_key, component_name, one_line
from sugo.driverinterface.columns import UTS_UNITS, show
from sugo.driverinterface.device import DeviceManager as BaseDeviceManager
from sugo.driverinterface.reply import Reply
from sugo.driverinterface.settings import Setting
from sugo.driverinterface.task_verbs import TaskVerbs

# Also importable from here, where they were first defined.
__all__ = ["UTS_UNITS", "Key", "ModelInterface", "component_key", "one_line"]

logger = logging.getLogger(__name__)


class ModelInterface(TaskVerbs):
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
            known = ", ".join(component_name(*k) for k in sorted(self.devmap)) or "none"
        return Reply(
            False,
            f"unknown component {component_name(address, channel)} (registered: {known})",
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
            return Reply(False, f"{verb} failed on component {dm.name}: {one_line(e)}")

    # ----- components --------------------------------------------------------------

    def dev_register(self, address: str, channel: str, **kwargs: Any) -> Reply:
        """Create the DeviceManager of `(address, channel)`; idempotent.
        Reply data: the component's capabilities (sorted list)."""
        key = (str(address), str(channel))
        name = component_name(*key)
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
            return Reply(False, f"registering component {name} failed: {one_line(e)}")
        with self._lock:
            self._registering.discard(key)
            self.devmap[key] = dm
        dm.log.info("registered")
        return self._capabilities_reply(dm, f"component {name} registered")

    def _capabilities_reply(self, dm: BaseDeviceManager, msg: str) -> Reply:
        try:
            return Reply(True, msg, sorted(dm.capabilities()))
        except Exception as e:
            return Reply(False, f"capabilities failed on component {dm.name}: {one_line(e)}")

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
            msgs.append(f"reset failed: {one_line(e)}")
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
            shown = show(value)
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
            return Reply(True, f"attr {attr!r} of component {dm.name} is {show(value)}", value)

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
                comps.append({"address": address, "channel": channel, "error": one_line(e)})
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
        failed = [f"{component_name(*k)}: {r.msg}" for k, r in replies.items() if not r.success]
        failed += [f"{component_name(*k)}: still resetting" for k in keys if k not in replies]
        if failed:
            return Reply(False, f"reset failed on {len(failed)} components: {'; '.join(failed)}")
        return Reply(True, f"{len(keys)} components reset")
