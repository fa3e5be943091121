"""The daemon's first moments: the quick read of the files agrees with the
validated one, and processes started early are adopted or killed."""

from pathlib import Path

import pytest

from sugo.config.defaults import render_devices, render_settings
from sugo.config.devices import load_devices
from sugo.config.settings import load_settings
from sugo.daemon import prestart
from sugo.platform import procs as processes

SETTINGS = """\
datadir = "data"
logdir = "{logdir}"
[jobs]
storage = "data/jobs"
dbpath = "data/sugo.db"
[devices]
config = "{devices}"
{daemon}
"""


@pytest.mark.parametrize(
    ("logdir", "devices", "daemon"),
    [
        ("logs", "devices.toml", ""),
        ("../elsewhere/logs", "conf/devices.json", '[daemon]\nbind = "0.0.0.0"'),
        ("~/sugo-logs", "devices.toml", '[daemon]\nbind = "::1"'),
    ],
)
def test_quick_settings_read_what_validation_reads(
    tmp_path: Path, logdir: str, devices: str, daemon: str
) -> None:
    sfile = tmp_path / "app" / "settings.toml"
    sfile.parent.mkdir()
    sfile.write_text(SETTINGS.format(logdir=logdir, devices=devices, daemon=daemon))
    quick = prestart.quick_settings(sfile)
    settings = load_settings(sfile)
    assert quick == prestart.QuickSettings(
        settings.logdir, settings.daemon.bind, settings.devices.config
    )


def test_quick_settings_of_the_init_file(tmp_path: Path) -> None:
    sfile = tmp_path / "settings.toml"
    sfile.write_text(render_settings(tmp_path, tmp_path / "data", tmp_path / "logs"))
    settings = load_settings(sfile)
    assert prestart.quick_settings(sfile) == prestart.QuickSettings(
        settings.logdir, settings.daemon.bind, settings.devices.config
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not toml = [",
        'logdir = "logs"\n',  # no [devices]
        'logdir = 3\n[devices]\nconfig = "d.toml"\n',
        'logdir = "logs"\n[devices]\nconfig = "d.toml"\n[daemon]\nbind = "localhost"\n',
        'logdir = "logs"\ndevices = 1\n',
    ],
)
def test_quick_settings_give_up_on_what_validation_must_judge(tmp_path: Path, text: str) -> None:
    sfile = tmp_path / "settings.toml"
    sfile.write_text(text)
    assert prestart.quick_settings(sfile) is None


def test_quick_drivers_in_order_of_first_use(tmp_path: Path) -> None:
    path = tmp_path / "devices.toml"
    path.write_text(render_devices())
    assert prestart.quick_drivers(path) == load_devices(path).drivers()
    as_json = tmp_path / "devices.json"
    as_json.write_text('{"devices": [{"driver": "b"}, {"driver": "a"}, {"driver": "b"}]}')
    assert prestart.quick_drivers(as_json) == ["b", "a"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("devices.yaml", "devices: []\n"),  # YAML is left to the validation
        ("devices.toml", "devices = 1\n"),
        ("devices.toml", "[[devices]]\nname = 'x'\n"),
        ("devices.json", '{"devices": [{"driver": 3}]}'),
        ("devices.json", "[1, 2]"),
        ("missing.toml", None),
    ],
)
def test_quick_drivers_give_up(tmp_path: Path, name: str, text: str | None) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    assert prestart.quick_drivers(path) is None


# -- processes started early ----------------------------------------------------------


def _server(tmp_path: Path, tag: str) -> tuple[str, list[str], Path]:
    """A process that runs until killed: a web server on a port of its choice."""
    (tmp_path / tag).mkdir()
    return "http.server", ["0", "--bind", "127.0.0.1", "-d", str(tmp_path / tag)], tmp_path / tag


def test_a_process_started_early_is_adopted_once(tmp_path: Path) -> None:
    module, args, folder = _server(tmp_path, "a")
    logfile = folder / "out.log"
    pid = processes.spawn_early(module, args, logfile)
    early = processes.spawn_python(module, args, logfile)
    try:
        assert early.pid == pid and early.alive() and early.create_time > 0
        again = processes.spawn_python(module, args, logfile)  # a restart: a new process
        try:
            assert again.pid != pid and again.alive()
        finally:
            again.signal(9)
            again.wait(5)
        assert processes.discard_early() == []
    finally:
        early.signal(9)
        early.wait(5)


def test_processes_started_early_but_not_asked_for_are_killed(tmp_path: Path) -> None:
    module, args, folder = _server(tmp_path, "b")
    pid = processes.spawn_early(module, args, folder / "out.log")
    other = processes.spawn_python(module, [*args[:-1], str(tmp_path)], folder / "out.log")
    try:
        assert other.pid != pid
        assert processes.discard_early() == [pid]
        assert processes.Tracked.attach(pid) is None  # killed and reaped
    finally:
        other.signal(9)
        other.wait(5)
