"""tomato's reference payloads, unchanged, give what tomato gives (see
tests/data/tomato/README.md), and the results files have the sugo layout."""

import itertools
import json
import time
from pathlib import Path

import msgspec
import numpy as np
import pytest

from sugo.config.payload import Payload
from sugo.errors import RequestFailed
from sugo.protocol import daemon_api as api
from tests.integration.harness import DATA, DaemonHarness
from tests.integration.results import job_record, open_results, points

pytestmark = pytest.mark.integration
TOMATO = DATA / "tomato"


@pytest.fixture(scope="module")
def counter_daemon(tmp_path_factory: pytest.TempPathFactory):
    h = DaemonHarness(
        tmp_path_factory.mktemp("counter"),
        (TOMATO / "devices_counter.json").read_text(),
        "devices.json",
    )
    h.start()
    yield h
    h.stop()


def run_on(h: DaemonHarness, pipeline: str, payload: str, cwd: Path | None = None) -> dict:
    sample = json.loads(json.dumps(__import__("yaml").safe_load((TOMATO / payload).read_text())))
    name = sample["sample"]["name"]
    h.call(api.PipelineEject(pipeline=pipeline))
    h.load_ready(pipeline, name)
    return h.submit(TOMATO / payload, cwd=cwd)


def test_point_counts_of_single_role_payloads(counter_daemon: DaemonHarness) -> None:
    h = counter_daemon
    expected = {"counter_1_0.1.yml": 10, "counter_5_0.2.yml": 25, "counter_multistep.yml": 15}
    jobs = {f: run_on(h, f"pip-counter-{i}", f)["id"] for i, f in enumerate(expected, start=1)}
    for f, jobid in jobs.items():
        job = h.wait_job(jobid, timeout=30)
        assert job["status"] == "c", job
        assert points(job["respath"]) == {"counter": expected[f]}, f
        assert Path(job["respath"]).name == f"results.{jobid}.nc"


def test_three_tasks_on_one_role_all_run(counter_daemon: DaemonHarness) -> None:
    h = counter_daemon
    payload = """
version = "2.2"
sample = { identifier = "three" }
[[method]]
component_role = "counter"
technique_name = "count"
max_duration = 0.3
sampling_interval = 0.1
[[method]]
component_role = "counter"
technique_name = "random"
max_duration = 0.4
sampling_interval = 0.1
task_params = { min = 2.0, max = 3.0 }
[[method]]
component_role = "counter"
technique_name = "count"
max_duration = "0.5 s"
sampling_interval = 0.25
"""
    h.call(api.PipelineEject(pipeline="pip-counter-4"))
    h.load_ready("pip-counter-4", "three")
    job = h.wait_job(h.submit(payload)["id"], timeout=20)
    assert job["status"] == "c"
    assert [t["state"] for t in job["tasks"]] == ["completed"] * 3
    tree = open_results(job["respath"])
    ds = tree["counter"].to_dataset()
    assert np.bincount(ds["task"].values).tolist() == [3, 4, 2]
    rnd = ds["val"].values[ds["task"].values == 1]  # tomato's example counter records `val`
    assert np.all((rnd >= 2.0) & (rnd <= 3.0))
    assert ds["val"].attrs.get("units") is None or isinstance(ds["val"].attrs["units"], str)
    assert ds["param"].attrs["units"] == "second"
    assert ds["uts"].attrs["units"].startswith("seconds since 1970-01-01")
    # Root and group metadata parse back into the job, payload and component models.
    comp = msgspec.json.decode(tree["counter"].attrs["sugo_component"], type=api.ComponentInfo)
    assert comp.name == "example_counter:(example-addr,4)" and "count" in comp.capabilities
    record = json.loads(tree.attrs["sugo_job"])
    info = msgspec.convert({k: v for k, v in record.items() if k != "payload"}, api.JobInfo)
    assert info.id == job["id"] and info.status == "c" and info.completed_at
    method = Payload.model_validate(record["payload"]).method
    assert [t.max_duration for t in method] == [0.3, 0.4, 0.5]
    tree.close()


def test_output_prefix_and_path(counter_daemon: DaemonHarness, tmp_path: Path) -> None:
    h = counter_daemon
    a = run_on(h, "pip-counter-1", "counter_output_prefix.yml", cwd=tmp_path)
    b = run_on(h, "pip-counter-2", "counter_output_path.yml", cwd=tmp_path)
    ja, jb = h.wait_job(a["id"]), h.wait_job(b["id"])
    assert ja["respath"] == str(tmp_path / "data.nc")
    assert jb["respath"] == str(tmp_path / "newfolder" / f"results.{b['id']}.nc")
    assert points(ja["respath"]) == {"counter": 20}
    assert points(jb["respath"]) == {"counter": 20}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("counter_invalid_1.yml", "unknown"),
        ("counter_invalid_2.yml", "param"),
        ("counter_invalid_3.yml", "smaller than 0.1 second"),  # the package's own words
        ("counter_invalid_4.yml", "unknown"),
    ],
)
def test_invalid_payloads_never_queue(
    counter_daemon: DaemonHarness, payload: str, reason: str
) -> None:
    h = counter_daemon
    before = h.call(api.Jobs())["jobs"]
    with pytest.raises(RequestFailed) as err:
        h.submit(TOMATO / payload)
    assert reason in str(err.value).lower(), str(err.value)
    assert h.call(api.Jobs())["jobs"] == before


def test_unlock_when_done_chain_in_submission_order(counter_daemon: DaemonHarness) -> None:
    h = counter_daemon
    h.call(api.PipelineEject(pipeline="pip-counter-3"))
    h.load_ready("pip-counter-3", "counter_stresstest")
    t0 = time.monotonic()
    ids = [h.submit(TOMATO / "counter_stresstest.yml")["id"] for _ in range(5)]
    jobs = [h.wait_job(i, timeout=30) for i in ids]
    elapsed = time.monotonic() - t0
    assert [j["status"] for j in jobs] == ["c"] * 5
    starts = [j["started_at"] for j in jobs]
    ends = [j["completed_at"] for j in jobs]
    assert starts == sorted(starts) and ends == sorted(ends)
    for prev, nxt in itertools.pairwise(jobs):
        assert nxt["started_at"] >= prev["completed_at"]
    assert all(points(j["respath"]) == {"counter": 2} for j in jobs)
    assert h.call(api.Status())["pipelines"][2]["ready"] is True
    assert elapsed < 15, f"five 0.2 s jobs took {elapsed:.1f} s"


def test_multidev(make_daemon) -> None:
    h = make_daemon((TOMATO / "devices_multidev.json").read_text(), "devices.json")
    h.load_ready("pip-multidev", "counter_multidev")
    a = h.wait_job(h.submit(TOMATO / "counter_multidev.yml")["id"])
    assert a["status"] == "c"
    assert points(a["respath"]) == {"counter-1": 10, "counter-2": 5}
    h.call(api.PipelineEject(pipeline="pip-multidev"))
    h.load_ready("pip-multidev", "counter_multistep_multidev")
    b = h.wait_job(h.submit(TOMATO / "counter_multistep_multidev.yml")["id"])
    assert b["status"] == "c"
    assert points(b["respath"]) == {"counter-1": 10, "counter-2": 20}


def test_triggers_across_drivers(make_daemon) -> None:
    h = make_daemon((TOMATO / "devices_psutil.json").read_text(), "devices.json")
    h.load_ready("pip-multidev", "psutil_counter_with_task_start")
    start = h.wait_job(h.submit(TOMATO / "psutil_counter_with_task_start.yml")["id"])
    assert start["status"] == "c"
    assert points(start["respath"]) == {"psutil": 12, "counter": 10}
    tree = open_results(start["respath"])
    ps, ct = tree["psutil"].to_dataset(), tree["counter"].to_dataset()
    trigger_first = ps["uts"].values[ps["task"].values == 1][0]
    # The counter task starts with the trigger task: their first points are
    # one sampling interval (0.5 s vs 0.2 s) after the same moment.
    assert abs((ct["uts"].values[0] - 0.2) - (trigger_first - 0.5)) < 0.1
    tree.close()

    h.call(api.PipelineEject(pipeline="pip-multidev"))
    h.load_ready("pip-multidev", "psutil_counter_with_task_stop")
    t0 = time.monotonic()
    stop = h.wait_job(h.submit(TOMATO / "psutil_counter_with_task_stop.yml")["id"])
    assert stop["status"] == "c"
    counts = points(stop["respath"])
    assert counts["psutil"] == 10
    # The 20 s counter task stops when "trigger" starts, 3 s in.
    assert 2 <= counts["counter"] <= 4, counts
    assert time.monotonic() - t0 < 10
    # Stopped by its trigger, as the payload says: that is a normal end.
    assert [t["state"] for t in stop["tasks"]] == ["completed"] * 3
    assert job_record(stop["respath"])["status"] == "c"
