"""Driver loading through the `sugo.drivers` entry points and tomato driver
packages (`tomato_<name>`), which wins, and its errors."""

import importlib
import subprocess
import sys
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
        ("faulty", faulty.DriverInterface),
    ],
)
def test_load_builtin(name, cls):
    assert loader.load_driver(name) is cls
    assert loader.find_driver(name).describe() == f"sugo built-in ({cls.__module__}:{cls.__name__})"


@pytest.mark.parametrize(
    ("name", "module", "package"),
    [
        ("example_counter", "tomato_example_counter", "tomato-example-counter"),
        ("psutil", "tomato_psutil", "tomato-psutil"),
    ],
)
def test_an_installed_tomato_package_wins_over_the_builtin(name, module, package):
    source = loader.find_driver(name)
    assert (source.kind, source.target, source.package) == ("tomato", module, package)
    assert source.describe().startswith(f"tomato package {package} ")
    cls = loader.load_driver(name)
    assert cls.tomato_class is importlib.import_module(module).DriverInterface
    loader.check_driver(name, cls)


def test_the_builtin_is_the_fallback_without_the_package(monkeypatch):
    monkeypatch.setattr(loader, "_tomato_module", lambda name: None)
    assert loader.load_driver("example_counter") is counter.ExampleCounterInterface
    assert loader.load_driver("psutil") is psutil_driver.DriverInterface
    assert loader.find_driver("psutil").kind == "builtin"


def test_finding_a_driver_imports_neither_it_nor_tomato():
    code = (
        "import sys; from sugo.driverinterface.loader import find_driver, available_drivers;"
        "assert find_driver('example_counter').kind == 'tomato';"
        "assert 'example_counter' in available_drivers();"
        "bad = [m for m in sys.modules if m.startswith('tomato') or m == 'xarray'];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


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

    with pytest.raises(DriverError, match="driver 'bare': no DeviceManager of its own"):
        loader.check_driver("bare", Bare)


def test_an_installed_sugo_driver_wins_over_a_tomato_package(plugin, monkeypatch):
    extra = EntryPoint("example_counter", "sugo_test_plugin:HalfDriver", loader.GROUP)
    real = loader.entry_points
    monkeypatch.setattr(loader, "entry_points", lambda group: [*real(group=group), extra])
    source = loader.find_driver("example_counter")
    assert (source.kind, source.target) == ("sugo", "sugo_test_plugin:HalfDriver")


def test_interface_versions_are_checked(tmp_path, monkeypatch):
    (tmp_path / "tomato_future.py").write_text(
        "class DriverInterface:\n"
        "    version = '3.0'\n"
        "    def DeviceFactory(self, key, **kwargs):\n"
        "        return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DriverError) as info:
        loader.load_driver("future")
    assert str(info.value) == (
        "driver 'future': tomato_future uses tomato driver interface '3.0'; sugo runs 2.0, 2.1"
    )

    class Tomatoish(counter.DriverInterface):
        version = "2.1"

    with pytest.raises(DriverError, match=r"version '2.1' is not served.*tomato_<name>"):
        loader.check_driver("tomatoish", Tomatoish)
    loader.check_driver("seed", counter.DriverInterface)  # "1.0", the seed interface


def test_the_builtin_can_be_kept_by_name(monkeypatch):
    monkeypatch.setenv("SUGO_BUILTIN_DRIVERS", "psutil, faulty")
    assert loader.find_driver("psutil").kind == "builtin"
    assert loader.load_driver("psutil") is psutil_driver.DriverInterface
    assert loader.find_driver("example_counter").kind == "tomato"  # not named: the package
