"""The first hour of a new user (issue 18) and the edges of issue 13 (items 9
and 14), against a real daemon: why a job waits, unhealthy components, names
that hold control characters, Ctrl-C, broken pipes, plots from files, reload,
log levels."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sugo.cli.output import width
from sugo.client import SugoClient
from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, wait_for

pytestmark = pytest.mark.integration


def job_toml(sample: str, seconds: float = 0.5, role: str = "counter") -> str:
    return f"""\
[sample]
identifier = {json.dumps(sample)}

[[method]]
component_role = "{role}"
technique_name = "count"
max_duration = {seconds}
sampling_interval = 0.1
"""


FAULTY_DEVICES = """
[[devices]]
name = "dev-faulty"
driver = "faulty"
address = "f"
channels = ["1"]
pollrate = 0.1

[[pipelines]]
name = "pip-f"
devices = [{ role = "f", device = "dev-faulty", channel = "1" }]
"""


def sugo_env(h: DaemonHarness) -> dict[str, str]:
    return {**os.environ, "SUGO_PORT": str(h.port), "SUGO_APPDIR": str(h.appdir)}


# -- 18.3: every queued job says why it waits, per pipeline ---------------------------


def test_a_queued_job_says_why_it_waits_on_each_pipeline(daemon: DaemonHarness) -> None:
    daemon.load_ready("pip-counter-1", "S-1")
    running = daemon.submit(job_toml("S-1", seconds=30))
    daemon.wait_job(running["id"], ("r",))
    daemon.call(api.PipelineLoad(pipeline="pip-counter-2", sample="S-2"))
    daemon.call(api.PipelineLoad(pipeline="pip-counter-3", sample="S-1"))  # not ready
    queued = daemon.submit(job_toml("S-1"))

    reasons = daemon.job(queued["id"])["waiting_for"]
    assert reasons == {
        "pip-counter-1": f"busy with job {running['id']}",
        "pip-counter-2": "holds another sample, 'S-2', not 'S-1'",
        "pip-counter-3": "not ready (sugo pipeline ready pip-counter-3)",
        "pip-counter-4": "no sample loaded (sugo pipeline load pip-counter-4 S-1)",
        "pip-demo": "no sample loaded (sugo pipeline load pip-demo S-1)",
    }
    # The one-line summary names the first pipelines and how many more there are.
    with SugoClient(daemon.port, daemon.appdir, timeout=5) as client:
        job = client.job(queued["id"])
    assert job.waiting_for == reasons
    assert job.waiting is not None and job.waiting.startswith(
        f"pip-counter-1: busy with job {running['id']}; pip-counter-2: holds another"
    )
    assert job.waiting.endswith("and 2 more pipeline(s)")
    # A client that waits too long is told why the job waits.
    with (
        SugoClient(daemon.port, daemon.appdir, timeout=5) as client,
        pytest.raises(TimeoutError) as timeout,
    ):
        client.wait([queued["id"]], timeout=0.2)
    assert f"not ended: {queued['id']} (qw: pip-counter-1: busy with job" in str(timeout.value)
    assert "pip-counter-3: not ready (sugo pipeline ready pip-counter-3)" in str(timeout.value)

    shown = daemon.cli("jobs", str(queued["id"]))
    assert shown.returncode == 0, shown.stderr
    for pipeline, why in reasons.items():
        assert f"job {queued['id']}: waiting on {pipeline}: {why}" in shown.stdout

    # Readying pip-counter-3 is what it waited for: it starts there.
    daemon.call(api.PipelineReady(pipeline="pip-counter-3"))
    assert daemon.wait_job(queued["id"], ("r", "c"), timeout=10)["pipeline"] == "pip-counter-3"
    started = daemon.job(queued["id"])  # only queued jobs wait
    assert (started["waiting"], started["waiting_for"]) == (None, {})
    daemon.call(api.Cancel(ids=[running["id"]]))


# -- 13.9: an unhealthy (3xx) component gets no new job ----------------------------------


def test_an_unplugged_component_gets_no_job_until_it_answers_again(make_daemon) -> None:
    h = make_daemon(FAULTY_DEVICES)
    unplug = api.ComponentCall(
        name="faulty:(f,1)", verb="dev_set_attr", args={"attr": "unplugged", "val": True}
    )
    h.call(unplug)

    def code() -> int:
        return next(c["code"] for c in h.status()["components"] if c["name"] == "faulty:(f,1)")

    wait_for(lambda: code() == 310, 10, "the health check to see the unplugged device")
    h.load_ready("pip-f", "s")
    job = h.submit(job_toml("s", role="f"))
    why = wait_for(lambda: h.job(job["id"])["waiting_for"].get("pip-f"), 5, "a reason")
    assert why.startswith("component faulty:(f,1) (role 'f') is unhealthy (310 not answering")
    time.sleep(0.5)  # a scheduling pass or two: it must still wait
    assert h.job(job["id"])["status"] == "qw"
    shown = h.cli("jobs", str(job["id"]))
    assert f"job {job['id']}: waiting on pip-f: component faulty:(f,1)" in shown.stdout

    # Plugged in again: the next health check clears it and the job runs.
    h.call(
        api.ComponentCall(
            name="faulty:(f,1)", verb="dev_set_attr", args={"attr": "unplugged", "val": False}
        )
    )
    assert h.wait_job(job["id"], timeout=20)["status"] == "c"


# -- 13.14: control characters in names never reach the terminal raw ------------------------


def test_names_with_newlines_nul_and_escapes_are_shown_escaped(
    daemon: DaemonHarness, tmp_path: Path
) -> None:
    sample = "S\x1b]0;owned\x07-1"  # an OSC sequence that would retitle the terminal
    name = "two\nlines\x00\x1b[31mred"
    daemon.load_ready("pip-counter-1", sample)
    job = daemon.submit(job_toml(sample, seconds=0.3), jobname=name)
    daemon.wait_job(job["id"])
    for args in (
        ("jobs",),
        ("jobs", str(job["id"])),
        ("search", "two"),
        ("job", "watch", str(job["id"])),
        ("status", "pipelines"),
    ):
        run = daemon.cli(*args)
        assert run.returncode == 0, (args, run.stderr)
        assert "\x1b" not in run.stdout and "\x00" not in run.stdout and "\x07" not in run.stdout
        assert "two\\nlines\\0\\e[31mred" in run.stdout or args == ("status", "pipelines")
        assert "S\\e]0;owned\\x07-1" in run.stdout, (args, run.stdout)
    for args in (("pipeline", "load", "pip-counter-2", sample), ("events", "--last", "30")):
        run = daemon.cli(*args)
        assert run.returncode == 0, (args, run.stderr)
        assert "\x1b" not in run.stdout and "S\\e]0;owned\\x07-1" in run.stdout, run.stdout
    table = daemon.cli("jobs").stdout.splitlines()
    assert len(table) == 2, table  # the header and one row: the newline did not break it
    # JSON keeps the exact text.
    doc = json.loads(daemon.cli("--json", "jobs", str(job["id"])).stdout)
    assert doc["jobs"][0]["jobname"] == name and doc["jobs"][0]["sample"] == sample


def test_wide_characters_keep_the_columns_aligned(daemon: DaemonHarness) -> None:
    daemon.submit(job_toml("S-9"), jobname="🧪 sample 日本")
    daemon.submit(job_toml("S-9"), jobname="plain")
    lines = daemon.cli("jobs").stdout.splitlines()
    # STATUS starts in the same terminal column on every line (q or qw).
    words = [" STATUS", " q", " q"]
    columns = {width(line[: line.index(word)]) for line, word in zip(lines, words, strict=True)}
    assert len(columns) == 1, lines


# -- 18.6: a reader that hangs up -----------------------------------------------------------


def run_into_closed_pipe(h: DaemonHarness, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `sugo ARGS` with stdout a pipe whose reader is already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "sugo.cli.main", *args],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=30,
            env=sugo_env(h), check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)


def test_a_reader_that_hangs_up_ends_the_command_quietly(daemon: DaemonHarness) -> None:
    for _ in range(3):
        daemon.submit(job_toml("S-9"))
    for args in (("jobs",), ("--json", "jobs"), ("status",), ("events", "--follow")):
        run = run_into_closed_pipe(daemon, *args)
        assert (run.returncode, run.stderr) == (0, ""), args
    # `sugo jobs | head -1` in a shell.
    shell = subprocess.run(
        "set -o pipefail; sugo_() { " + sys.executable + " -m sugo.cli.main \"$@\"; };"
        " for i in 1 2 3 4 5 6 7 8; do sugo_ jobs; done | head -1",
        shell=True, executable="/bin/bash", capture_output=True, text=True,
        env=sugo_env(daemon), timeout=60, check=False,
    )  # fmt: skip
    assert shell.stdout.startswith("ID") and "Errno" not in shell.stderr, shell.stderr
    assert shell.stderr == ""


# -- 18.4: Ctrl-C while watching says the job runs on -------------------------------------


def test_ctrl_c_during_watch_says_the_job_goes_on(daemon: DaemonHarness) -> None:
    daemon.load_ready("pip-counter-1", "S-1")
    job = daemon.submit(job_toml("S-1", seconds=30))
    daemon.wait_job(job["id"], ("r",))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sugo.cli.main", "job", "watch", str(job["id"]), "--every", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sugo_env(daemon),
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("[")  # watching
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    jid = job["id"]
    # The status is asked for (a loaded box may not answer in time: then it is left out).
    assert err.strip() in (
        f"sugo: stopped watching; job {jid}{now} goes on without you:"
        f" 'sugo job watch {jid}' follows it again, 'sugo cancel {jid}' stops it"
        for now in (" is still running (r) and", "")
    ), err
    assert daemon.job(jid)["status"] == "r"
    daemon.call(api.Cancel(ids=[jid]))


# -- 18.5: plots from files, without a daemon --------------------------------------------


def tomato_results(path: Path) -> Path:
    """A results file in tomato 2.x's layout: a DataTree with one group per
    role along `uts`, the job in `tomato_Job`, the component in `tomato_Component`."""
    import h5netcdf
    import numpy as np

    with h5netcdf.File(path, "w") as f:
        f.attrs["tomato_version"] = "2.1"
        f.attrs["tomato_Job"] = json.dumps(
            {"id": 7, "jobname": "ramp", "status": "c", "payload": {"sample": {"name": "olive"}}}
        )
        g = f.create_group("counter")
        g.attrs["tomato_Component"] = json.dumps({"name": "example_counter:(x,1)"})
        g.dimensions["uts"] = 20
        uts = g.create_variable("uts", ("uts",), float)
        uts[:] = 1.7e9 + np.arange(20) * 0.5
        val = g.create_variable("val", ("uts",), float)
        val[:] = np.arange(20) / 2
        val.attrs["units"] = "s"
    return path


def test_plot_takes_results_files_and_needs_no_daemon(
    daemon: DaemonHarness, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib", reason="sugo[plot] (matplotlib) is not installed")
    daemon.load_ready("pip-counter-1", "S-1")
    job = daemon.submit(job_toml("S-1", seconds=0.5), cwd=tmp_path)
    daemon.wait_job(job["id"], ("c",))
    daemon.stop()

    by_id = daemon.cli("--json", "job", "plot", str(job["id"]), cwd=tmp_path)
    assert by_id.returncode == 0, by_id.stderr
    assert json.loads(by_id.stdout)["source"] == "results"
    assert f"no daemon on port {daemon.port}; plotting job {job['id']}" in by_id.stderr
    assert (tmp_path / f"plot.{job['id']}.png").stat().st_size > 0

    by_file = daemon.cli("--json", "job", "plot", f"results.{job['id']}.nc", cwd=tmp_path)
    assert by_file.returncode == 0, by_file.stderr
    assert json.loads(by_file.stdout)["points"] == {"counter": 5}

    tomato = tomato_results(tmp_path / "results.7.nc")
    run = daemon.cli("--json", "job", "plot", str(tomato), "-o", "t.png", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["points"] == {"counter": 20}
    assert (tmp_path / "t.png").stat().st_size > 0

    missing = daemon.cli("job", "plot", "nope.nc", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "sugo: nope.nc: no such file (give a job id or a results file)"


# -- 18.6: reload returns once a new driver is up -----------------------------------------


def test_reload_returns_once_a_new_driver_is_up(make_daemon) -> None:
    counter_only = """
[[devices]]
name = "dev-counter"
driver = "counter"
address = "sim"
channels = ["1"]

[[pipelines]]
name = "pip-counter"
devices = [{ role = "counter", device = "dev-counter", channel = "1" }]
"""
    h = make_daemon(counter_only)
    (h.appdir / "devices.toml").write_text(counter_only + FAULTY_DEVICES)
    run = h.cli("reload")
    assert run.returncode == 0, run.stderr
    assert "drivers added: faulty" in run.stdout and "still starting" not in run.stdout
    status = h.status()
    assert {d["name"]: d["state"] for d in status["drivers"]}["faulty"] == "ready"
    assert {c["name"]: c["state"] for c in status["components"]}["faulty:(f,1)"] == "idle"


# -- 18.7: log levels reach the daemon and the driver hosts ---------------------------------


def _levels(path: Path) -> set[str]:
    return {line.split()[2] for line in path.read_text().splitlines() if len(line.split()) > 2}


@pytest.mark.parametrize(
    ("flags", "settings", "debug", "info"),
    [
        (("-v",), "", True, True),
        (("-q",), "", False, False),
        (("--verbosity", "debug"), "", True, True),
        ((), '\n[logging]\nlevel = "DEBUG"\n', True, True),
        ((), "", False, True),
    ],
)
def test_start_log_level_reaches_the_daemon_and_driver_hosts(
    tmp_path: Path, flags: tuple[str, ...], settings: str, debug: bool, info: bool
) -> None:
    h = DaemonHarness(tmp_path, extra_settings=settings)
    up = h.cli("start", *flags)
    try:
        assert up.returncode == 0, up.stderr
        logs = h.appdir / "logs"
        for log in (logs / f"daemon-{h.port}.log", logs / f"driver-counter-{h.port}.log"):
            levels = _levels(log)
            assert ("DEBUG" in levels) is debug, (log.name, levels)
            assert ("INFO" in levels) is info, (log.name, levels)
    finally:
        h.cli("stop", "--force")


# -- 13.14: a job folder deleted mid-job ---------------------------------------------------


def test_a_job_folder_deleted_mid_job_is_not_said_to_keep_the_data(
    daemon: DaemonHarness,
) -> None:
    import shutil

    daemon.load_ready("pip-counter-1", "S-1")
    job = daemon.submit(job_toml("S-1", seconds=2))
    staging = Path(job["jobdir"]) / "staging"
    wait_for(lambda: any(f.stat().st_size for f in staging.glob("*.rec")), 10, "staged data")
    shutil.rmtree(job["jobdir"])
    ended = daemon.wait_job(job["id"], timeout=30)
    assert ended["status"] == "ce"
    assert "the data is kept in" not in ended["error"]
    assert f"no staged data is left: the job folder {job['jobdir']} was removed" in ended["error"]
