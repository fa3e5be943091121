"""Job folders as the durable record of the jobs table (issue 13 items 1, 6):
ids never reused, the table rebuilt from the folders, a damaged file refused,
writes refused for a passing reason told apart from a statement's error."""

import json
import shutil
import sqlite3
from pathlib import Path

import msgspec
import pytest

from sugo.daemon import startup
from sugo.daemon.store import DamagedDatabase, JobRow, Store, is_locked, retryable
from sugo.errors import StoreError
from sugo.platform import oslock
from tests.unit.test_store import add


def _record(row: JobRow) -> JobRow:
    return msgspec.json.decode((Path(row.jobdir) / "job.json").read_bytes(), type=JobRow)


def test_every_job_change_reaches_its_folder(tmp_path: Path) -> None:
    with Store(tmp_path / "sugo.db") as store:
        row = add(store, tmp_path)
        assert Path(row.jobdir).is_dir() and _record(row) == row
        row = store.set_job_status(row.id, "r")
        row = store.update_job(row.id, pipeline="p1", runner_pid=42, runner_started=1.5)
        assert _record(row) == row
        row = store.set_job_status(row.id, "c")
        row = store.update_job(row.id, respath="/x/results.1.nc")
        assert _record(row) == row == store.get_job(row.id)


def test_a_folder_on_disk_is_never_reused(tmp_path: Path) -> None:
    (tmp_path / "jobs" / "7").mkdir(parents=True)
    with Store(tmp_path / "sugo.db") as store:
        first = add(store, tmp_path)
        assert first.id == 8  # after the highest folder there was at open
        (tmp_path / "jobs" / "9").mkdir()  # one that appears later
        second = add(store, tmp_path)
        assert second.id == 10 and second.jobdir == str(tmp_path / "jobs" / "10")
        assert store.get_job(9) is None


def test_ids_survive_pruned_folders_and_a_lost_database(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        for _ in range(3):
            last = add(store, tmp_path)
    for folder in (tmp_path / "jobs").iterdir():
        if folder.is_dir():
            shutil.rmtree(folder)
    with Store(tmp_path / "b.db") as store:
        assert add(store, tmp_path).id == last.id + 1


def test_rebuild_restores_what_the_folders_say(tmp_path: Path) -> None:
    storage = tmp_path / "jobs"
    with Store(tmp_path / "old.db") as store:
        done = store.set_job_status(store.set_job_status(add(store, tmp_path).id, "r").id, "c")
        done = store.update_job(done.id, respath="/r/results.1.nc", pipeline="p1")
        ended = store.set_job_status(add(store, tmp_path, jobname="ended").id, "r")
        queued = store.set_job_status(add(store, tmp_path, jobname="q").id, "qw")
    # The runner of job 2 recorded its end; the database never did.
    final = {"status": "ce", "error": "boom", "respath": "/r/results.2.nc"}
    (Path(ended.jobdir) / "final.json").write_text(json.dumps(final))
    (storage / "99").mkdir()  # a folder of an older sugo: no record

    with Store(tmp_path / "new.db") as store:
        report = startup.rebuild(store, storage)
        assert report.restored == [done.id, ended.id, queued.id]
        assert list(report.skipped) == [99]
        assert store.get_job(done.id) == done
        back = store.get_job(ended.id)
        assert back is not None
        assert (back.status, back.error, back.respath) == ("ce", "boom", "/r/results.2.nc")
        assert back.completed_at is not None
        again = store.get_job(queued.id)
        assert again is not None and again.status == "q" and again.payload == queued.payload
        assert [t.state for t in store.tasks_of(queued.id)] == ["pending"] * 3
        assert store.tasks_of(done.id) == []
        assert startup.rebuild(store, storage).restored == []  # nothing twice
        assert add(store, tmp_path).id == 100


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "sugo.db"
    with Store(db) as store:
        for _ in range(50):
            add(store, tmp_path)
        store.prune_events(0)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    page = 4096
    data[2 * page + 8 : 3 * page] = b"\x5a" * (page - 8)  # a page of the jobs table
    db.write_bytes(bytes(data))
    with pytest.raises(DamagedDatabase):
        Store(db, check=True).close()
    db.write_bytes(b"not a database at all" * 300)
    with pytest.raises(DamagedDatabase):
        Store(db, check=True).close()


def test_rebuild_offline_moves_a_damaged_file_aside(tmp_path: Path) -> None:
    db, storage = tmp_path / "data" / "sugo.db", tmp_path / "data" / "jobs"
    with Store(db) as store:
        row = add(store, tmp_path, jobdir_root=storage)
    db.write_bytes(b"garbage" * 1000)
    done = startup.rebuild_offline(tmp_path, db, storage)
    assert done.report.restored == [row.id]
    assert done.moved[0].name.startswith("sugo.db.damaged-")
    with Store(db) as store:
        assert store.get_job(row.id) == row
    with (
        oslock.acquire(oslock.lock_path(tmp_path), 1, 9271),
        pytest.raises(oslock.LockHeld) as held,
    ):
        startup.rebuild_offline(tmp_path, db, storage)
    assert held.value.holder == oslock.Holder(1, 9271)


def test_a_refused_write_is_retryable_and_shown_until_one_succeeds(tmp_path: Path) -> None:
    recovered: list[str] = []
    with Store(tmp_path / "sugo.db") as store:
        store.on_recovered = lambda error, since: recovered.append(error)
        row = add(store, tmp_path)
        # A read-only database, as after a remount: every write is refused.
        store._conn.execute("PRAGMA query_only = 1")
        with pytest.raises(StoreError) as refused:
            store.set_job_status(row.id, "r")
        assert retryable(refused.value) and not is_locked(refused.value)
        assert store.write_problem is not None and "readonly" in store.write_problem[0]
        # A statement's own error is not worth retrying.
        store._conn.execute("PRAGMA query_only = 0")
        with pytest.raises(StoreError) as illegal:
            store.set_job_status(row.id, "qw")
            store.set_job_status(row.id, "c")
        assert not retryable(illegal.value)
        assert store.write_problem is None and recovered and "readonly" in recovered[0]
        assert store.get_job(row.id).status == "qw"  # type: ignore[union-attr]
