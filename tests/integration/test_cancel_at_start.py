"""A cancel that reaches a job runner while it starts ends the job `cd`.

The daemon sets the job to `rd` and tells its runner (a signal in the fast
process mode, a reply to its control request in the portable one). A runner
that had not yet taken its control requests when the cancel came was killed
by the signal, and the job ended `ce` ("job runner died unexpectedly").
"""

from pathlib import Path

import pytest

from sugo.jobs.folder import job_log
from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, wait_for
from tests.integration.results import job_record, points

pytestmark = pytest.mark.integration

PAYLOAD = """version = "2.2"
sample = { identifier = "early" }
[[method]]
component_role = "counter"
technique_name = "count"
max_duration = 30
sampling_interval = 0.05
"""


def _running(daemon: DaemonHarness, jobid: int) -> bool:
    """Poll the job's status as fast as the daemon answers (no sleep): the
    runner is forked in the loop callback that sets the job `r`, so a cancel
    sent the moment `r` is seen reaches it within its first milliseconds."""
    with daemon.client() as c:
        while True:
            status = c.call(api.Jobs(ids=[jobid]))["jobs"][0]["status"]
            if status != "qw":
                return bool(status == "r")


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _assert_cancelled(daemon: DaemonHarness, jobid: int) -> None:
    done = daemon.wait_job(jobid, timeout=30)
    log = _text(job_log(done["jobdir"]))
    assert done["status"] == "cd", f"{done}\n{log}\n{daemon.logs()}"
    assert done["error"] is None
    assert [t["state"] for t in done["tasks"]] == ["cancelled"]
    # The results file is written with whatever points the job had (none, or a few).
    assert done["respath"] and job_record(done["respath"])["status"] == "cd"
    assert points(done["respath"]).get("counter", 0) < 600
    # The pipeline is free again, the component idle.
    pipeline = next(p for p in daemon.status()["pipelines"] if p["name"] == "pip-counter-1")
    assert pipeline["jobid"] is None


@pytest.mark.both_modes
def test_cancel_in_the_first_milliseconds_of_a_runner(daemon: DaemonHarness) -> None:
    daemon.load_ready("pip-counter-1", "early")
    for _ in range(3):  # each a fresh runner: the race is at every start
        job = daemon.submit(PAYLOAD)
        if not _running(daemon, job["id"]):
            pytest.fail(f"job {job['id']} did not start: {daemon.job(job['id'])}")
        assert daemon.call(api.Cancel(ids=[job["id"]]))["cancelled"] == [job["id"]]
        _assert_cancelled(daemon, job["id"])
        daemon.call(api.PipelineReady(pipeline="pip-counter-1"))


@pytest.mark.both_modes
def test_cancel_after_the_runner_has_its_spec(daemon: DaemonHarness) -> None:
    """Between the spec and the first task (the components' reset at the start)."""
    daemon.load_ready("pip-counter-1", "early")
    job = daemon.submit(PAYLOAD)
    jobdir = Path(daemon.job(job["id"])["jobdir"])
    wait_for(
        lambda: "running 1 role(s)" in _text(job_log(jobdir)),
        10,
        "the runner to have its spec",
        every=0.002,
    )
    assert daemon.call(api.Cancel(ids=[job["id"]]))["cancelled"] == [job["id"]]
    _assert_cancelled(daemon, job["id"])
