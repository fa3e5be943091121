"""Issue 13 item 1: a lost or damaged database loses no history, and a job
folder (or results file) is never reused."""

import hashlib
import json
from pathlib import Path

import psutil
import pytest

from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, wait_for
from tests.integration.results import job_record, points
from tests.integration.test_jobs_lifecycle import payload

pytestmark = pytest.mark.integration

FIELDS = ("id", "jobname", "status", "sample", "user", "pipeline", "submitted_at", "started_at",
          "completed_at", "respath", "jobdir", "error")  # fmt: skip


def _run_one(h: DaemonHarness, sample: str, name: str) -> dict:
    # (a sample loaded before a lost database is still loaded after it)
    h.call(api.PipelineEject(pipeline="pip-counter-1"))
    h.load_ready("pip-counter-1", sample)
    job = h.submit(payload(sample, ("counter", 0.5, 0.1)), jobname=name)
    done = h.wait_job(job["id"], timeout=30)
    assert done["status"] == "c", done
    wait_for(lambda: Path(done["respath"]).exists(), 10, "the results file")
    return done


def _delete_database(h: DaemonHarness) -> None:
    for f in (h.appdir / "data").glob("sugo.db*"):
        f.unlink()


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _processes_naming(port: int) -> list[int]:
    needle = f"127.0.0.1:{port}"
    return [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "cmdline"])
        if needle in " ".join(p.info["cmdline"] or [])
        or f"--port {port}" in " ".join(p.info["cmdline"] or [])
    ]


def test_database_deleted_between_two_jobs(tmp_path: Path) -> None:
    h = DaemonHarness(tmp_path)
    h.start()
    try:
        old = _run_one(h, "first", "before the loss")
        old_digest = _digest(old["respath"])
        h.stop()
        _delete_database(h)

        h.start()
        # The old job's history is back, with a notice in status and events.
        back = h.job(old["id"])
        assert {k: back[k] for k in FIELDS} == {k: old[k] for k in FIELDS}
        notices = h.status()["notices"]
        assert any("restored" in n and "1 job" in n for n in notices), notices
        kinds = [e["kind"] for e in h.call(api.Events(after=0))["events"]]
        assert "database.rebuilt" in kinds

        new = _run_one(h, "second", "after the loss")
        assert new["id"] == old["id"] + 1
        assert new["jobdir"] != old["jobdir"] and new["respath"] != old["respath"]
        # The new job has its own data; the old results file is untouched.
        assert job_record(new["respath"])["id"] == new["id"]
        assert job_record(new["respath"])["submitted_at"] >= old["completed_at"]
        assert points(new["respath"])["counter"] == 5
        assert _digest(old["respath"]) == old_digest
    finally:
        h.stop()


def test_ids_continue_after_folders_without_a_record(tmp_path: Path) -> None:
    """Folders the rebuild cannot use (an older sugo's) still hold their ids."""
    h = DaemonHarness(tmp_path)
    h.start()
    try:
        old = _run_one(h, "first", "old")
        h.stop()
        _delete_database(h)
        (Path(old["jobdir"]) / "job.json").unlink()
        h.start()
        assert h.call(api.Jobs())["jobs"] == []
        new = _run_one(h, "second", "new")
        assert new["id"] == old["id"] + 1
    finally:
        h.stop()


def test_damaged_database_refused_then_rebuilt(tmp_path: Path) -> None:
    h = DaemonHarness(tmp_path)
    h.start()
    try:
        old = _run_one(h, "first", "kept")
        h.stop()
        db = h.appdir / "data" / "sugo.db"
        # Garbage over the pages after the header (and the header of a second one).
        data = bytearray(db.read_bytes())
        data[100:] = b"\xa5" * (len(data) - 100)
        db.write_bytes(bytes(data))

        started = h.cli("start", "--timeout", "20")
        leaked = _processes_naming(h.port)
        for pid in leaked:
            psutil.Process(pid).kill()
        assert started.returncode == 1, started.stdout + started.stderr
        lines = [line for line in started.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "sugo db rebuild" in lines[0], started.stderr
        assert "Traceback" not in (h.appdir / "logs" / f"daemon-{h.port}.out").read_text()
        assert leaked == [], "a process of the refused daemon still runs"

        rebuilt = h.cli("--json", "db", "rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr
        report = json.loads(rebuilt.stdout)
        assert report["restored"] == [old["id"]]
        assert len(report["moved_aside"]) >= 1
        assert all(Path(p).exists() for p in report["moved_aside"])

        h.start()
        back = h.job(old["id"])
        assert {k: back[k] for k in FIELDS} == {k: old[k] for k in FIELDS}
        assert h.status()["notices"] == []  # nothing left to restore at start
    finally:
        h.stop()


def test_rebuild_refused_while_the_daemon_runs(daemon: DaemonHarness) -> None:
    done = daemon.cli("db", "rebuild")
    assert done.returncode == 1
    assert f"port {daemon.port}" in done.stderr and "stop it first" in done.stderr, done.stderr
