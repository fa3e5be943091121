"""Issue 13's parts tried together, as an adversarial lab would: a SIGTERM to
the daemon while jobs end, a database lost with hosts still running."""

import os
import signal
from pathlib import Path

import pytest

from tests.integration.harness import DaemonHarness, wait_for
from tests.integration.results import points
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
