"""Issue 13 item 6: a database that refuses writes (here: a full disk under
it) delays changes but loses none, and leaves no job or pipeline stuck."""

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, process_alive, wait_for
from tests.integration.test_jobs_lifecycle import payload

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs (needs root and mount(8): CI has both)."""
    where = tmp_path / "dbdisk"
    where.mkdir()
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux (CI runs as root)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(where)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(filler: Path) -> None:
    """Fill the file system of ``filler`` to the last byte."""
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)


def test_full_disk_under_the_database(tmp_path: Path, small_disk: Path) -> None:
    h = DaemonHarness(tmp_path)
    sfile = h.appdir / "settings.toml"
    db = small_disk / "sugo.db"
    sfile.write_text(sfile.read_text().replace(str(h.appdir / "data" / "sugo.db"), str(db)))
    h.start()
    filler = small_disk / "filler"
    try:
        h.load_ready("pip-counter-1", "s")
        text = payload("s", ("counter", 2, 0.1), unlock_when_done="true")
        first = h.submit(text)
        second = h.submit(text)  # queued behind the first, on the same pipeline
        running = h.wait_job(first["id"], ("r",), timeout=10)
        _fill(filler)

        # The runner ends the job; the database cannot record it, the runner
        # gives up telling after its deadline and exits. Meanwhile the problem
        # shows in `sugo status`.
        wait_for(
            lambda: any("refuses writes" in n for n in h.status()["notices"]),
            15, "the database problem in sugo status",
        )  # fmt: skip
        shown = h.cli("status")
        assert "refuses writes" in shown.stdout, shown.stdout
        final = Path(running["jobdir"]) / "final.json"
        wait_for(final.exists, 15, "the runner's final.json")
        wait_for(
            lambda: not process_alive(running["runner_pid"]),
            45, "the runner to give up and exit",
        )  # fmt: skip
        assert h.job(first["id"])["status"] == "r"  # not recorded yet: the disk is full

        filler.unlink()
        # Recorded once the disk has room: the job ends as its runner said,
        # the pipeline is freed and the queued job runs.
        done = h.wait_job(first["id"], timeout=10)
        assert done["status"] == "c", done
        assert h.wait_job(second["id"], timeout=30)["status"] == "c"
        events = h.call(api.Events(after=0, limit=10000))["events"]
        failed = [e for e in events if e["kind"] == "database.write_failed"]
        assert failed and failed[0]["data"]["seconds"] > 30, failed
        assert not any("refuses writes" in n for n in h.status()["notices"])
    finally:
        filler.unlink(missing_ok=True)
        h.stop()


def test_start_frees_a_pipeline_held_by_an_ended_job(tmp_path: Path) -> None:
    """What a lost write at a job's end leaves (the job ended, its pipeline and
    components still held) is repaired by the next start."""
    import sqlite3

    h = DaemonHarness(tmp_path)
    h.start()
    try:
        h.load_ready("pip-counter-1", "s")
        first = h.wait_job(h.submit(payload("s", ("counter", 0.3, 0.1)))["id"], timeout=20)
        assert first["status"] == "c"
        h.stop()
        with contextlib.closing(sqlite3.connect(h.appdir / "data" / "sugo.db")) as conn, conn:
            conn.execute(
                "UPDATE jobs SET status = 'ce', error = 'runner lost' WHERE id = ?", (first["id"],)
            )
            conn.execute(
                "UPDATE pipelines SET jobid = ?, ready = 0 WHERE name = 'pip-counter-1'",
                (first["id"],),
            )
            conn.execute("UPDATE components SET state = 'busy' WHERE name LIKE 'counter:%'")

        h.start()
        p = next(p for p in h.status()["pipelines"] if p["name"] == "pip-counter-1")
        assert p["jobid"] is None
        assert any("pip-counter-1 freed" in n for n in h.status()["notices"])
        events = h.call(api.Events(after=0, limit=10000))["events"]
        assert any(e["kind"] == "pipeline.freed" and e["data"].get("repaired") for e in events)
        h.call(api.PipelineReady(pipeline="pip-counter-1"))
        second = h.submit(payload("s", ("counter", 0.3, 0.1)))
        assert h.wait_job(second["id"], timeout=20)["status"] == "c"
    finally:
        h.stop()
