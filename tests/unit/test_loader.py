"""Driver loading through the `sugo.drivers` entry points, and its errors."""

import textwrap
from importlib.metadata import EntryPoint

import pytest

from sugo.driverinterface import ModelInterface, loader
from sugo.drivers import counter, faulty, psutil_driver
from sugo.errors import DriverError


def test_builtin_drivers_are_available():
    assert {"counter", "example_counter", "psutil", "faulty"} <= set(loader.available_drivers())


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("counter", counter.DriverInterface),
        ("example_counter", counter.DriverInterface),
        ("psutil", psutil_driver.DriverInterface),
        ("faulty", faulty.DriverInterface),
    ],
)
def test_load_builtin(name, cls):
    assert loader.load_driver(name) is cls


def test_unknown_driver_lists_the_available_ones():
    with pytest.raises(DriverError) as info:
        loader.load_driver("nope")
    message = str(info.value)
    assert message.startswith("unknown driver 'nope' (available: ")
    assert "counter" in message and "psutil" in message and "faulty" in message


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A third-party driver module, reachable through an extra entry point."""
    (tmp_path / "sugo_test_plugin.py").write_text(
        textwrap.dedent(
            """
            from sugo.driverinterface import DeviceManager, ModelInterface

            class Half(DeviceManager):
                def do_task(self, task, t_start, t_now, **kwargs):
                    return {}

                def attrs(self, **kwargs):
                    return {}

            class HalfDriver(ModelInterface):
                DeviceManager = Half

            class NotADriver:
                pass
            """
        )
    )
    (tmp_path / "sugo_test_broken.py").write_text("raise ImportError('missing vendor DLL')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    extra = [
        EntryPoint("half", "sugo_test_plugin:HalfDriver", loader.GROUP),
        EntryPoint("plain", "sugo_test_plugin:NotADriver", loader.GROUP),
        EntryPoint("broken", "sugo_test_broken:Driver", loader.GROUP),
    ]
    real = loader.entry_points
    monkeypatch.setattr(loader, "entry_points", lambda group: [*real(group=group), *extra])


def test_driver_with_abstract_methods_names_them(plugin):
    with pytest.raises(DriverError) as info:
        loader.load_driver("half")
    assert str(info.value) == (
        "driver 'half': DeviceManager Half does not implement capabilities, get_attr, set_attr"
    )


def test_driver_that_is_no_model_interface(plugin):
    with pytest.raises(DriverError, match=r"'plain': .*NotADriver.* is not a ModelInterface"):
        loader.load_driver("plain")


def test_driver_that_fails_to_import(plugin):
    with pytest.raises(DriverError) as info:
        loader.load_driver("broken")
    assert str(info.value) == "driver 'broken' failed to load: ImportError: missing vendor DLL"


def test_driver_without_device_manager():
    class Bare(ModelInterface):
        pass

    with pytest.raises(
        DriverError, match="driver 'bare': DeviceManager None is not a DeviceManager"
    ):
        loader.check_driver("bare", Bare)
