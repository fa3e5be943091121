"""What a submit accepts, through the real daemon and the `sugo` command
(issue 13, items 3, 13 and 15): two jobs never share a results file, an
existing results file is never overwritten, file names and folders the job
could not write are refused at submit, snapshot settings are honoured, and
oversized or endless payloads get a clear line at once."""

import threading
import time
from pathlib import Path

import pytest

from sugo.daemon.jobs.admission import TEMP_NAME_EXTRA, name_max
from sugo.errors import RequestFailed
from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, wait_for
from tests.integration.results import job_record, points

pytestmark = pytest.mark.integration


def payload(prefix: str | None = None, points: int = 3, snapshot: str = "", path: str = "") -> str:
    lines = ['version = "2.2"', 'sample = { identifier = "s1" }']
    out = [f'prefix = "{prefix}"' if prefix is not None else "", f'path = "{path}"' if path else ""]
    if any(out):
        lines += ["[settings.output]", *[o for o in out if o]]
    if snapshot:
        lines += ["[settings.snapshot]", snapshot]
    lines += [
        "[[method]]",
        'component_role = "counter"',
        'technique_name = "count"',
        f"max_duration = {points * 0.1:.1f}",
        "sampling_interval = 0.1",
    ]
    return "\n".join(lines) + "\n"


def cli_submit(h: DaemonHarness, folder: Path, text: str) -> tuple[int, str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "p.toml").write_text(text)
    got = h.cli("submit", "p.toml", cwd=folder)
    return got.returncode, got.stdout, got.stderr


def job_ids(h: DaemonHarness) -> list[int]:
    return [j["id"] for j in h.call(api.Jobs(ids=[]))["jobs"]]


# -- item 3: two jobs, one results file ------------------------------------------------


def test_a_second_queued_job_with_the_same_results_file_is_refused(
    daemon: DaemonHarness, tmp_path: Path
) -> None:
    folder = tmp_path / "work"
    code, out, _ = cli_submit(daemon, folder, payload("run"))  # no pipeline ready: stays queued
    assert code == 0
    first = int(out.strip())
    code, out, err = cli_submit(daemon, folder, payload("run"))
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sugo: p.toml not queued: output.prefix: "), lines
    assert f"{folder / 'run.nc'}: job {first} (qw) writes its results there" in lines[0]
    assert "give this job another output.prefix" in lines[0]
    assert job_ids(daemon) == [first]  # nothing queued, nothing changed
    # The same prefix in another folder is another file: fine.
    code, _, err = cli_submit(daemon, tmp_path / "elsewhere", payload("run"))
    assert code == 0, err


def test_check_refuses_what_submit_refuses_and_queues_nothing(
    daemon: DaemonHarness, tmp_path: Path
) -> None:
    """`sugo check` asks the daemon for a dry run of submit: a payload whose
    results file a queued job will write fails the check as it fails a
    submit (before issue 15 the check passed it), and a check queues nothing."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "p.toml").write_text(payload("run"))
    got = daemon.cli("check", "p.toml", cwd=folder)
    assert got.returncode == 0, got.stderr
    assert job_ids(daemon) == []  # a check queues nothing
    code, out, _ = cli_submit(daemon, folder, payload("run"))
    assert code == 0
    first = int(out.strip())
    got = daemon.cli("check", "p.toml", cwd=folder)
    assert got.returncode == 1, got.stdout
    [line] = got.stderr.strip().splitlines()
    assert line.startswith("sugo: p.toml not queued: output.prefix: "), line
    assert f"job {first} (qw) writes its results there" in line
    assert job_ids(daemon) == [first]


def test_the_results_of_an_earlier_job_are_not_overwritten(
    daemon: DaemonHarness, tmp_path: Path
) -> None:
    daemon.load_ready("pip-counter-1", "s1")
    folder = tmp_path / "work"
    code, out, err = cli_submit(daemon, folder, payload("run", points=3))
    assert code == 0, err
    first = daemon.wait_job(int(out))
    assert first["status"] == "c"
    results = folder / "run.nc"
    before = results.read_bytes()
    daemon.load_ready("pip-counter-1", "s1")
    code, out, err = cli_submit(daemon, folder, payload("run", points=5))
    assert code == 1, out
    assert len(err.strip().splitlines()) == 1, err
    assert (
        f"output.prefix: {results} already exists (the results of job {first['id']});"
        " sugo does not overwrite it: give another output.prefix, or move the file away"
    ) in err, err
    assert results.read_bytes() == before
    assert points(results) == {"counter": 3}
    assert job_ids(daemon) == [first["id"]]
    # A file sugo did not write is kept as well.
    (folder / "notes.nc").write_text("mine")
    code, _, err = cli_submit(daemon, folder, payload("notes"))
    assert code == 1 and "notes.nc already exists; sugo does not overwrite it" in err
    assert (folder / "notes.nc").read_text() == "mine"


def test_two_submits_at_once_with_one_prefix_queue_one_job(
    daemon: DaemonHarness, tmp_path: Path
) -> None:
    """The check is made again when the job is stored: two submits validated
    side by side cannot both pass."""
    folder = tmp_path / "work"
    folder.mkdir()
    outcomes: list[str] = []

    def submit() -> None:
        try:
            daemon.submit(payload("same"), cwd=folder)
            outcomes.append("queued")
        except RequestFailed as e:
            outcomes.append(str(e))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes)[-1] == "queued" and outcomes.count("queued") == 1, outcomes
    assert all("writes its results there" in o for o in outcomes if o != "queued"), outcomes
    assert len(job_ids(daemon)) == 1


# -- item 13: paths the job could not write, snapshot settings ------------------------


def test_a_prefix_too_long_for_the_file_system_is_refused(
    daemon: DaemonHarness, tmp_path: Path
) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    longest = name_max(folder) - TEMP_NAME_EXTRA - len(".nc")
    code, _, err = cli_submit(daemon, folder, payload("x" * (longest + 1)))
    assert code == 1
    assert f"output.prefix is {longest + 1} bytes long; at most {longest} fit" in err
    assert len(err.strip().splitlines()) == 1
    # The longest accepted one is written for real, temporary name and all.
    daemon.load_ready("pip-counter-1", "s1")
    code, out, err = cli_submit(daemon, folder, payload("y" * longest, points=2))
    assert code == 0, err
    done = daemon.wait_job(int(out))
    assert done["status"] == "c", done
    assert points(folder / ("y" * longest + ".nc")) == {"counter": 2}


def test_a_results_path_that_is_a_folder_is_refused(daemon: DaemonHarness, tmp_path: Path) -> None:
    folder = tmp_path / "work"
    (folder / "run.nc").mkdir(parents=True)
    code, _, err = cli_submit(daemon, folder, payload("run"))
    assert code == 1
    assert f"output.prefix: {folder / 'run.nc'} is a folder" in err
    (folder / "file").write_text("")
    code, _, err = cli_submit(daemon, folder, payload(path="file"))
    assert code == 1 and "is not a folder" in err
    assert job_ids(daemon) == []


def test_snapshot_path_and_prefix_are_honoured(daemon: DaemonHarness, tmp_path: Path) -> None:
    daemon.load_ready("pip-counter-1", "s1")
    folder = tmp_path / "work"
    snap = 'interval = 0.3\npath = "snaps"\nprefix = "latest"'
    code, out, err = cli_submit(daemon, folder, payload("run", points=15, snapshot=snap))
    assert code == 0, err
    jobid = int(out)
    wanted = folder / "snaps" / "latest.nc"
    assert daemon.job(jobid)["snappath"] == str(wanted)
    wait_for(wanted.exists, 20, "the periodic snapshot")
    assert not (folder / f"snapshot.{jobid}.nc").exists()
    done = daemon.wait_job(jobid)
    assert done["status"] == "c"
    assert points(folder / "run.nc") == {"counter": 15}
    assert job_record(wanted)["id"] == jobid
    # A snapshot that would be the results file, or another job's, is refused.
    same = 'prefix = "run2"'
    code, _, err = cli_submit(daemon, folder, payload("run2", snapshot=same))
    assert code == 1 and "snapshot.prefix: the snapshot file" in err, err
    code, _, err = cli_submit(daemon, folder, payload("run3", snapshot='prefix = "run"'))
    assert code == 1 and f"(the results of job {jobid})" in err, err


# -- item 13: endless durations and huge payloads; item 15: every problem -------------


def test_an_endless_max_duration_is_a_clear_error(daemon: DaemonHarness, tmp_path: Path) -> None:
    (tmp_path / "inf.yml").write_text(
        "sample: {identifier: s1}\n"
        "method: [{component_role: counter, technique_name: count, max_duration: .inf,"
        " sampling_interval: 1}]\n"
    )
    for command in ("check", "submit"):
        got = daemon.cli(command, str(tmp_path / "inf.yml"))
        assert got.returncode == 1, got
        assert "Traceback" not in got.stderr
        assert "method[0].max_duration: Input should be a finite number" in got.stderr, got.stderr


def test_a_50_mb_payload_is_refused_at_once_with_the_limit(
    daemon: DaemonHarness, tmp_path: Path
) -> None:
    big = tmp_path / "big.toml"
    big.write_text(payload("big") + f'[method.task_params]\nnote = "{"x" * 50_000_000}"\n')
    started = time.monotonic()
    got = daemon.cli("submit", str(big), timeout=60)
    took = time.monotonic() - started
    assert got.returncode == 1
    assert "over the daemon's limit of 16.0 MiB (16777216 bytes)" in got.stderr, got.stderr
    assert "[daemon] max_message_bytes" in got.stderr
    assert took < 10, f"{took:.1f} s"  # was 30 s of "no reply"
    assert job_ids(daemon) == []


def test_submit_lists_every_problem_with_suggestions(daemon: DaemonHarness, tmp_path: Path) -> None:
    text = payload("p").replace("sampling_interval", "sampling_intreval") + "colour = 1\n"
    code, _, err = cli_submit(daemon, tmp_path / "w", text)
    assert code == 1
    [line] = err.strip().splitlines()
    assert "3 problems" in line
    assert "method[0].sampling_intreval: unknown key (did you mean 'sampling_interval'?)" in line
    assert "method[0].colour: unknown key" in line


def test_many_prefixes_of_queued_jobs_stay_quick(daemon: DaemonHarness, tmp_path: Path) -> None:
    """The clash check reads the queued jobs: 50 of them still submit fast."""
    folder = tmp_path / "work"
    folder.mkdir()
    started = time.monotonic()
    for i in range(50):
        daemon.submit(payload(f"r{i}"), cwd=folder)
    assert time.monotonic() - started < 20
    with pytest.raises(RequestFailed, match=r"job 7 \(qw?\) writes its results there"):
        daemon.submit(payload("r6"), cwd=folder)
    assert len(job_ids(daemon)) == 50
