"""The faulty driver: a simulated device that misbehaves on demand, for tests.

Technique ``count``: like the counter, `value` is the whole seconds since the
task started (units s); each point records `uts` and `value`.

Each behaviour is an attr (rw) whose default comes from the driver setting of
the same name, so it can be set for a whole driver in settings.toml or for one
component with `dev_set_attr` / a task parameter; `reset` restores the setting.

- ``fail_register`` (setting or `dev_register` keyword only): true, or a list
  of channels, makes `dev_register` of those components fail with a clear
  message.
- ``fail_after`` (int, -1 = off): after N points of a task, `do_task` raises,
  so the task ends with an error and the worker serves the next task.
- ``kill_after`` (int, -1 = off): after N points of a task, the whole process
  kills itself with SIGKILL (a crashing driver host).
- ``hang_verb`` (str, "" = none) with ``hang_seconds`` (float, s, default
  10 s): that verb (e.g. "task_status", "dev_get_attr", "task_data") blocks
  for `hang_seconds` before answering, on this component only.
- ``hang_after`` (int, -1 = off) with ``hang_seconds``: after N points of a
  task, `do_task` blocks for `hang_seconds` (a hung instrument call; the
  task watchdog's case).
- ``reset_delay`` (float, s, default 0): every reset takes that long (the
  value in force when the reset starts: a task parameter slows the reset at
  the end of its job).
- ``ignore_stop`` (bool): `stop_task` is ignored; the task runs until its
  `max_duration` ends (a teardown still stops it).
- ``unplugged`` (bool): `ping` fails as if the device were unplugged, so the
  daemon's periodic health check shows 310 "not answering".
"""

import math
import os
import signal
import time
from typing import Any, ClassVar

from sugo.driverinterface import Attr, ModelInterface, Task
from sugo.driverinterface import DeviceManager as BaseManager
from sugo.driverinterface.attr import is_quantity
from sugo.driverinterface.settings import Setting

VERBS = (
    "",
    "dev_status",
    "dev_get_attr",
    "dev_set_attr",
    "dev_reset",
    "dev_ping",
    "capabilities",
    "attrs",
    "task_validate",
    "task_start",
    "task_status",
    "task_stop",
    "task_data",
)

DEFAULTS: dict[str, Any] = {
    "fail_after": -1,
    "kill_after": -1,
    "hang_after": -1,
    "hang_verb": "",
    "hang_seconds": 10.0,
    "reset_delay": 0.0,
    "ignore_stop": False,
    "unplugged": False,
}


def _fails_register(setting: Any, channel: str) -> bool:
    if isinstance(setting, list | tuple | set):
        return channel in {str(c) for c in setting}
    return bool(setting)


class FaultyManager(BaseManager):
    """One misbehaving component."""

    def __init__(self, driver: ModelInterface, key: tuple[str, str], **kwargs: Any) -> None:
        setting = kwargs.get("fail_register", driver.settings.get("fail_register", False))
        if _fails_register(setting, str(key[1])):
            # before super().__init__, so no worker thread is left behind
            raise RuntimeError(f"component ({key[0]},{key[1]}) refuses to register (fail_register)")
        defaults = {k: driver.settings.get(k, v) for k, v in DEFAULTS.items()}
        self._attrs = {
            "fail_after": Attr(type=int, rw=True, minimum=-1, default=defaults["fail_after"]),
            "kill_after": Attr(type=int, rw=True, minimum=-1, default=defaults["kill_after"]),
            "hang_after": Attr(type=int, rw=True, minimum=-1, default=defaults["hang_after"]),
            "hang_verb": Attr(type=str, rw=True, options=VERBS, default=defaults["hang_verb"]),
            "hang_seconds": Attr(
                type=float, rw=True, units="s", minimum=0, default=defaults["hang_seconds"]
            ),
            "reset_delay": Attr(
                type=float, rw=True, units="s", minimum=0, default=defaults["reset_delay"]
            ),
            "ignore_stop": Attr(type=bool, rw=True, default=defaults["ignore_stop"]),
            "unplugged": Attr(type=bool, rw=True, default=defaults["unplugged"]),
        }
        self.values: dict[str, Any] = {}
        super().__init__(driver, key, **kwargs)
        self.reset_attrs()

    def capabilities(self, **kwargs: Any) -> set[str]:
        return {"count"}

    def attrs(self, **kwargs: Any) -> dict[str, Attr]:
        return self._attrs

    def set_attr(self, attr: str, val: Any, **kwargs: Any) -> None:
        value = self.check_attr(attr, val)
        self.values[attr] = float(value.magnitude) if is_quantity(value) else value

    def get_attr(self, attr: str, **kwargs: Any) -> Any:
        if attr not in self._attrs:
            raise ValueError(f"unknown attr {attr!r} for component {self.name}")
        return self.values[attr]

    def do_task(
        self, task: Task, t_start: float, t_now: float, **kwargs: Any
    ) -> dict[str, Any] | None:
        done = self.points  # points taken before this one
        if 0 <= self.values["kill_after"] <= done:
            self.log.warning("kill_after=%d: killing the process", done)
            os.kill(os.getpid(), signal.SIGKILL)
        if 0 <= self.values["fail_after"] <= done:
            raise RuntimeError(f"simulated failure after {done} points (fail_after)")
        if 0 <= self.values["hang_after"] <= done:
            seconds = self.values["hang_seconds"]
            self.log.warning("hang_after=%d: do_task blocks for %g s", done, seconds)
            time.sleep(seconds)
        return {"value": float(math.floor(t_now - t_start))}

    def variable_units(self) -> dict[str, str]:
        # the behaviour attrs are settings, not recorded variables
        return {"value": "s"}

    def stop_task(self, timeout: float | None = None, **kwargs: Any) -> bool | None:
        if self.values["ignore_stop"]:
            self.log.warning("ignore_stop: not stopping the task")
            return False
        return super().stop_task(timeout)

    def reset(self, **kwargs: Any) -> None:
        delay = self.values["reset_delay"]
        super().reset()
        if delay > 0:
            time.sleep(delay)  # a slow instrument, on purpose

    def ping(self) -> None:
        # A real driver would ask the instrument for its identity here.
        if self.values["unplugged"]:
            raise ConnectionError(f"no answer from simulated device {self.name} (unplugged)")
        self.set_properties(model="FLT-1", serial=f"F-{self.key[0]}-{self.key[1]}", firmware="1.0")

    def hang(self, verb: str) -> None:
        """Block for `hang_seconds` if `verb` is the one set to hang."""
        if verb and verb == self.values["hang_verb"]:
            self.log.warning("hang_verb: %s blocks for %.3g s", verb, self.values["hang_seconds"])
            time.sleep(self.values["hang_seconds"])


class DriverInterface(ModelInterface):
    """The faulty driver."""

    DeviceManager = FaultyManager

    def before_verb(self, verb: str, dm: BaseManager) -> None:
        if isinstance(dm, FaultyManager):
            dm.hang(verb)


class StrictDriverInterface(DriverInterface):
    """The faulty driver with a declared, required setting `serial` (str): for
    testing that a driver missing a required setting does not start."""

    settings_spec: ClassVar[dict[str, Setting]] = {
        "serial": Setting(str, required=True, description="the device's serial port"),
    }
