"""Issue 13's parts tried together, as an adversarial lab would: a SIGTERM to
the daemon while jobs end, a database lost with hosts still running."""

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.integration.harness import DaemonHarness, process_alive, wait_for
from tests.integration.results import points
from tests.integration.test_admission import cli_submit, job_ids
from tests.integration.test_admission import payload as payload_admission
from tests.integration.test_db_faults import _fill, small_disk  # noqa: F401 (a fixture)
from tests.integration.test_jobs_lifecycle import payload
from tests.integration.test_recovery import running_with_data

pytestmark = pytest.mark.integration


def test_tasks_that_end_while_the_daemon_is_down_keep_their_outcome(
    daemon: DaemonHarness,
) -> None:
    """SIGTERM (systemd's restart) while a job runs; the job ends before the
    next start. `sugo jobs ID` said "cancelled, 0 points" for tasks that
    completed with all their points: their events went to no daemon."""
    daemon.load_ready("pip-counter-1", "t")
    job = daemon.submit(payload("t", ("counter", 1, 0.1), ("counter", 1.5, 0.1)))
    job = running_with_data(daemon, job["id"])
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGTERM)
    daemon.proc.wait(10)
    # The runner finishes alone: it writes the results and final.json.
    final = Path(job["jobdir"]) / "final.json"
    wait_for(final.exists, 20, "the runner to end the job without the daemon")
    daemon.start()
    done = daemon.wait_job(job["id"], timeout=20)
    assert done["status"] == "c", done
    assert points(done["respath"]) == {"counter": 25}
    tasks = [(t["state"], t["points"], t["error"]) for t in done["tasks"]]
    assert tasks == [("completed", 10, None), ("completed", 15, None)], done["tasks"]
    assert all(t["ended_at"] for t in done["tasks"])


def test_database_lost_after_a_sigterm_reattaches_the_running_hosts(
    daemon: DaemonHarness,
) -> None:
    """SIGTERM leaves the hosts running; the database (where the daemon kept
    their pids) is then deleted. The next start spawned a second host per
    driver beside the old ones, which lived on for good: two processes on one
    instrument."""
    daemon.load_ready("pip-counter-1", "t")
    job = running_with_data(daemon, daemon.submit(payload("t", ("counter", 3, 0.1)))["id"])
    hosts = {d["name"]: d["pid"] for d in daemon.status()["drivers"]}
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGTERM)
    daemon.proc.wait(10)
    for f in (daemon.appdir / "data").glob("sugo.db*"):
        f.unlink()
    daemon.start()
    assert {d["name"]: d["pid"] for d in daemon.status()["drivers"]} == hosts
    done = daemon.wait_job(job["id"], timeout=20)
    assert done["status"] == "c", done
    assert points(done["respath"]) == {"counter": 30}
    # (the harness's stop asserts that no process of the daemon survives)


def test_a_host_that_does_not_answer_at_start_is_replaced_not_left_running(
    daemon: DaemonHarness,
) -> None:
    """A host of the previous daemon that is alive but silent (SIGSTOPped: a
    hung driver) was left running beside its replacement."""
    old = daemon.driver_pid("counter")
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGTERM)
    daemon.proc.wait(10)
    os.kill(old, signal.SIGSTOP)
    daemon.start()
    wait_for(lambda: daemon.driver_pid("counter") != old, 10, "a new counter host")
    wait_for(lambda: not process_alive(old), 5, f"the silent host {old} to be killed")
    daemon.load_ready("pip-counter-1", "t")
    done = daemon.wait_job(daemon.submit(payload("t", ("counter", 0.5, 0.1)))["id"], timeout=20)
    assert done["status"] == "c", done


def test_a_prefix_that_is_a_later_jobs_default_name_is_refused(
    daemon: DaemonHarness, tmp_path: Path
) -> None:
    """Job 1 named its results `results.2`; job 2, submitted from the same
    folder without a prefix, then wrote `results.2.nc` over job 1's data and
    `sugo jobs 1` named a file holding job 2's (item 3, by the default name)."""
    folder = tmp_path / "work"
    for key, name in (
        ("output", "results.2"),
        ("output", "snapshot.5"),
        ("snapshot", "results.17"),
    ):
        text = payload_admission(snapshot=f'prefix = "{name}"') if key == "snapshot" else None
        code, out, err = cli_submit(daemon, folder, text or payload_admission(name))
        assert code == 1, (name, out)
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert (
            f"{key}.prefix {name!r} is the name sugo gives job {name.split('.')[1]}'s"
            f" {name.split('.')[0]} file by default; give another {key}.prefix"
        ) in lines[0], lines
    assert job_ids(daemon) == []
    # A name that only looks alike is fine.
    code, _, err = cli_submit(daemon, folder, payload_admission("results.2b"))
    assert code == 0, err


def test_job_plot_puts_each_tasks_units_on_their_own_panel(daemon: DaemonHarness) -> None:
    """The counter's `value` is seconds in `count` and unitless in `random`;
    the results file says so per task (item 12), but `sugo job plot` read
    only `units` and drew both on one "(no units)" panel."""
    from sugo.cli.plot import from_results, from_staging

    daemon.load_ready("pip-counter-1", "u")
    # count, then random: the second task's technique replaced
    text = 'technique_name = "random"'.join(
        payload("u", ("counter", 0.5, 0.1), ("counter", 0.5, 0.1)).rsplit(
            'technique_name = "count"', 1
        )
    )
    done = daemon.wait_job(daemon.submit(text)["id"], timeout=30)
    assert done["status"] == "c", done
    for series in (from_results(Path(done["respath"])), from_staging(Path(done["jobdir"]))):
        counter = next(s for s in series if s.role == "counter")
        panels = {units: [counter.label(n) for n in names] for units, names in counter.panels()}
        assert "value" in panels["s"] and "value" in panels[""], panels
        seconds = next(n for n in counter.panels()[0][1] if counter.label(n) == "value")
        # The seconds series holds the count task's points only.
        task_of_points = counter.task[~np.isnan(counter.variables[seconds])]
        assert set(task_of_points.tolist()) == {0}, task_of_points


def test_cancel_of_a_hung_task_follows_the_settings_stop_timeout(make_daemon) -> None:
    """A hung `do_task` (item 7) cancelled (item 8) with `stop_timeout = 1`:
    the driver host waited its own 5 s at the stop and again at the forced
    stop, so the cancel took ~11 s, not the ~2 s the setting promises."""
    from sugo.protocol import daemon_api as api
    from tests.integration.test_runtime_edges import FAULTY, faulty_payload

    h = make_daemon(FAULTY, extra_settings="\n[drivers.faulty]\nstop_timeout = 1.0\n")
    h.load_ready("pip-f", "s")
    job = h.submit(faulty_payload("s", 60, hang_after=3, hang_seconds=30))
    wait_for(lambda: "blocks for" in _host_log(h), 10, "do_task to hang")
    t0 = time.monotonic()
    h.call(api.Cancel(ids=[job["id"]]))
    done = h.wait_job(job["id"], timeout=30)
    took = time.monotonic() - t0
    assert done["status"] == "cd", done
    assert points(done["respath"]) == {"counter": 3}
    assert took < 5, f"the cancel took {took:.1f} s"


def _host_log(h: DaemonHarness) -> str:
    return (h.appdir / "logs" / f"driver-faulty-{h.port}.log").read_text()


def test_start_on_a_full_disk_under_the_database_is_one_clear_line(
    tmp_path: Path,
    small_disk: Path,  # noqa: F811 (the fixture imported above)
) -> None:
    """SIGTERM (item 4), the disk under the database full (item 6), then
    `sugo start`: the daemon died on its first write with a traceback."""
    h = DaemonHarness(tmp_path)
    sfile = h.appdir / "settings.toml"
    sfile.write_text(
        sfile.read_text().replace(str(h.appdir / "data" / "sugo.db"), str(small_disk / "sugo.db"))
    )
    h.start()
    try:
        hosts = [d["pid"] for d in h.status()["drivers"]]
        assert h.proc is not None
        os.kill(h.proc.pid, signal.SIGTERM)
        h.proc.wait(10)
        _fill(small_disk / "filler")
        started = h.cli("start", "--timeout", "20")
        assert started.returncode == 1, started.stdout + started.stderr
        lines = [line for line in started.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, started.stderr
        assert f"the database {small_disk / 'sugo.db'} refuses writes" in lines[0], lines
        assert "free space" in lines[0], lines
        assert "Traceback" not in (h.appdir / "logs" / f"daemon-{h.port}.out").read_text()
        assert all(process_alive(p) for p in hosts)  # left for the next start, as SIGTERM left them
        (small_disk / "filler").unlink()
        h.start()
        assert sorted(d["pid"] for d in h.status()["drivers"]) == sorted(hosts)
    finally:
        h.stop()


def test_a_job_ending_on_a_disk_full_under_database_and_job_folder_keeps_its_reason(
    tmp_path: Path,
    small_disk: Path,  # noqa: F811 (the fixture imported above)
) -> None:
    """The default layout keeps the database and the job folders in one data
    folder. When its disk fills, the runner can neither record the job's end
    in final.json nor have the daemon record it; it gave up after 30 s, and
    the daemon then ended the job `ce` "job runner died unexpectedly", the
    real reason (no space to stage data) lost."""
    h = DaemonHarness(tmp_path)
    sfile = h.appdir / "settings.toml"
    text = sfile.read_text().replace(
        str(h.appdir / "data" / "sugo.db"), str(small_disk / "sugo.db")
    )
    sfile.write_text(text.replace(str(h.appdir / "data" / "jobs"), str(small_disk / "jobs")))
    h.start()
    try:
        h.load_ready("pip-counter-1", "f")
        job = running_with_data(h, h.submit(payload("f", ("counter", 120, 0.1)))["id"])
        _fill(small_disk / "filler")
        # Past the runner's 30 s of telling the daemon, it is still there.
        from sugo.jobs.runner import DONE_DEADLINE

        until = time.monotonic() + DONE_DEADLINE + 5
        while time.monotonic() < until:
            assert process_alive(job["runner_pid"]), "the runner gave up with nobody told"
            time.sleep(0.5)
        assert h.job(job["id"])["status"] == "r"
        (small_disk / "filler").unlink()
        done = h.wait_job(job["id"], timeout=30)
        assert done["status"] == "ce", done
        assert "cannot stage data" in done["error"] and "No space left" in done["error"], done
    finally:
        h.stop()
