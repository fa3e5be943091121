"""`sugo.driverinterface.precheck`: would a driver start with these settings
(asked by `sugo reload` before it changes anything)."""

import json
import subprocess
import sys

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
