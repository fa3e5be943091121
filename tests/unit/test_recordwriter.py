"""The daemon's record files are written off its loop thread: every change
reaches the file, the newest content wins, a pruned folder stays gone, and a
close writes what is pending."""

import threading
from pathlib import Path

from sugo.daemon.store import Store
from sugo.daemon.store.recordwriter import RecordWriter
from sugo.protocol.states import JobStatus


def test_background_writes_land_newest_last_and_close_flushes(tmp_path: Path) -> None:
    writer = RecordWriter(background=True)
    folder = tmp_path / "jobs" / "1"
    folder.mkdir(parents=True)
    record = folder / "job.json"
    for i in range(50):
        writer.write(record, f"{i}".encode())
    assert writer.flush(5.0)
    assert record.read_text() == "49"
    assert writer._thread is not None and writer._thread.name == "records"
    assert writer._thread is not threading.current_thread()
    gone = tmp_path / "jobs" / "2" / "job.json"  # a pruned job's folder
    writer.write(gone, b"x")
    writer.write(record, b"last")
    writer.close()  # writes what is pending
    assert record.read_text() == "last" and not gone.parent.exists()
    writer.write(record, b"after")  # after a close: at once
    assert record.read_text() == "after"


def test_the_daemons_store_writes_records_in_the_background(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite", storage=tmp_path / "jobs", background_records=True)
    job = store.add_job(
        payload_json="{}", jobname=None, sample="s", user="u", output_dir=str(tmp_path),
        prefix=None, unlock_when_done=False, jobdir_root=tmp_path / "jobs",
    )  # fmt: skip
    store.set_job_status(job.id, JobStatus.QW)
    store.close()  # the last change is on disk once the store is closed
    assert '"status":"qw"' in (Path(job.jobdir) / "job.json").read_text()
