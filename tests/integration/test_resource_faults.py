"""Resource faults: an unwritable output folder, a full disk, a locked database.

The job ends `ce` with an error that says what happened, its staged data is
kept, the daemon keeps serving, and once the cause is gone `sugo job rebuild
ID` writes the results file from the staging store. A database locked by
another process gives quick error replies naming the lock and loses nothing.
"""

import contextlib
import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sugo.daemon.store as store_module
from sugo.daemon.store import Store
from sugo.errors import RequestFailed, StoreError
from sugo.jobs.staging import summarise
from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, wait_for
from tests.integration.results import points
from tests.integration.test_jobs_lifecycle import payload

pytestmark = pytest.mark.integration

IS_ROOT = os.geteuid() == 0
NO_SPACE = os.strerror(errno.ENOSPC)


def staged(job: dict) -> dict[str, int]:
    """Points per role in the job's staging store."""
    return {role: s.points for role, s in summarise(Path(job["jobdir"])).items()}


@contextlib.contextmanager
def small_fs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path``; skipped where mounting is impossible."""
    if not IS_ROOT:
        pytest.skip("mounting a small filesystem needs root")
    path.mkdir(parents=True, exist_ok=True)
    got = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if got.returncode:
        pytest.skip(f"cannot mount a tmpfs: {got.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def output_folder(path: Path) -> Iterator[Path]:
    """A folder that `set_writable` can make read-only (root ignores mode bits,
    so as root it is its own filesystem, remounted read-only)."""
    if IS_ROOT:
        with small_fs(path, "4m") as folder:
            yield folder
    else:
        path.mkdir()
        try:
            yield path
        finally:
            path.chmod(0o700)


def set_writable(folder: Path, writable: bool) -> None:
    if IS_ROOT:
        mode = "rw" if writable else "ro"
        subprocess.run(["mount", "-o", f"remount,{mode}", str(folder)], check=True)
    else:
        folder.chmod(0o700 if writable else 0o500)


def fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` up to its last byte; returns the filler."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        block = b"\0" * 4096
        while True:
            os.write(fd, block)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
    return filler


def with_output(path: Path, *tasks: tuple[str, float, float]) -> str:
    return payload("s", *tasks, output=f'{{ path = "{path}" }}')


def running_with_data(h: DaemonHarness, jobid: int) -> dict:
    return wait_for(
        lambda: (j := h.job(jobid))["status"] == "r" and sum(staged(j).values()) > 0 and j,
        10,
        f"job {jobid} to stage data",
    )


def test_output_folder_not_writable(daemon: DaemonHarness, tmp_path: Path) -> None:
    with output_folder(tmp_path / "out") as out:
        set_writable(out, False)
        # Refused at submit: better than a failed job at its end.
        with pytest.raises(RequestFailed, match="is not writable"):
            daemon.submit(with_output(out, ("counter", 0.5, 0.1)))
        assert daemon.call(api.Jobs())["jobs"] == []
        set_writable(out, True)
        daemon.load_ready("pip-counter-1", "s")
        job = daemon.submit(with_output(out, ("counter", 1, 0.1)))
        running_with_data(daemon, job["id"])
        set_writable(out, False)  # taken away while the job runs
        done = daemon.wait_job(job["id"], timeout=15)
        assert done["status"] == "ce" and not Path(done["respath"]).exists()
        reason = "Read-only file system" if IS_ROOT else "Permission denied"
        assert f"cannot write {out}/results.{job['id']}.nc: {reason};" in done["error"]
        assert f"sugo job rebuild {job['id']}" in done["error"]
        assert staged(done) == {"counter": 10}  # nothing polled was lost
        # The daemon keeps serving, and the pipeline is free again.
        pipeline = next(p for p in daemon.status()["pipelines"] if p["name"] == "pip-counter-1")
        assert pipeline["jobid"] is None
        # A rebuild while the cause remains says why it failed.
        with pytest.raises(RequestFailed, match=rf"rebuild failed: cannot write {out}"):
            daemon.call(api.JobRebuild(jobid=job["id"]), timeout=30)
        set_writable(out, True)
        got = daemon.cli("job", "rebuild", str(job["id"]))
        assert got.returncode == 0, got.stderr
        respath = got.stdout.strip()
        assert respath == str(out / f"results.{job['id']}.nc")
        assert points(respath) == {"counter": 10}
        assert daemon.job(job["id"])["respath"] == respath
        assert daemon.job(job["id"])["status"] == "ce"  # the record of what happened stays


def test_disk_full_when_the_results_are_written(daemon: DaemonHarness, tmp_path: Path) -> None:
    with small_fs(tmp_path / "full", "256k") as out:
        filler = fill(out)
        daemon.load_ready("pip-counter-2", "s")
        job = daemon.submit(with_output(out, ("counter", 0.5, 0.05)))
        done = daemon.wait_job(job["id"], timeout=15)
        assert done["status"] == "ce", done
        assert f"cannot write {out}/results.{job['id']}.nc: {NO_SPACE};" in done["error"]
        assert staged(done) == {"counter": 10}
        assert not list(out.glob("*.tmp")), "a temporary file was left on the full disk"
        filler.unlink()
        got = daemon.cli("--json", "job", "rebuild", str(job["id"]))
        assert got.returncode == 0, got.stderr
        assert points(out / f"results.{job['id']}.nc") == {"counter": 10}


def test_disk_full_while_staging(make_daemon, tmp_path: Path) -> None:
    with small_fs(tmp_path / "jobs", "512k") as storage:
        h = make_daemon(start=False)
        settings = h.appdir / "settings.toml"
        text = settings.read_text()
        old = next(line for line in text.splitlines() if line.startswith("storage ="))
        settings.write_text(text.replace(old, f'storage = "{storage}"'))
        h.start()
        h.load_ready("pip-counter-3", "s")
        job = running_with_data(h, h.submit(payload("s", ("counter", 20, 0.05)))["id"])
        fill(storage)
        done = h.wait_job(job["id"], timeout=15)
        assert done["status"] == "ce"
        assert done["error"] == f"counter: cannot stage data in {done['jobdir']}: {NO_SPACE}"
        # Every point that reached the staging store is in the results file.
        assert points(done["respath"]) == staged(done)
        assert 0 < staged(done)["counter"] < 400
        assert h.status()["pid"]  # still serving


@contextlib.contextmanager
def locked(db: Path) -> Iterator[None]:
    """Another process's exclusive lock on the daemon's database."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def test_database_locked_by_another_process(daemon: DaemonHarness) -> None:
    daemon.load_ready("pip-counter-4", "s")
    job = running_with_data(daemon, daemon.submit(payload("s", ("counter", 2, 0.1)))["id"])
    (daemon.root / "p.toml").write_text(payload("s", ("counter", 0.2, 0.1)))
    with locked(daemon.appdir / "data" / "sugo.db"):
        t0 = time.monotonic()
        # Reads are served; the first refused write waits out the busy timeout...
        assert daemon.cli("status").returncode == 0
        with pytest.raises(RequestFailed, match="is locked by another process"):
            daemon.call(api.PipelineLoad(pipeline="pip-counter-1", sample="x"))
        assert time.monotonic() - t0 < 8
        # ...the next ones fail fast: the daemon keeps answering.
        t1 = time.monotonic()
        got = daemon.cli("submit", "p.toml")
        assert got.returncode == 1
        assert "locked by another process" in got.stderr and got.stderr.count("\n") == 1
        assert time.monotonic() - t1 < 3
        # The job ends meanwhile; its end is recorded once the lock is gone.
        wait_for((Path(job["jobdir"]) / "final.json").exists, 10, "the runner to finish")
        assert daemon.job(job["id"])["status"] == "r"
    done = daemon.wait_job(job["id"], timeout=10)
    assert done["status"] == "c" and points(done["respath"]) == {"counter": 20}
    assert [j["id"] for j in daemon.call(api.Jobs())["jobs"]] == [job["id"]]  # no ghost job
    pipeline = next(p for p in daemon.status()["pipelines"] if p["name"] == "pip-counter-4")
    assert pipeline["jobid"] is None
    assert daemon.call(api.PipelineLoad(pipeline="pip-counter-1", sample="x"))["sample"] == "x"


def test_store_fails_fast_while_locked_then_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 300)
    store = Store(tmp_path / "sugo.db")
    try:
        with locked(tmp_path / "sugo.db"):
            t0 = time.monotonic()
            with pytest.raises(StoreError, match="is locked by another process") as first:
                store.set_meta("a", 1)
            assert store_module.is_locked(first.value)
            assert time.monotonic() - t0 >= 0.25  # the busy timeout was honoured once
            t1 = time.monotonic()
            with pytest.raises(StoreError, match="locked"):
                store.set_meta("a", 2)
            assert time.monotonic() - t1 < 0.25
            assert store.get_meta("a") is None  # reads still work
        store.set_meta("a", 3)
        assert store.get_meta("a") == 3
        assert store._busy_ms == 300  # back to the patient timeout
    finally:
        store.close()
