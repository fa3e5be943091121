"""DeviceManager: what a driver implements for one component, and what it
inherits: attr validation, the health helpers, the data cache, reset.

The worker thread that runs the tasks is `ComponentWorker`
(sugo.driverinterface.worker), which DeviceManager extends.
"""

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from sugo.driverinterface.attr import Attr
from sugo.driverinterface.health import HealthRecorder, StatusCode
from sugo.driverinterface.stop_flag import StopFlag
from sugo.driverinterface.task import Task
from sugo.driverinterface.worker import ComponentWorker

__all__ = ["ComponentLog", "ComponentWorker", "DeviceManager", "StopFlag"]

if TYPE_CHECKING:
    from sugo.driverinterface.model import ModelInterface

logger = logging.getLogger(__name__)


class ComponentLog(logging.LoggerAdapter):
    """Prefixes every log line with the component it is about."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return f"{self.extra['component'] if self.extra else '?'}: {msg}", kwargs


class DeviceManager(ComponentWorker, ABC):
    """Drives one component `(address, channel)` of a driver.

    A daemon worker thread takes Tasks off `task_list` in order. For each, it
    applies `task_params` through `set_attr`, then calls `do_task` at
    t0 + k·Δ for k = 1..N (N = `task.n_points`, Δ = `task.sampling_interval`),
    on an absolute monotonic schedule, until N points are taken or the task
    is stopped. `do_task` returns a dict of values (appended to `data` with
    `uts`) or None (it appended to `data` itself, `uts` included).

    Drivers implement `do_task`, `set_attr`, `get_attr`, `attrs` and
    `capabilities`; `set_attr` receives values already validated by
    `check_attr` / `Attr.coerce` when called through the ModelInterface.
    """

    stop_timeout: float = 5.0
    """How long `reset` and `teardown` wait for a stopped task to end."""

    task_grace: float = 30.0
    """The task watchdog: a task still running this many seconds after its
    `max_duration` (counted from its start, `task_params` included) is stuck
    in the driver (a hung `do_task` or instrument). It is then reported ended
    with an error, the component's status turns 330 "task hung" and it takes
    no task until the stuck call returns (or it is torn down). Set it higher
    for an instrument whose `do_task` or `set_attr` may legitimately take
    longer; `task_grace` in `[drivers.<name>]` of settings.toml overrides it."""

    def __init__(self, driver: "ModelInterface", key: tuple[str, str], **kwargs: Any) -> None:
        self.driver = driver
        self.key: tuple[str, str] = (str(key[0]), str(key[1]))
        self.kwargs = kwargs
        self.data: dict[str, list[Any]] = {}
        self.datalock = threading.RLock()
        self.constants: dict[str, Any] = {}  # constant metadata, as in tomato 2.1
        self.log = ComponentLog(logger, {"component": self.name})
        self.health = HealthRecorder()
        self._start_worker()

    @property
    def name(self) -> str:
        """The component as "(address,channel)", for messages and logs."""
        return f"({self.key[0]},{self.key[1]})"

    @property
    def points(self) -> int:
        """Points taken so far by the current (or last) task."""
        return self._points

    @property
    def technique(self) -> str | None:
        """The technique of the running task, or of the last one that ran."""
        return self._technique

    # ----- to implement in drivers -------------------------------------------------

    @abstractmethod
    def do_task(
        self, task: Task, t_start: float, t_now: float, **kwargs: Any
    ) -> dict[str, Any] | None:
        """Take one point of `task`; `t_start` is the wall time of the task's
        t0, `t_now` the wall time of this point."""

    @abstractmethod
    def set_attr(self, attr: str, val: Any, **kwargs: Any) -> None:
        """Set `attr` to `val`; raise ValueError if it is not acceptable."""

    @abstractmethod
    def get_attr(self, attr: str, **kwargs: Any) -> Any:
        """The current value of `attr`; raise ValueError for an unknown attr."""

    @abstractmethod
    def attrs(self, **kwargs: Any) -> dict[str, Attr]:
        """Every attr of this component."""

    @abstractmethod
    def capabilities(self, **kwargs: Any) -> set[str]:
        """The techniques this component can run."""

    # ----- health (drivers may override ping and call the set_* helpers) -----------

    def ping(self) -> None:
        """Check the instrument without a task (the daemon calls this every few
        seconds). Refresh properties with `set_properties`; raise, or call
        `set_status(StatusCode.NOT_ANSWERING, ...)` (StatusCode: from
        sugo.driverinterface.health), when it does not answer.
        The default has nothing to check: simulated devices always answer."""
        return

    def set_status(self, code: int, text: str = "") -> None:
        """Set this component's status code (1xx fine, 2xx warning, 3xx device problem)."""
        self.health.set(code, text)

    def report_error(self, message: str) -> None:
        """Record an error with its time; `sugo status components` counts them."""
        self.health.error(message)
        self.log.error("%s", message)

    def set_properties(self, **props: Any) -> None:
        """Properties the instrument reports: model, serial, firmware..."""
        self.health.update_properties(**props)

    def check_health(self) -> dict[str, Any]:
        """Run `ping` and return the health record; a raising ping means the
        device does not answer (310)."""
        if self._is_hung():  # no ping: the component answers again once the stuck call returns
            return self.health.snapshot(running=False)
        try:
            self.ping()
            if self.health.code in (StatusCode.NOT_ANSWERING, StatusCode.TASK_HUNG):
                self.health.set(StatusCode.CONNECTED)
        except Exception as e:
            self.health.set(StatusCode.NOT_ANSWERING, f"{type(e).__name__}: {e}")
            self.health.error(f"ping failed: {e}")
        return self.health.snapshot(running=self.running)

    # ----- validation --------------------------------------------------------------

    def check_attr(self, attr: str, val: Any) -> Any:
        """Validate a value for setting `attr`: known, writable, coercible.
        Returns the coerced value; raises ValueError naming the problem."""
        spec = self.attrs().get(attr)
        if spec is None:
            known = ", ".join(sorted(self.attrs()))
            raise ValueError(f"unknown attr {attr!r} for component {self.name} (known: {known})")
        if not spec.rw:
            raise ValueError(f"attr {attr!r} of component {self.name} is read-only")
        return spec.coerce(val, attr)

    def validate_task(self, task: Task) -> dict[str, Any]:
        """Check `task` against this component; returns its coerced task_params.
        Raises ValueError naming the reason."""
        caps = self.capabilities()
        if task.technique_name not in caps:
            known = ", ".join(sorted(caps))
            raise ValueError(
                f"unknown technique {task.technique_name!r} for component {self.name} "
                f"(known: {known})"
            )
        attrs = self.attrs()
        params = {}
        for name, value in task.task_params.items():
            spec = attrs.get(name)
            if spec is None:
                known = ", ".join(sorted(a for a, s in attrs.items() if s.rw))
                raise ValueError(
                    f"unknown task parameter {name!r} for component {self.name} (settable: {known})"
                )
            if not spec.rw:
                raise ValueError(
                    f"task parameter {name!r}: attr is read-only on component {self.name}"
                )
            params[name] = spec.coerce(value, name)
        return params

    def prepare_task(self, task: Task, **kwargs: Any) -> None:
        """Apply `task.task_params` through `set_attr`, after validation."""
        for name, value in self.validate_task(task).items():
            self.set_attr(name, value)

    # ----- the data cache, status and reset ----------------------------------------

    def get_data(self, **kwargs: Any) -> dict[str, list[Any]]:
        """Return the cached points and clear the cache, atomically."""
        with self.datalock:
            data = self.data
            self.data = {}
        return data

    def status(self, **kwargs: Any) -> dict[str, Any]:
        """The values of the attrs marked `status=True` (as the seed interface
        says), with the runtime state of `task_state`."""
        report = {name: self.get_attr(name) for name, a in self.attrs().items() if a.status}
        return {**report, **self.task_state()}

    def reset(self, **kwargs: Any) -> None:
        """Back to an idle, known state: stop the task, drop queued ones,
        clear the cache and restore attr defaults."""
        self.log.info("resetting")
        self._drain()
        if not self.stop_task(timeout=self.stop_timeout) and not self.abort_task(self.stop_timeout):
            self.log.warning("task still running after reset")
        with self.datalock:
            self.data = {}
        self._clear_error()
        self.reset_attrs()

    def reset_attrs(self) -> None:
        """Set every writable attr that declares a default back to it."""
        for name, spec in self.attrs().items():
            if spec.rw and spec.default is not None:
                self.set_attr(name, spec.coerce(spec.default, name))

    def variable_units(self) -> dict[str, str]:
        """Units of the recorded variables: those of attrs with units. Drivers
        add their other variables (which may depend on `self.technique`).
        Called while `task_data` is answered, on the host's serving thread:
        it must return at once, without talking to the instrument."""
        return {name: spec.units for name, spec in self.attrs().items() if spec.units}

    def variable_dims(self) -> dict[str, Sequence[str]]:
        """Names of the array dimensions of array variables, after the points'
        one: ``{"spectrum": ("wavelength",)}``. Undeclared arrays get
        ``<variable>_dim_0``...; a dimension shared by several variables is one
        dimension of the results file. Same contract as `variable_units`."""
        return {}

    def variable_coords(self) -> dict[str, Any]:
        """Coordinate values of declared dimensions, ``{"wavelength": 1-D
        array}``, with units from `variable_units` under the dimension's
        name. Same contract as `variable_units`."""
        return {}
