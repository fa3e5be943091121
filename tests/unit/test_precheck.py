"""`sugo.driverinterface.precheck`: would a driver start with these settings
(asked by `sugo reload` before it changes anything)."""

import json
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from sugo.driverinterface import loader
from sugo.driverinterface.precheck import problem


def test_an_installed_driver_with_good_settings_passes() -> None:
    assert problem("counter", {"reset_delay": 0.5}) is None
    assert problem("faulty_strict", {"serial": "/dev/ttyS0"}) is None


def test_each_refusal_names_the_driver_and_the_problem() -> None:
    missing = problem("countr", {})
    assert missing is not None and missing.startswith("unknown driver 'countr' (available: ")
    assert problem("counter", {"reset_delay": "soon"}) == (
        "driver counter: setting 'reset_delay' must be float, not str"
    )
    strict = problem("faulty_strict", {})
    assert strict is not None and "required setting 'serial' missing" in strict


def test_as_a_process_it_answers_for_every_driver_at_once() -> None:
    asked = {"counter": {}, "nope": {}}
    done = subprocess.run(
        [sys.executable, "-m", "sugo.driverinterface.precheck"],
        input=json.dumps(asked),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(done.stdout)
    assert answer["counter"] is None
    assert answer["nope"].startswith("unknown driver 'nope'")


def test_a_driver_that_refuses_its_settings_when_built_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sugo_test_picky.py").write_text(
        "from sugo.drivers.counter import DriverInterface\n"
        "class Picky(DriverInterface):\n"
        "    def __init__(self, settings=None):\n"
        "        super().__init__(settings)\n"
        "        if self.settings.get('reset_delay', 0) > 10:\n"
        "            raise ValueError('reset_delay over 10 s makes no sense')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    picky = EntryPoint("picky", "sugo_test_picky:Picky", loader.GROUP)
    real = loader.entry_points
    monkeypatch.setattr(loader, "entry_points", lambda group: [*real(group=group), picky])
    assert problem("picky", {"reset_delay": 1.0}) is None
    assert problem("picky", {"reset_delay": 60.0}) == (
        "driver picky: reset_delay over 10 s makes no sense"
    )
    assert problem("picky", {"reset_dealy": 1.0}) == (
        "driver picky: unknown setting(s) reset_dealy (did you mean reset_delay?)"
        " (known: reset_delay)"
    )
