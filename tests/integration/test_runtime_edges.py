"""Real-lab mishaps at run time (issue 13, items 4, 7, 8): a SIGTERM to the
daemon, a hung `do_task`, a slow reset and a component that ignores stop."""

import os
import signal

import psutil
import pytest

from tests.integration.harness import DaemonHarness
from tests.integration.results import points
from tests.integration.test_jobs_lifecycle import payload
from tests.integration.test_recovery import running_with_data

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_sigterm_to_the_daemon_leaves_running_jobs_as_a_sigkill_does(
    daemon: DaemonHarness,
) -> None:
    daemon.load_ready("pip-counter-1", "t")
    job = running_with_data(daemon, daemon.submit(payload("t", ("counter", 3, 0.1)))["id"])
    host = daemon.driver_pid("counter")
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGTERM)  # kill PID, systemd, an OS shutdown
    daemon.proc.wait(10)
    # The runner and the driver hosts go on without the daemon...
    assert _alive(job["runner_pid"]) and _alive(host)
    log = (daemon.appdir / "logs" / f"daemon-{daemon.port}.log").read_text()
    assert "SIGTERM: leaving 1 running job and 2 driver hosts running" in log
    assert "`sugo start` re-attaches" in log
    # ...and the next start re-attaches: the job ends `c` with every point.
    daemon.start()
    assert daemon.driver_pid("counter") == host
    done = daemon.wait_job(job["id"], timeout=20)
    assert done["status"] == "c", done
    assert points(done["respath"]) == {"counter": 30}
