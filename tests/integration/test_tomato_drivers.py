"""tomato's published driver packages (`tomato-example-counter`, `tomato-psutil`,
installed by the `test` extra) run unchanged in sugo's driver hosts: every
reference payload gives tomato's points and the package's own variables and
units; cancel, snapshot, a host crash and a failing driver behave as with
sugo's drivers; and neither the CLI nor the daemon imports tomato."""

import importlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sugo.errors import RequestFailed
from sugo.protocol import daemon_api as api
from tests.integration.harness import DATA, DaemonHarness, wait_for
from tests.integration.results import job_record, open_results, points

pytestmark = pytest.mark.integration
TOMATO = DATA / "tomato"
TEST_DRIVERS = Path(__file__).resolve().parents[1] / "drivers"

RAISING_DEVICES = json.dumps(
    {
        "devices": [
            {"name": "dev-raise", "driver": "raising", "address": "r", "channels": ["1"],
             "pollrate": 0.2},
        ],
        "pipelines": [
            {"name": "pip-raise", "devices": [{"role": "counter", "device": "dev-raise",
                                               "channel": "1"}]},
        ],
    }
)  # fmt: skip


def tomato_variables(module: str, technique: str, params: dict[str, Any]) -> dict[str, Any]:
    """What the package itself records for a short task, run in this process
    through tomato's own verbs as tomato's job does: {variable: units}."""
    from tomato.models import Task

    driver = importlib.import_module(module).DriverInterface()
    key = ("ref", "1")
    assert driver.cmp_register(address="ref", channel="1").success
    task = Task(
        component_role="ref",
        technique_name=technique,
        max_duration=0.3,
        sampling_interval=0.1,
        task_params=params,
    )
    assert driver.task_start(key=key, task=task).success
    device = driver.devmap[key]
    wait_for(lambda: device.task_list.unfinished_tasks == 0, 10, "the reference task")
    ds = driver.task_data(key=key).data
    device.thread.do_run = False  # let its worker end; the process keeps no thread
    return {str(n): v.attrs.get("units") for n, v in ds.data_vars.items()}


def file_variables(respath: str, role: str) -> dict[str, Any]:
    tree = open_results(respath)
    try:
        ds = tree[role].to_dataset()
        return {str(n): v.attrs.get("units") for n, v in ds.data_vars.items() if n != "task"}
    finally:
        tree.close()


@pytest.fixture(scope="module")
def counters(tmp_path_factory: pytest.TempPathFactory):
    h = DaemonHarness(
        tmp_path_factory.mktemp("tomato"), (TOMATO / "devices_counter.json").read_text(),
        "devices.json",
    )  # fmt: skip
    h.start(timeout=60)
    yield h
    h.stop()


def load(h: DaemonHarness, pipeline: str, payload: str) -> None:
    import yaml

    sample = yaml.safe_load((TOMATO / payload).read_text())["sample"]
    h.call(api.PipelineEject(pipeline=pipeline))
    h.load_ready(pipeline, sample.get("name") or sample["identifier"])


def test_the_package_runs_and_status_says_so(counters: DaemonHarness) -> None:
    status = counters.status()
    (driver,) = status["drivers"]
    assert driver["name"] == "example_counter"
    assert driver["source"].startswith("tomato package tomato-example-counter 2.")
    names = {c["name"] for c in status["components"]}
    assert names == {f"example_counter:(example-addr,{i})" for i in range(1, 5)}
    out = counters.cli("status", "drivers")
    assert out.returncode == 0 and "tomato package tomato-example-counter" in out.stdout


def test_long_reference_payloads_and_snapshots(counters: DaemonHarness) -> None:
    """tomato's points for the long payloads, run side by side; the snapshot
    payload's periodic snapshots hold the points so far."""
    expected = {
        "counter_20_1.yml": 20,
        "counter_20_5.yml": 4,
        "counter_60_0.1.yml": 600,
        "counter_snapshot.yml": 150,
    }
    jobs = {}
    for i, name in enumerate(expected, start=1):
        load(counters, f"pip-counter-{i}", name)
        jobs[name] = counters.submit(TOMATO / name)["id"]
    snap = jobs["counter_snapshot.yml"]

    def snapshot_points() -> int | None:
        path = counters.job(snap)["snappath"]
        if not path or not Path(path).exists():
            return None
        try:
            return points(path).get("counter") or None
        except OSError:  # being replaced right now
            return None

    partial = wait_for(snapshot_points, 30, "a periodic snapshot of counter_snapshot.yml")
    assert 0 < partial < 150
    for name, jobid in jobs.items():
        job = counters.wait_job(jobid, timeout=120)
        assert job["status"] == "c", (name, job)
        assert points(job["respath"]) == {"counter": expected[name]}, name
        assert file_variables(job["respath"], "counter") == tomato_variables(
            "tomato_example_counter", "count", {}
        ), name
    # the component's constants are in the results file's component metadata
    tree = open_results(job["respath"])
    component = json.loads(tree["counter"].attrs["sugo_component"])
    tree.close()
    assert component["name"] == "example_counter:(example-addr,4)"
    assert component["constants"] == {"example_meta": "example string"}


def test_component_constants_last_and_measure(counters: DaemonHarness) -> None:
    name = "example_counter:(example-addr,3)"
    out = counters.cli("component", "constants", name)
    assert out.returncode == 0 and out.stdout.split() == ["example_meta", "example", "string"]
    out = counters.cli("--json", "component", "measure", name)
    assert out.returncode == 0, out.stderr
    point = json.loads(out.stdout)["measure"]["columns"]
    assert set(point) == {"uts", "val", "max", "min", "param", "choice"}
    out = counters.cli("--json", "component", "last", name)
    assert json.loads(out.stdout)["last"]["columns"]["uts"] == point["uts"]
    out = counters.cli("component", "last", name)
    assert out.returncode == 0 and "param" in out.stdout and "second" in out.stdout


def test_cancel_keeps_the_data_and_frees_the_component(counters: DaemonHarness) -> None:
    load(counters, "pip-counter-1", "counter_60_0.1.yml")
    job = counters.submit(TOMATO / "counter_60_0.1.yml")
    wait_for(lambda: counters.job(job["id"])["status"] == "r", 20, "the job to run")
    comp = api.ComponentCall(name="example_counter:(example-addr,1)", verb="task_status")
    wait_for(
        lambda: (st := counters.call(comp))["running"] and st["points"] >= 1,
        20,
        "points polled by the job",
    )
    counters.call(api.Cancel(ids=[job["id"]]))
    done = counters.wait_job(job["id"], timeout=30)
    assert done["status"] == "cd", done["error"]
    assert 0 < points(done["respath"])["counter"] < 600
    # The component is free and works: the next job runs to the end.
    load(counters, "pip-counter-1", "counter_1_0.1.yml")
    again = counters.wait_job(counters.submit(TOMATO / "counter_1_0.1.yml")["id"], timeout=30)
    assert again["status"] == "c" and points(again["respath"]) == {"counter": 10}


def test_psutil_payloads_give_the_packages_variables(make_daemon) -> None:
    h = make_daemon((TOMATO / "devices_psutil.json").read_text(), "devices.json")
    assert {d["name"]: d["source"].split(" ")[2] for d in h.status()["drivers"]} == {
        "example_counter": "tomato-example-counter",
        "psutil": "tomato-psutil",
    }
    h.load_ready("pip-multidev", "psutil_1_0.1")
    one = h.wait_job(h.submit(TOMATO / "psutil_1_0.1.yml")["id"])
    assert one["status"] == "c" and points(one["respath"]) == {"psutil": 10}
    assert file_variables(one["respath"], "psutil") == tomato_variables(
        "tomato_psutil", "all_info", {}
    )
    h.call(api.PipelineEject(pipeline="pip-multidev"))
    h.load_ready("pip-multidev", "psutil_counter")
    both = h.wait_job(h.submit(TOMATO / "psutil_counter.yml")["id"])
    assert both["status"] == "c" and points(both["respath"]) == {"psutil": 12, "counter": 10}
    random = tomato_variables("tomato_example_counter", "random", {"min": 50.0, "max": 100.0})
    assert file_variables(both["respath"], "counter") == random
    tree = open_results(both["respath"])
    val = tree["counter"].to_dataset()["val"].values
    assert ((val >= 50.0) & (val <= 100.0)).all()
    tree.close()


def test_a_host_crash_fails_the_job_with_its_data_and_the_host_comes_back(make_daemon) -> None:
    h = make_daemon((TOMATO / "devices_counter.json").read_text(), "devices.json")
    load(h, "pip-counter-2", "counter_20_1.yml")
    job = h.submit(TOMATO / "counter_20_1.yml")
    pid = h.driver_pid("example_counter")
    wait_for(lambda: h.job(job["id"])["status"] == "r", 20, "the job to run")
    comp = api.ComponentCall(name="example_counter:(example-addr,2)", verb="task_status")
    wait_for(
        lambda: (st := h.call(comp))["running"] and st["points"] >= 2,
        20,
        "points polled by the job",
    )
    os.kill(pid, signal.SIGKILL)
    done = h.wait_job(job["id"], timeout=30)
    assert done["status"] == "ce", done
    assert points(done["respath"])["counter"] >= 1
    status = h.wait_ready(30)
    assert h.driver_pid("example_counter") != pid
    assert all(c["state"] == "idle" for c in status["components"])
    load(h, "pip-counter-2", "counter_1_0.1.yml")
    again = h.wait_job(h.submit(TOMATO / "counter_1_0.1.yml")["id"], timeout=30)
    assert again["status"] == "c" and points(again["respath"]) == {"counter": 10}


def test_a_driver_that_raises(make_daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tomato package whose do_task raises: the job ends `ce` with the
    driver's error and the points before it; a verb that raises is an error
    reply; the host survives both and the component runs the next job."""
    path = os.pathsep.join(filter(None, [str(TEST_DRIVERS), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    h = make_daemon(RAISING_DEVICES, "devices.json")
    pid = h.driver_pid("raising")
    h.load_ready("pip-raise", "s")
    body = """
version = "2.2"
sample = { identifier = "s" }
[[method]]
component_role = "counter"
technique_name = "count"
max_duration = 2.0
sampling_interval = 0.1
"""
    job = h.wait_job(h.submit(body)["id"], timeout=30)
    assert job["status"] == "ce"
    assert "simulated instrument fault after 3 points" in job["error"]
    assert points(job["respath"]) == {"counter": 3}
    assert job_record(job["respath"])["status"] == "ce"
    with pytest.raises(RequestFailed, match="the instrument exploded"):
        h.call(
            api.ComponentCall(
                name="raising:(r,1)", verb="dev_set_attr", args={"attr": "explode", "val": 1}
            )
        )
    assert h.driver_pid("raising") == pid
    ok = body.replace("max_duration = 2.0", "max_duration = 0.5\ntask_params = { fail_after = 50 }")
    h.call(api.PipelineReady(pipeline="pip-raise"))
    again = h.wait_job(h.submit(ok)["id"], timeout=30)
    assert again["status"] == "c" and points(again["respath"]) == {"counter": 5}


def test_the_cli_and_the_daemon_never_import_tomato(counters: DaemonHarness) -> None:
    """`sugo status` stays as fast with tomato drivers: neither the CLI nor
    the daemon's modules import tomato, its packages or the loader."""
    code = (
        "import sys, runpy;"
        "sys.argv = ['sugo', 'status'];"
        "import sugo.cli.main as m, sugo.daemon.main;"
        "rc = m.main(['status']);"
        "bad = [n for n in sys.modules if n.startswith('tomato')"
        " or n in ('xarray', 'sugo.driverinterface.loader')];"
        "assert not bad, bad; sys.exit(rc)"
    )
    env = {**os.environ, "SUGO_PORT": str(counters.port), "SUGO_APPDIR": str(counters.appdir)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "example_counter" in out.stdout


RECIPE = """
version: "2.2"
load:
  - as: run
    path: {path}
    type: netcdf
extract:
  - into: df
    from: run
    at:
      step: counter
    columns:
      - key: val
        as: val
      - key: param
        as: param
save:
  - table: df
    as: {out}
"""


def tomato_file(path: Path, payload: str) -> None:
    """The results file tomato writes for a one-task counter payload: the
    package's own Dataset (from its verbs, as tomato's job gets it), one group
    per role with `role` and `tomato_Component` attrs, `tomato_Job` at the root."""
    import xarray as xr
    import yaml
    from tomato.models import Task

    step = yaml.safe_load((TOMATO / payload).read_text())["method"][0]
    driver = importlib.import_module("tomato_example_counter").DriverInterface()
    key = ("ref", "1")
    driver.cmp_register(address="ref", channel="1")
    task = Task(
        component_role="counter",
        technique_name=step["technique"],
        max_duration=step["time"],
        sampling_interval=step["delay"],
    )
    driver.task_start(key=key, task=task)
    device = driver.devmap[key]
    wait_for(lambda: device.task_list.unfinished_tasks == 0, 30, "the reference task")
    ds = driver.task_data(key=key).data
    device.thread.do_run = False
    ds.attrs.update(role="counter", tomato_Component=json.dumps({"role": "counter"}))
    tree = xr.DataTree.from_dict({"counter": ds})
    tree.attrs = {"tomato_version": "2.2", "tomato_Job": json.dumps({"id": 1})}
    tree.to_netcdf(path, engine="h5netcdf")


def test_a_dgpost_recipe_reads_sugo_and_tomato_files_alike(
    counters: DaemonHarness, tmp_path: Path
) -> None:
    """The same dgpost load/extract/save recipe on sugo's results file and on
    tomato's for the same payload: the same columns, rows and units; only the
    index differs (sugo's `uts` has CF units, so it loads as datetimes)."""
    pytest.importorskip("dgpost", reason="dgpost is not installed (pip install dgpost)")
    import dgpost.main
    import numpy as np
    import pandas as pd

    load(counters, "pip-counter-2", "counter_1_0.1.yml")
    job = counters.wait_job(counters.submit(TOMATO / "counter_1_0.1.yml")["id"], timeout=30)
    tomato_file(tmp_path / "tomato.nc", "counter_1_0.1.yml")
    tables = {}
    for name, path in (("sugo", job["respath"]), ("tomato", str(tmp_path / "tomato.nc"))):
        out = tmp_path / f"{name}.pkl"  # dgpost's JSON tables cannot hold a datetime index
        recipe = tmp_path / f"{name}.yml"
        recipe.write_text(RECIPE.format(path=path, out=out))
        dgpost.main.run(str(recipe))
        tables[name] = pd.read_pickle(out)  # noqa: S301 (the file dgpost just wrote)
    ours, theirs = tables["sugo"], tables["tomato"]
    assert list(ours.columns) == list(theirs.columns) == [("val",), ("param",)]
    assert len(ours) == len(theirs) == 10
    assert ours.attrs["units"] == theirs.attrs["units"] == {"param": "second"}
    # whole seconds since the start, as the package counts them
    assert set(ours[("val",)]) <= {0, 1} and set(theirs[("val",)]) <= {0, 1}
    assert isinstance(ours.index, pd.DatetimeIndex) and theirs.index.dtype == float
    seconds = ours.index.astype("int64").to_numpy() / 1e9
    assert np.all(np.diff(seconds) > 0)
