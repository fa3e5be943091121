"""A tomato 2.1 driver package (module `tomato_raising`, driver name `raising`)
whose instrument fails: `do_task` raises after `fail_after` points, and
setting attr `explode` raises an unexpected error. Written for sugo's tests
against tomato's published driver interface."""

import time

import xarray as xr
from tomato.driverinterface_2_1 import Attr, ModelDevice, ModelInterface, Task


class Device(ModelDevice):
    def __init__(self, driver, key, **kwargs):
        super().__init__(driver, key, **kwargs)
        self.fail_after = 3
        self.taken = 0
        self.constants["maker"] = "sugo tests"

    def attrs(self, **kwargs):
        return {
            "fail_after": Attr(type=int, rw=True, status=True),
            "explode": Attr(type=int, rw=True),
        }

    def capabilities(self, **kwargs):
        return {"count"}

    def set_attr(self, attr, val, **kwargs):
        if attr == "explode":
            raise RuntimeError("the instrument exploded")
        if attr != "fail_after":
            raise AttributeError(f"unknown attr: {attr!r}")
        self.fail_after = int(val)
        return self.fail_after

    def get_attr(self, attr, **kwargs):
        if attr == "fail_after":
            return self.fail_after
        raise AttributeError(f"unknown attr: {attr!r}")

    def prepare_task(self, task: Task, **kwargs):
        super().prepare_task(task, **kwargs)
        self.taken = 0

    def do_measure(self, **kwargs):
        if self.taken >= self.fail_after:
            raise RuntimeError(f"simulated instrument fault after {self.taken} points")
        self.taken += 1
        self.last_data = xr.Dataset(
            data_vars={"n": (["uts"], [self.taken])},
            coords={"uts": (["uts"], [time.time()])},
        )


class DriverInterface(ModelInterface):
    def DeviceFactory(self, key, **kwargs):
        return Device(self, key, **kwargs)
