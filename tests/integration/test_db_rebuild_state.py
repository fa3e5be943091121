"""After a lost database everything comes back, not just the job rows: the
jobs' tasks (``tasks.json`` in each job folder) and what the pipelines hold
(``pipelines.json`` beside the job folders); an unusable record is reported,
not fatal."""

import json
from pathlib import Path
from typing import Any

import pytest

from sugo.config.defaults import render_devices
from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness
from tests.integration.test_db_rebuild import _delete_database, _run_one
from tests.integration.test_jobs_lifecycle import payload

pytestmark = pytest.mark.integration


def _pipelines(h: DaemonHarness) -> dict[str, tuple[Any, ...]]:
    return {p["name"]: (p["sample"], p["ready"], p["jobid"]) for p in h.status()["pipelines"]}


def _daemon_log(h: DaemonHarness) -> str:
    return "".join(f.read_text() for f in (h.appdir / "logs").glob("daemon*") if f.is_file())


def _pipelines_file(h: DaemonHarness) -> Path:
    return h.appdir / "data" / "jobs" / "pipelines.json"


def _lab(h: DaemonHarness) -> tuple[dict, dict]:
    """A finished two-step job, a job cancelled while queued, and samples
    loaded: one ready, one not, one left by the job."""
    h.load_ready("pip-counter-1", "first")
    job = h.submit(payload("first", ("counter", 0.4, 0.1), ("counter", 0.4, 0.1)))
    done = h.wait_job(job["id"], timeout=30)
    assert done["status"] == "c" and [t["state"] for t in done["tasks"]] == ["completed"] * 2
    queued = h.submit(payload("nobody-holds-it", ("counter", 0.4, 0.1)))
    assert h.call(api.Cancel(ids=[queued["id"]]))["cancelled"] == [queued["id"]]
    h.load_ready("pip-counter-2", "second")
    h.call(api.PipelineLoad(pipeline="pip-counter-3", sample="third"))
    h.call(api.PipelineLoad(pipeline="pip-demo", sample="demo"))
    return h.job(done["id"]), h.job(queued["id"])


def test_tasks_and_pipelines_back_after_the_database_is_deleted(tmp_path: Path) -> None:
    h = DaemonHarness(tmp_path)
    h.start()
    try:
        done, cancelled = _lab(h)
        before = _pipelines(h)
        assert before["pip-counter-2"] == ("second", True, None)
        h.stop()
        _delete_database(h)

        h.start()
        assert h.job(done["id"])["tasks"] == done["tasks"]
        assert h.job(cancelled["id"])["tasks"] == cancelled["tasks"]
        assert [t["state"] for t in cancelled["tasks"]] == ["cancelled"]
        assert _pipelines(h) == before
        notices = h.status()["notices"]
        assert any("pipeline(s) restored" in n for n in notices), notices
        # A job for a sample loaded before the loss starts on its pipeline.
        again = h.submit(payload("second", ("counter", 0.4, 0.1)))
        ran = h.wait_job(again["id"], timeout=30)
        assert ran["status"] == "c" and ran["pipeline"] == "pip-counter-2"
    finally:
        h.stop()


def test_db_rebuild_reports_a_damaged_tasks_record_and_follows_the_devices(
    tmp_path: Path,
) -> None:
    h = DaemonHarness(tmp_path)
    h.start()
    try:
        done, cancelled = _lab(h)
        waiting = h.submit(payload("not-loaded", ("counter", 0.4, 0.1)))
        before = _pipelines(h)
        h.stop()
        _delete_database(h)
        (Path(cancelled["jobdir"]) / "tasks.json").write_text('[{"jobid": ')  # half written
        # The demo pipeline left the devices file while the daemon was down.
        devices = render_devices()
        demo = devices.index("# Two roles on two drivers")
        (h.appdir / "devices.toml").write_text(devices[:demo])

        rebuilt = h.cli("--json", "db", "rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr
        report = json.loads(rebuilt.stdout)
        assert report["restored"] == [done["id"], cancelled["id"], waiting["id"]]
        assert list(report["partial"]) == [str(cancelled["id"])]
        assert "tasks.json" in report["partial"][str(cancelled["id"])]
        assert sorted(report["pipelines"]) == sorted(before)

        h.start()
        assert h.job(done["id"])["tasks"] == done["tasks"]
        assert h.job(cancelled["id"])["tasks"] == []  # unusable: reported, not guessed
        assert [t["state"] for t in h.job(waiting["id"])["tasks"]] == ["pending"]
        del before["pip-demo"]
        assert _pipelines(h) == before
        assert "pipeline pip-demo removed: not in the devices file" in _daemon_log(h)
        assert h.status()["notices"] == []  # nothing left to restore at start
    finally:
        h.stop()


def test_a_damaged_pipelines_record_is_reported_and_kept_aside(tmp_path: Path) -> None:
    h = DaemonHarness(tmp_path)
    h.start()
    try:
        old = _run_one(h, "first", "kept")
        h.stop()
        _delete_database(h)
        _pipelines_file(h).write_text('[{"name": "pip-counter-1", "components"')

        h.start()
        notices = h.status()["notices"]
        assert any("pipelines not restored" in n and "unreadable" in n for n in notices), notices
        assert h.job(old["id"])["tasks"] == old["tasks"]  # the jobs came back all the same
        assert all(p[0] is None for p in _pipelines(h).values())
        aside = list(_pipelines_file(h).parent.glob("pipelines.json.damaged-*"))
        assert len(aside) == 1 and aside[0].read_text().startswith('[{"name"')
    finally:
        h.stop()


def test_a_pipeline_is_not_left_held_by_a_job_that_ended(tmp_path: Path) -> None:
    """The record says a job holds the pipeline (a daemon killed before the
    job's end freed it): the job has ended, so the rebuild frees it, ready
    again as the job asked (unlock_when_done)."""
    h = DaemonHarness(tmp_path)
    h.start()
    try:
        h.load_ready("pip-counter-1", "first")
        job = h.submit(payload("first", ("counter", 0.4, 0.1), unlock_when_done="true"))
        done = h.wait_job(job["id"], timeout=30)
        assert done["status"] == "c"
        h.stop()
        _delete_database(h)
        record = json.loads(_pipelines_file(h).read_text())
        for p in record:
            if p["name"] == "pip-counter-1":
                p.update(jobid=done["id"], ready=False)
        _pipelines_file(h).write_text(json.dumps(record))

        h.start()
        assert _pipelines(h)["pip-counter-1"] == ("first", True, None)
        assert f"pipeline pip-counter-1 freed: job {done['id']} has ended (c)" in _daemon_log(h)
    finally:
        h.stop()
