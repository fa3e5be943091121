"""`sugo start`: a bad file is one line and exit 1, and nothing is left
running; the driver hosts the daemon starts before its own imports are the
ones it keeps."""

from pathlib import Path

import psutil
import pytest

from tests.integration.harness import DaemonHarness

pytestmark = pytest.mark.integration


def _processes_of(port: int) -> list[psutil.Process]:
    """The daemon on ``port`` and its driver hosts, by their command lines."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        if f"--port {port}" in cmdline or f"tcp://127.0.0.1:{port}" in cmdline:
            found.append(p)
    return found


@pytest.mark.parametrize(
    ("name", "extra", "says"),
    [
        ("settings.toml", "bogus = 1\n", "devices.bogus: unknown key"),
        # Readable enough for the hosts to be started early, wrong for validation.
        ("devices.toml", '[[devices]]\nname = "x"\ndriver = "counter"\n', "2 problems: devices[3]"),
    ],
)
def test_a_bad_file_is_one_line_and_nothing_keeps_running(
    tmp_path: Path, name: str, extra: str, says: str
) -> None:
    h = DaemonHarness(tmp_path)
    path = h.appdir / name
    path.write_text(path.read_text() + extra)
    out = h.cli("start")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1, out.stderr
    assert lines[0].startswith(f"sugo: {path}: {says}"), lines[0]
    assert _processes_of(h.port) == []


def test_the_hosts_started_early_are_adopted(tmp_path: Path) -> None:
    h = DaemonHarness(tmp_path)
    up = h.cli("start")
    try:
        assert up.returncode == 0, up.stderr
        status = h.status()
        assert status["ready"]
        hosts = {p.pid for p in _processes_of(h.port) if "sugo.driverinterface.host" in p.cmdline()}
        assert hosts == {d["pid"] for d in status["drivers"]}
        log = (h.appdir / "logs" / f"daemon-{h.port}.log").read_text()
        for pid in hosts:
            assert f"pid {pid}: started early, adopted" in log
        assert "not needed" not in log
    finally:
        h.cli("stop", "--force")


def test_a_restarted_daemon_keeps_the_hosts_that_outlived_it(daemon: DaemonHarness) -> None:
    # The new daemon starts hosts early, then finds the old ones alive and
    # re-attaches to them: the early ones are killed.
    before = {d["name"]: d["pid"] for d in daemon.status()["drivers"]}
    assert daemon.proc is not None
    daemon.proc.kill()
    daemon.proc.wait(5)
    after = {d["name"]: d["pid"] for d in daemon.start()["drivers"]}
    assert after == before
    hosts = {
        p.pid for p in _processes_of(daemon.port) if "sugo.driverinterface.host" in p.cmdline()
    }
    assert hosts == set(before.values())
    log = (daemon.appdir / "logs" / f"daemon-{daemon.port}.log").read_text()
    assert "killed processes started early but not needed" in log
