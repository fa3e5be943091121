"""watch, plot, check and the driver kit against a real daemon."""

import json
import re
import struct
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from sugo.cli.frame import wrap
from sugo.cli.jobview import RoleData, RolePlan, TaskPlan
from sugo.cli.progress import bar, fmt_number, fmt_seconds, job_eta, role_progress
from sugo.cli.screen import clip
from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, free_port, wait_for

pytestmark = pytest.mark.integration


def counter_job(seconds: float, technique: str = "count", params: str = "{}") -> str:
    return f"""\
[sample]
identifier = "S-1"

[[method]]
component_role = "counter"
technique_name = "{technique}"
max_duration = {seconds}
sampling_interval = 0.1
task_name = "first"
task_params = {params}

[[method]]
component_role = "counter"
technique_name = "random"
max_duration = {seconds}
sampling_interval = 0.1
task_params = {{ min = 2.0, max = 5.0 }}
"""


#: A plain progress line of `sugo job watch` for the counter role.
PROGRESS = re.compile(r"counter: task (?P<task>\d)/2 \S+ (?P<state>\w+) .* (?P<points>\d+) points")


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


# -- watch ---------------------------------------------------------------------------


def test_watch_prints_progress_lines_then_the_final_status(
    daemon: DaemonHarness, tmp_path: Path
) -> None:
    daemon.load_ready("pip-counter-1", "S-1")
    job = daemon.submit(counter_job(1.2))
    run = daemon.cli("job", "watch", str(job["id"]), "--every", "0.3")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    progress = [
        (int(m["task"]), m["state"], int(m["points"]))
        for line in lines
        if (m := PROGRESS.search(line))
    ]  # fmt: skip
    assert any(state == "running" and points > 0 for _, state, points in progress), run.stdout
    assert any(task == 2 for task, _, _ in progress), run.stdout
    counts = [points for _, _, points in progress]
    assert counts == sorted(counts), "points so far never go down"
    assert "value=" in run.stdout  # the latest values, with units
    respath = daemon.job(job["id"])["respath"]
    assert lines[-2:] == [f"job {job['id']} ended completed (c) in {lines[-2].split(' in ')[-1]}",
                          f"results: {respath}"]  # fmt: skip

    again = daemon.cli("--json", "job", "watch", str(job["id"]))
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "c"


def test_submit_watch_ends_with_the_status_and_fails_when_the_job_does(
    daemon: DaemonHarness, tmp_path: Path
) -> None:
    daemon.load_ready("pip-counter-2", "S-2")
    payload = tmp_path / "job.toml"
    payload.write_text(counter_job(0.3).replace("S-1", "S-2"))
    run = daemon.cli("submit", str(payload), "--watch")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("job 1 submitted\n")
    assert "job 1 ended completed (c)" in run.stdout and "results: " in run.stdout

    # No pipeline holds sample S-9: the job waits, is cancelled, and watch says so.
    queued = daemon.submit(counter_job(0.3).replace("S-1", "S-9"))
    assert daemon.cli("cancel", str(queued["id"])).returncode == 0
    run = daemon.cli("job", "watch", str(queued["id"]))
    assert run.returncode == 1
    assert f"job {queued['id']} ended cancelled (cd)" in run.stdout
    assert run.stderr.strip() == f"sugo: job {queued['id']} ended cd"


# -- plot ----------------------------------------------------------------------------


def test_plot_of_a_running_and_of_a_finished_job(daemon: DaemonHarness, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="sugo[plot] (matplotlib) is not installed")
    daemon.load_ready("pip-counter-1", "S-1")
    job = daemon.submit(counter_job(1.2))
    staging = Path(job["jobdir"]) / "staging"
    wait_for(lambda: any(f.stat().st_size for f in staging.glob("*.rec")), 10, "staged data")
    running = daemon.cli(
        "--json",
        "job",
        "plot",
        str(job["id"]),
        "-o",
        str(tmp_path / "run.png"),
        "--size",
        "640x480",
    )
    assert running.returncode == 0, running.stderr
    doc = json.loads(running.stdout)
    assert doc["source"] == "staging" and doc["points"]["counter"] > 0
    assert png_size(tmp_path / "run.png") == (640, 480)

    daemon.wait_job(job["id"], ("c",))
    done = daemon.cli("--json", "job", "plot", str(job["id"]), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["source"] == "results" and doc["points"] == {"counter": 24}
    # One role, two panels (value and param in s; max and min without units).
    assert png_size(tmp_path / f"plot.{job['id']}.png") == (1200, 60 + 50 + 2 * 200)


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "matplotlib.py").write_text("raise ImportError('no matplotlib here')\n")
    run = subprocess.run(
        [sys.executable, "-m", "sugo.cli.main", "--port", str(free_port()), "job", "plot", "1"],
        capture_output=True, text=True, timeout=30, check=False,
        env={"PYTHONPATH": str(blocker), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert run.returncode == 1
    assert "pip install 'sugo[plot]'" in run.stderr


# -- check ---------------------------------------------------------------------------


def test_check_against_the_daemons_pipelines(daemon: DaemonHarness, tmp_path: Path) -> None:
    daemon.load_ready("pip-counter-1", "S-1")
    good = tmp_path / "good.toml"
    good.write_text(counter_job(1.0))
    run = daemon.cli("check", str(good))
    assert run.returncode == 0, run.stderr
    assert re.search(r"pip-counter-1\s+can run it now", run.stdout)
    assert re.search(r"pip-counter-2\s+can run it once sample 'S-1' is loaded", run.stdout)
    assert re.search(r"pip-demo\s+can run it once", run.stdout)

    unrunnable = tmp_path / "fly.toml"
    unrunnable.write_text(counter_job(1.0, technique="fly"))
    run = daemon.cli("check", str(unrunnable))
    assert run.returncode == 1
    assert re.search(
        r"pip-counter-1\s+cannot: role 'counter' .* has no technique 'fly'", run.stdout
    )
    [reason] = run.stderr.strip().splitlines()
    assert f"no pipeline of the daemon on port {daemon.port} can run" in reason

    refused = tmp_path / "pink.toml"
    refused.write_text(counter_job(1.0, params='{ choice = "pink" }'))
    run = daemon.cli("--json", "check", str(refused))
    assert run.returncode == 1
    doc = json.loads(run.stdout)
    reasons = {p["name"]: p["reason"] for p in doc["pipelines"]}
    assert "method[0] (counter)" in reasons["pip-counter-1"] and "pink" in reasons["pip-counter-1"]
    assert doc["error"].startswith("no pipeline")


# -- the driver kit --------------------------------------------------------------------

VOLT_DEVICES = """\
[[devices]]
name = "dev-volt"
driver = "volt"
address = "sim"
channels = ["1"]
pollrate = 0.2

[[pipelines]]
name = "pip-volt"
devices = [{ role = "source", device = "dev-volt", channel = "1" }]
"""

VOLT_JOB = """\
[sample]
identifier = "S-1"

[[method]]
component_role = "source"
technique_name = "ramp"
max_duration = 1.0
sampling_interval = 0.1
task_params = { voltage = "1 V", rate = "2 V/s" }
"""


def _venv(root: Path) -> Path:
    """A venv that sees the test environment's packages (through a .pth
    file), so the scaffolded driver installs offline without its dependencies."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = root / "lib" / version / "site-packages"
    parent = sysconfig.get_path("purelib")
    (site / "_test_parent.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return root / "bin" / "python"


@pytest.mark.timeout(120)
def test_a_scaffolded_driver_installs_passes_its_tests_and_runs_a_job(
    make_daemon: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_daemon(devices_text=VOLT_DEVICES, start=False)
    made = h.cli("driver", "new", "volt", "--dir", str(tmp_path / "pkg"))
    assert made.returncode == 0, made.stderr
    python = _venv(tmp_path / "venv")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-build-isolation", "--no-index", "-q", str(tmp_path / "pkg")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    own = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "pkg")],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path / "pkg",
    )  # fmt: skip
    assert own.returncode == 0, own.stdout + own.stderr
    assert "5 passed" in own.stdout

    # The daemon (and its driver hosts) run in the venv, where the entry point is.
    with monkeypatch.context() as m:
        m.setattr(sys, "executable", str(python))
        h.start()
    assert any(c["name"] == "volt:(sim,1)" for c in h.status()["components"])
    h.load_ready("pip-volt", "S-1")
    job = h.submit(VOLT_JOB)
    done = h.wait_job(job["id"], timeout=30)
    assert done["status"] == "c", done["error"]

    import h5netcdf

    with h5netcdf.File(done["respath"], "r") as f:
        source = f.groups["source"]
        assert source.variables["voltage"].attrs["units"] == "V"
        assert source.variables["current"].attrs["units"] == "mA"
        volts = source.variables["voltage"][:]
    assert len(volts) == 10 and volts[-1] > volts[0] + 1.0


# -- the watch view's parts, without a daemon ----------------------------------------------


def _plan_role() -> RolePlan:
    return RolePlan(
        "counter",
        "counter:(sim,1)",
        [TaskPlan(0, "count", "warmup", 10.0, 0.5), TaskPlan(2, "random", None, 20.0, 0.5)],
    )


def task(
    index: int, state: str, started: float | None = None, ended: float | None = None
) -> api.TaskInfo:
    return api.TaskInfo(index, "counter", "count", state, started_at=started, ended_at=ended)


def test_role_progress_follows_the_task_states() -> None:
    role, now = _plan_role(), 1000.0
    data = RoleData("counter", points=7, latest={"value": np.float64(3.0)}, units={"value": "s"})
    pending = role_progress(role, {0: task(0, "pending"), 2: task(2, "pending")}, None, now, True)
    assert (pending.task_no, pending.state, pending.elapsed, pending.remaining) == (
        1,
        "pending",
        0.0,
        30.0,
    )
    states = {0: task(0, "completed", 980.0, 990.0), 2: task(2, "running", 992.0)}
    running = role_progress(role, states, data, now, True)
    assert (running.task_no, running.n_tasks, running.label) == (2, 2, "random")
    assert (running.elapsed, running.duration, running.remaining) == (8.0, 20.0, 12.0)
    assert running.points == 7 and running.values == [("value", "3 s")]
    states[2] = task(2, "completed", 992.0, 1012.0)
    done = role_progress(role, states, data, now + 30, False)
    assert (done.task_no, done.state, done.elapsed, done.remaining) == (2, "completed", 20.0, 0.0)
    # No task states (a daemon restarted): the staged data says which task runs.
    data.last_task = 2
    guessed = role_progress(role, {}, data, now, True)
    assert (guessed.task_no, guessed.state, guessed.elapsed) == (2, "running", None)
    assert job_eta([pending, running]) == 30.0 and job_eta([]) is None


def test_values_numbers_lines_and_bars_fit_the_screen() -> None:
    assert fmt_number(np.float64(24105.63)) == "24105.6"
    assert fmt_number(np.float64(2.0)) == "2" and fmt_number(np.float64(0.012345)) == "0.01235"
    assert fmt_number(np.int64(3)) == "3" and fmt_number(np.zeros((2, 3))) == "[6 values]"
    assert fmt_number(np.float64("nan")) == "nan" and fmt_number(np.str_("red")) == "red"
    assert (
        fmt_seconds(7.04) == "7.0 s"
        and fmt_seconds(125) == "2:05"
        and fmt_seconds(3725) == "1:02:05"
    )
    assert bar(0.5, 10) == "█████░░░░░" and bar(2.0, 4) == "████" and bar(-1, 3) == "░░░"
    rows = wrap([("a", "1"), ("bb", "22"), ("c", "333")], 12)
    assert rows == [[("a", "1"), ("bb", "22")], [("c", "333")]]
    assert wrap([("long", "x" * 30)], 10) == [[("long", "x" * 30)]]
    painted = "\033[1mbold\033[0m and plain"
    assert clip(painted, 6) == "\033[1mbold\033[0m a\033[0m"
    assert clip(painted, 100) == painted
