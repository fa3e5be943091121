"""sugo.testing (drivers in-process through the ModelInterface verbs) and
`sugo driver new` (the scaffolded package, its driver and its own tests)."""

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sugo.cli.main import main
from sugo.driverinterface import Attr, DeviceManager, ModelInterface, Task
from sugo.drivers.counter import DriverInterface as Counter
from sugo.testing import DriverCallFailed, DriverTester, TaskResult, check_contract

# -- sugo.testing on the built-in counter ------------------------------------------------


def test_a_task_runs_through_the_verbs_and_reports_points_and_units() -> None:
    with DriverTester(Counter) as driver:
        counter = driver.register("sim", "1")
        assert counter.set_attr("max", "5") == 5.0
        result = counter.run_task(
            "count", max_duration=0.5, sampling_interval=0.1, task_params={"param": "2 s"}
        )
    result.assert_ok()
    result.assert_points(5)
    result.assert_units(value="s", param="second", max=None)
    result.assert_increasing_time()
    assert result.column("param") == [2.0] * 5
    assert result.column("max") == [5.0] * 5
    assert 0.4 < result.seconds < 5.0


def test_the_driver_is_found_by_its_entry_point_name() -> None:
    with DriverTester("counter") as driver:
        assert driver.register().capabilities() == ["count", "random"]


def test_refusals_carry_the_drivers_message() -> None:
    with DriverTester(Counter) as driver:
        counter = driver.register()
        with pytest.raises(DriverCallFailed, match="choice"):
            counter.set_attr("choice", "pink")
        reply = counter.validate("count", task_params={"nope": 1})
        assert not reply.success and "unknown task parameter 'nope'" in reply.msg
        with pytest.raises(DriverCallFailed, match="unknown technique 'fly'"):
            counter.run_task("fly")


def test_result_assertions_say_what_is_wrong() -> None:
    result = TaskResult(
        "count", columns={"uts": [1.0, 1.0], "value": [0.0, 1.0]}, units={"value": "s"}
    )
    with pytest.raises(AssertionError, match="2 points, expected 3"):
        result.assert_points(3)
    result.assert_points(3, tolerance=1)
    with pytest.raises(AssertionError, match="value: 's', expected 'V'"):
        result.assert_units(value="V")
    with pytest.raises(AssertionError, match="not recorded: current"):
        result.assert_units(current="A")
    with pytest.raises(AssertionError, match="not increasing at points \\[1\\]"):
        result.assert_increasing_time()
    result.error = "RuntimeError: boom"
    with pytest.raises(AssertionError, match="boom"):
        result.assert_ok()


def test_a_task_that_outlives_its_timeout_fails_and_is_stopped() -> None:
    with DriverTester(Counter) as driver:
        counter = driver.register()
        with pytest.raises(AssertionError, match="still running"):
            counter.run_task("count", max_duration=30, sampling_interval=0.1, timeout=0.3)
        assert counter.status()["running"] is False


def test_the_contract_of_the_built_in_counter() -> None:
    assert set(check_contract(Counter)) == {"count", "random"}


class _Broken(DeviceManager):
    """Empty capabilities, and a reset that does not restore the default."""

    caps: set[str] = set()

    def __init__(self, driver: ModelInterface, key: tuple[str, str], **kw: Any) -> None:
        super().__init__(driver, key, **kw)
        self.level = 1.0

    def capabilities(self, **kwargs: Any) -> set[str]:
        return self.caps

    def attrs(self, **kwargs: Any) -> dict[str, Attr]:
        return {"level": Attr(type=float, rw=True, default=1.0)}

    def set_attr(self, attr: str, val: Any, **kwargs: Any) -> None:
        self.level = float(val)

    def get_attr(self, attr: str, **kwargs: Any) -> Any:
        return self.level

    def reset_attrs(self) -> None:
        self.level = 7.0

    def do_task(self, task: Task, t_start: float, t_now: float, **kwargs: Any) -> dict[str, Any]:
        return {"level": self.level}


class _NoCapabilities(ModelInterface):
    DeviceManager = _Broken


class _BadReset(ModelInterface):
    DeviceManager = type("_BadResetManager", (_Broken,), {"caps": {"hold"}})


def test_the_contract_check_names_the_problem() -> None:
    with pytest.raises(AssertionError, match="capabilities must be non-empty"):
        check_contract(_NoCapabilities)
    with pytest.raises(AssertionError, match=r"attr 'level' is 7\.0, not its default"):
        check_contract(_BadReset)


def test_settings_are_checked_against_the_drivers_declaration() -> None:
    with DriverTester(Counter) as driver:
        assert driver.interface.settings == {"reset_delay": 0.0}
    with pytest.raises(Exception, match="unknown setting"):
        DriverTester(Counter, settings={"nope": 1})


def test_a_class_that_is_not_a_driver_is_refused() -> None:
    with pytest.raises(Exception, match="not a ModelInterface subclass"):
        DriverTester(dict)  # type: ignore[arg-type]


# -- sugo driver new ---------------------------------------------------------------------


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_driver_new_writes_a_package_whose_driver_and_tests_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "volt"
    assert main(["driver", "new", "volt", "--dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "pip install -e" in out and "sugo reload" in out
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "pyproject.toml",
        "src/sugo_driver_volt/__init__.py",
        "src/sugo_driver_volt/driver.py",
        "tests/test_driver.py",
    ]
    pyproject = (folder / "pyproject.toml").read_text()
    assert '[project.entry-points."sugo.drivers"]' in pyproject
    assert 'volt = "sugo_driver_volt:DriverInterface"' in pyproject
    # The generated code is clean by its own ruff settings.
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "ruff"), "check", "--no-cache", "."],
        cwd=folder, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout
    # Its own tests pass in-process (all but the one that needs it installed).
    monkeypatch.syspath_prepend(str(folder / "src"))
    tests = _load(folder / "tests" / "test_driver.py", "scaffolded_tests")
    tests.test_it_keeps_the_driver_contract()
    tests.test_a_ramp_records_voltage_and_current_with_units()
    tests.test_an_out_of_range_voltage_is_refused()
    tests.test_the_load_comes_from_the_driver_settings()
    for name in list(sys.modules):
        if name.startswith("sugo_driver_volt"):
            monkeypatch.delitem(sys.modules, name)


@pytest.mark.parametrize("name", ["Volt", "1volt", "volt-meter", "", "x" * 41])
def test_driver_new_refuses_bad_names(name: str, tmp_path: Path) -> None:
    assert main(["driver", "new", name, "--dir", str(tmp_path / "d")]) == 1
    assert not (tmp_path / "d").exists()


def test_driver_new_refuses_a_folder_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["driver", "new", "volt", "--dir", str(tmp_path)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
