"""The records a lost database is rebuilt from besides ``job.json``: each job's
tasks (``tasks.json``) and what the pipelines hold (``pipelines.json``)."""

import json
from pathlib import Path

import pytest

from sugo.daemon import startup
from sugo.daemon.store import Store, TaskRow, pipelinerecords, taskrecords
from tests.unit.test_store import add


def _tasks(store: Store, jobid: int) -> list[TaskRow]:
    store.add_tasks([TaskRow(jobid, i, "counter", "count", "pending") for i in range(3)])
    return store.tasks_of(jobid)


def test_every_task_change_reaches_the_job_folder(tmp_path: Path) -> None:
    with Store(tmp_path / "sugo.db") as store:
        job = add(store, tmp_path)
        _tasks(store, job.id)
        assert not (Path(job.jobdir) / "tasks.json").exists()  # none at submit
        store.set_job_status(job.id, "r")
        store.update_task(job.id, 0, state="running", started_at=1.0)
        store.update_task(job.id, 0, state="completed", ended_at=2.0, points=7)
        store.update_task(job.id, 1, state="running", started_at=2.0)
        recorded = taskrecords.load(Path(job.jobdir), job.id)
        assert recorded == store.tasks_of(job.id)
        assert [t.state for t in recorded] == ["completed", "running", "pending"]


def test_a_rebuild_restores_tasks_and_ends_those_a_final_json_ended(tmp_path: Path) -> None:
    storage = tmp_path / "jobs"
    with Store(tmp_path / "old.db") as store:
        ran = store.set_job_status(add(store, tmp_path).id, "r")
        _tasks(store, ran.id)
        store.update_task(ran.id, 0, state="running", started_at=1.0)
        store.update_task(ran.id, 0, state="completed", ended_at=2.0, points=5)
        store.update_task(ran.id, 1, state="running", started_at=2.0)
        died = store.set_job_status(add(store, tmp_path).id, "r")
        _tasks(store, died.id)
        store.update_task(died.id, 0, state="running", started_at=1.0)
        queued = add(store, tmp_path)
        before = store.tasks_of(ran.id)
    # The runner of `ran` recorded its end (task 1 with 9 points); the database never did.
    final = {"status": "c", "respath": "/r/1.nc", "tasks": [
        {"index": 1, "state": "completed", "points": 9, "ended_at": 3.0}]}  # fmt: skip
    (Path(ran.jobdir) / "final.json").write_text(json.dumps(final))
    (Path(died.jobdir) / "tasks.json").write_bytes(b"\x00garbage")

    with Store(tmp_path / "new.db") as store:
        report = startup.rebuild(store, storage)
        assert report.restored == [ran.id, died.id, queued.id]
        assert list(report.partial) == [died.id] and "tasks.json" in report.partial[died.id]
        assert "restored without their tasks" in report.summary()
        back = store.tasks_of(ran.id)
        assert back[0] == before[0]
        assert (back[1].state, back[1].points, back[1].ended_at) == ("completed", 9, 3.0)
        assert back[2].state == "cancelled"  # never started
        # Unusable record: an unfinished job's tasks come from its payload.
        assert [t.state for t in store.tasks_of(died.id)] == ["pending"] * 3
        assert [t.state for t in store.tasks_of(queued.id)] == ["pending"] * 3


def test_every_pipeline_change_reaches_the_record(tmp_path: Path) -> None:
    storage = tmp_path / "jobs"
    with Store(tmp_path / "sugo.db", storage=storage) as store:
        store.upsert_pipeline("p1", {"counter": "c1"})
        store.upsert_pipeline("p2", {"counter": "c2"})
        store.set_pipeline("p1", sample="s1")
        store.set_pipeline("p1", ready=True)
        store.upsert_pipeline("gone", {"counter": "c3"})
        store.delete_pipeline("gone")
        assert pipelinerecords.load(storage) == store.list_pipelines()
        assert [(p.name, p.sample, p.ready) for p in store.list_pipelines()] == [
            ("p1", "s1", True), ("p2", None, False)]  # fmt: skip


def test_a_rebuild_restores_pipelines_and_frees_those_of_ended_jobs(tmp_path: Path) -> None:
    storage = tmp_path / "jobs"
    with Store(tmp_path / "old.db", storage=storage) as store:
        running = store.set_job_status(add(store, tmp_path).id, "r")
        ended = store.set_job_status(add(store, tmp_path, unlock_when_done=True).id, "r")
        for name, job in (("p1", running), ("p2", ended), ("p3", None)):
            store.upsert_pipeline(name, {"counter": name})
            store.set_pipeline(name, sample=f"s-{name}", jobid=job.id if job else None)
        store.set_pipeline("p3", ready=True)
        # Its end is recorded, but not the release of its pipeline (a daemon killed between).
        store.set_job_status(ended.id, "c")

    with Store(tmp_path / "new.db", storage=storage) as store:
        report = startup.rebuild(store, storage)
        assert report.pipelines == ["p1", "p2", "p3"]
        got = {p.name: (p.sample, p.ready, p.jobid) for p in store.list_pipelines()}
        assert got == {
            "p1": ("s-p1", False, running.id),
            "p2": ("s-p2", True, None),  # freed, ready again as the job asked
            "p3": ("s-p3", True, None),
        }
        assert startup.rebuild(store, storage).pipelines == []  # not twice


def test_a_damaged_pipelines_record_is_reported_and_moved_aside(tmp_path: Path) -> None:
    storage = tmp_path / "jobs"
    storage.mkdir()
    (storage / "pipelines.json").write_text('[{"name": 1}]')
    assert pipelinerecords.worth_restoring(storage)
    with Store(tmp_path / "sugo.db", storage=storage) as store:
        report = startup.rebuild(store, storage)
        assert report.pipelines == [] and report.pipelines_problem
        assert "pipelines.json" in report.pipelines_problem
        assert "pipelines not restored" in report.summary()
    aside = list(storage.glob("pipelines.json.damaged-*"))
    assert len(aside) == 1 and aside[0].read_text() == '[{"name": 1}]'
    assert not pipelinerecords.worth_restoring(storage)


def test_a_task_record_of_another_job_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "3"
    folder.mkdir()
    taskrecords.save(folder, [TaskRow(4, 0, "counter", "count", "pending")])
    with pytest.raises(ValueError, match="job 4"):
        taskrecords.load(folder, 3)
    taskrecords.save(folder, [TaskRow(3, 0, "counter", "count", "dancing")])
    with pytest.raises(ValueError, match="dancing"):
        taskrecords.load(folder, 3)
