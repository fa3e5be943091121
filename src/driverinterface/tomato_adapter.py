"""Run a tomato 2.x driver package (`tomato_<name>`) unchanged in a sugo driver host.

`adapt(name, cls)` wraps the package's `DriverInterface` (a subclass of
tomato's ModelInterface, driver interface 2.0 or 2.1) in a class with the verbs
the driver host serves. The tomato driver keeps its own worker threads and
sampling loop (`ModelDevice.task_runner`, `do_task`, `do_measure`); the
adapter only translates:

- verbs: `dev_*` → `cmp_*`, `task_*` → `task_*` with `key=(address, channel)`;
- tasks: sugo's task dict → tomato's `Task` model;
- data: the `xarray.Dataset` of `task_data` / `task_stop` / `cmp_last_data` →
  the plain columns and units of sugo's chunks (variables and units as the
  driver recorded them);
- replies: tomato's `Reply` → sugo's; errors a tomato verb raises (including
  the `SystemExit` its `log_errors` raises for unexpected ones) → a failed
  Reply naming the component, so one bad call never takes the host down.

tomato is imported only here, and only in a driver host that runs such a
driver: the daemon and the CLI never import it.
"""

import logging
import threading
import time
from typing import Any, ClassVar

from sugo.driverinterface.calls import Key, component_key, component_name, one_line
from sugo.driverinterface.dataset import to_columns
from sugo.driverinterface.health import StatusCode
from sugo.driverinterface.model import ModelInterface
from sugo.driverinterface.reply import Reply
from sugo.driverinterface.tomato_state import ComponentState, is_running, thread_errors
from sugo.driverinterface.tomato_translate import describe, task_call, to_tomato_task

log = logging.getLogger(__name__)

#: tomato driver interface versions this adapter serves.
TOMATO_VERSIONS = ("2.0", "2.1")
MEASURE_TIMEOUT = 30.0
_TOMATO_LOGGERS = ("tomato.driverinterface_2_0", "tomato.driverinterface_2_1")


class TomatoDriver(ModelInterface):
    """Serves one tomato `DriverInterface` through sugo's verbs."""

    tomato_class: ClassVar[Any]
    """The package's DriverInterface class."""
    source: ClassVar[str] = ""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__(settings)
        self.tomato = self.tomato_class(self.settings)
        # The host reads devmap (how many components, which keys): tomato's own.
        self.devmap = self.tomato.devmap
        self.constants = getattr(self.tomato, "constants", {})
        self._states: dict[Key, ComponentState] = {}
        # tomato measures idle components every `idle_measurement_interval` s
        # (2.1), so that their last data stays current between tasks.
        interval = getattr(self.tomato, "idle_measurement_interval", None)
        if interval:
            threading.Thread(
                target=self._idle_measurements, args=(float(interval),), daemon=True,
                name="tomato-idle-measure",
            ).start()  # fmt: skip

    def _idle_measurements(self, interval: float) -> None:
        while True:
            time.sleep(interval)  # the driver's own period, as tomato keeps it
            for key, dev in list(self.tomato.devmap.items()):
                if dev.running or dev.task_list.unfinished_tasks or not dev.thread.is_alive():
                    continue
                try:
                    self.tomato.cmp_measure(key=key)
                except (Exception, SystemExit) as e:
                    log.warning("component %s: idle measurement failed: %s", key, e)

    # ----- plumbing ----------------------------------------------------------------

    def _state(self, key: Key) -> ComponentState:
        with self._lock:
            return self._states.setdefault(key, ComponentState())

    def _tomato(self, verb: str, key: Key | None, **kwargs: Any) -> Reply:
        """Call tomato verb `verb`; any exception becomes a failed Reply."""
        name = "driver" if key is None else f"component ({key[0]},{key[1]})"
        if key is not None:
            if key not in self.tomato.devmap:
                return self._unknown(*key)
            kwargs["key"] = key
        try:
            reply = getattr(self.tomato, verb)(**kwargs)
        except (Exception, SystemExit) as e:
            cause = e.code if isinstance(e, SystemExit) and e.code is not None else e
            log.exception("%s: tomato %s failed", name, verb)
            text = one_line(cause) if isinstance(cause, BaseException) else str(cause)
            return Reply(False, f"{verb} failed on {name}: {text}")
        return Reply(bool(reply.success), str(reply.msg), reply.data)

    def _device(self, key: Key) -> Any:
        return self.tomato.devmap.get(key)

    # ----- components --------------------------------------------------------------

    def dev_register(self, address: str, channel: str, **kwargs: Any) -> Reply:
        key = (str(address), str(channel))
        if key in self.tomato.devmap:  # tomato would replace it (and leak its thread)
            return self.capabilities(key)
        reply = self._tomato("cmp_register", None, address=key[0], channel=key[1], **kwargs)
        if not reply.success:
            return reply
        self._state(key)
        return Reply(True, f"component ({key[0]},{key[1]}) registered", sorted(reply.data or ()))

    def dev_teardown(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        k = component_key(key, channel, kw)
        reply = self._tomato("cmp_teardown", k)
        with self._lock:
            self._states.pop(k, None)
        return reply

    def dev_reset(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        k = component_key(key, channel, kw)
        reply = self._tomato("cmp_reset", k)
        if reply.success:
            self._state(k).thread = None
        return reply

    def dev_set_attr(
        self, attr: str, val: Any, key: Key | str | None = None, channel: str | None = None,
        **kw: Any,
    ) -> Reply:  # fmt: skip
        return self._tomato("cmp_set_attr", component_key(key, channel, kw), attr=attr, val=val)

    def dev_get_attr(
        self, attr: str, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        return self._tomato("cmp_get_attr", component_key(key, channel, kw), attr=attr)

    def dev_status(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        k = component_key(key, channel, kw)
        reply = self._tomato("cmp_status", k)
        if not reply.success:
            return reply
        attrs = {a: v for a, v in dict(reply.data or {}).items() if a != "running"}
        data = self._runtime(k)
        data["attrs"] = attrs
        data["health"] = self._state(k).health.snapshot(running=data["running"])
        return Reply(True, reply.msg, data)

    def dev_ping(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """tomato drivers have no ping: a component answers while its worker
        thread lives (it ends when `do_task` raises)."""
        k = component_key(key, channel, kw)
        dev = self._device(k)
        if dev is None:
            return self._unknown(*k)
        health = self._state(k).health
        error = self._thread_error(k, dev)
        if error:
            health.set(StatusCode.DEVICE_ERROR, error)
        elif health.code == StatusCode.DEVICE_ERROR:
            health.set(StatusCode.CONNECTED)
        snap = health.snapshot(running=is_running(dev))
        return Reply(True, f"component {component_name(*k)}: {snap['label']}", snap)

    def capabilities(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        reply = self._tomato("cmp_capabilities", component_key(key, channel, kw))
        return Reply(True, reply.msg, sorted(reply.data or ())) if reply.success else reply

    def attrs(self, key: Key | str | None = None, channel: str | None = None, **kw: Any) -> Reply:
        reply = self._tomato("cmp_attrs", component_key(key, channel, kw))
        if not reply.success:
            return reply
        return Reply(True, reply.msg, {n: describe(a) for n, a in (reply.data or {}).items()})

    def dev_constants(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """The driver's and the component's constants (tomato 2.1 `cmp_constants`)."""
        return self._tomato("cmp_constants", component_key(key, channel, kw))

    def dev_last_data(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """The last point the component took, as columns (None when there is none)."""
        k = component_key(key, channel, kw)
        dev = self._device(k)
        if dev is None:
            return self._unknown(*k)
        name = component_name(*k)
        try:
            ds = dev.get_last_data()
        except Exception as e:
            return Reply(False, f"last data failed on component {name}: {one_line(e)}")
        if ds is None:
            return Reply(True, f"no data on component {name} yet", None)
        return Reply(True, f"last point of component {name}", to_columns(ds))

    def dev_measure(
        self,
        key: Key | str | None = None,
        channel: str | None = None,
        technique: str | None = None,
        **kw: Any,
    ) -> Reply:
        """One measurement (`cmp_measure`, the driver's `do_measure`), waited
        for; data: the point as columns. `technique` is not used: tomato
        drivers measure as they are configured."""
        k = component_key(key, channel, kw)
        dev = self._device(k)
        if dev is None:
            return self._unknown(*k)
        before = dev.last_data
        reply = self._tomato("cmp_measure", k)
        if not reply.success:
            return reply
        name = component_name(*k)
        deadline = time.monotonic() + MEASURE_TIMEOUT
        while dev.last_data is before or dev.task_list.unfinished_tasks:
            error = self._thread_error(k, dev)
            if error:
                return Reply(False, f"measure failed on component {name}: {error}")
            if time.monotonic() > deadline:
                return Reply(False, f"measure on component {name} took too long")
            time.sleep(0.01)  # tomato's worker signals nothing: poll its result
        return Reply(True, f"measured on component {name}", to_columns(dev.last_data))

    # ----- tasks -------------------------------------------------------------------

    def task_validate(
        self, key: Any = None, task: Any = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        k, spec = task_call(key, task, channel, kw)
        try:
            ttask = to_tomato_task(spec)
        except ValueError as e:
            return Reply(False, str(e))
        reply = self._tomato("task_validate", k, task=ttask)
        what = f"task {ttask.technique_name!r}"
        if reply.success:
            return Reply(True, f"{what} valid on component {component_name(*k)}")
        return Reply(False, f"{what} refused by component {component_name(*k)}: {reply.msg}")

    def task_start(
        self, key: Any = None, task: Any = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        k, spec = task_call(key, task, channel, kw)
        try:
            ttask = to_tomato_task(spec)
        except ValueError as e:
            return Reply(False, str(e))
        reply = self._tomato("task_start", k, task=ttask)
        if not reply.success:
            return reply
        state = self._state(k)
        label = ttask.task_name or ttask.technique_name
        state.task_started(ttask.technique_name, label, time.time(), self._device(k))
        data = {"task": ttask.model_dump(mode="json"), "seq": state.finished + 1}
        return Reply(
            True, f"task {ttask.technique_name!r} queued on component {component_name(*k)}", data
        )

    def task_status(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        k = component_key(key, channel, kw)
        if self._device(k) is None:
            return self._unknown(*k)
        data = self._runtime(k)
        data["can_submit"] = not data["running"]
        return Reply(True, "running" if data["running"] else "ready", data)

    def task_data_columns(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        k = component_key(key, channel, kw)
        reply = self._tomato("task_data", k)
        return self._columns_reply(k, reply)

    def task_stop_columns(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        k = component_key(key, channel, kw)
        reply = self._tomato("task_stop", k)
        return self._columns_reply(k, reply)

    def task_data(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        """tomato's own reply: the Dataset (None when there is no new point)."""
        k = component_key(key, channel, kw)
        reply = self._tomato("task_data", k)
        if reply.data is not None:
            self._count(k, reply.data)
        return Reply(True, reply.msg, reply.data) if reply.data is None else reply

    def task_stop(
        self, key: Key | str | None = None, channel: str | None = None, **kw: Any
    ) -> Reply:
        k = component_key(key, channel, kw)
        reply = self._tomato("task_stop", k)
        if reply.success and reply.data is not None:
            self._count(k, reply.data)
        return reply

    def _columns_reply(self, key: Key, reply: Reply) -> Reply:
        # tomato says success=False for "no new points": that is not a failure here.
        if reply.data is None:
            if reply.success or (key in self.tomato.devmap and "no new" in reply.msg):
                return Reply(True, reply.msg, {"columns": {}, "units": {}})
            return reply
        self._count(key, reply.data)
        try:
            return Reply(True, reply.msg, to_columns(reply.data))
        except Exception as e:
            return Reply(False, f"component {key}: cannot read the driver's data: {one_line(e)}")

    def _count(self, key: Key, ds: Any) -> None:
        self._state(key).count(ds)

    # ----- runtime state (kept in tomato_state.ComponentState) -------------------

    def _thread_error(self, key: Key, dev: Any) -> str | None:
        return self._state(key).thread_error(dev)

    def _runtime(self, key: Key) -> dict[str, Any]:
        return self._state(key).runtime(self._device(key))

    # ----- the whole driver --------------------------------------------------------

    def status(self) -> Reply:
        comps = []
        for address, channel in sorted(self.tomato.devmap):
            comps.append(
                {"address": address, "channel": channel, **self._runtime((address, channel))}
            )
        return Reply(True, f"driver running with {len(comps)} components", {"components": comps})

    def reset(self) -> Reply:
        """Reset every component (tomato's own `reset` is for quitting: it
        leaves the components without a worker thread)."""
        failed = [
            f"{component_name(*k)}: {r.msg}"
            for k in sorted(self.tomato.devmap)
            if not (r := self.dev_reset(k)).success
        ]
        if failed:
            return Reply(False, f"reset failed on {len(failed)} components: {'; '.join(failed)}")
        return Reply(True, f"{len(self.tomato.devmap)} components reset")


def adapt(name: str, cls: type) -> type[TomatoDriver]:
    """A driver-host class serving tomato driver class `cls` as driver `name`."""
    for logger_name in _TOMATO_LOGGERS:
        lg = logging.getLogger(logger_name)
        if thread_errors not in lg.handlers:
            lg.addHandler(thread_errors)
    return type(
        f"Tomato_{name}",
        (TomatoDriver,),
        {"tomato_class": cls, "__module__": __name__, "__doc__": f"tomato driver {name}"},
    )
