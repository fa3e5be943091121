"""A validation error lists every problem, and a misspelt key gets a
"did you mean" (issue 13, item 15): payloads, devices files and settings."""

import json
import socket
from pathlib import Path

import pytest

from sugo.cli.main import main
from sugo.config.devices import load_devices
from sugo.config.payload import parse_payload
from sugo.config.settings import load_settings
from sugo.errors import ConfigError, DriverError

TASK = "component_role: c, technique_name: t, max_duration: 1"


def payload_error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_payload(text, "yaml", "p.yml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_misspelt_task_key_suggests_the_near_one() -> None:
    text = f"sample: {{identifier: s}}\nmethod: [{{{TASK}, sampling_intreval: 1}}]"
    message = payload_error(text)
    assert "method[0].sampling_intreval: unknown key (did you mean 'sampling_interval'?)" in message
    # The key it stands for is then missing: both are said.
    assert "method[0].sampling_interval: missing required key" in message
    assert message.startswith("p.yml: 2 problems: ")


def test_every_problem_is_listed() -> None:
    text = (
        "sample: {identifier: s}\n"
        "settings: {verbosity: LOUD, output: {prefx: a}, snapshot: {intervall: 3}}\n"
        f"method: [{{{TASK}, sampling_interval: 1, colour: red}},"
        f" {{{TASK}, sampling_interval: 0}}]\n"
    )
    message = payload_error(text)
    assert message.startswith("p.yml: 5 problems: "), message
    for part in [
        "settings.verbosity: Input should be",
        "settings.output.prefx: unknown key (did you mean 'prefix'?)",
        "settings.snapshot.intervall: unknown key (did you mean 'interval'?)",
        "method[0].colour: unknown key;",  # nothing near it: no guess
        "method[1].sampling_interval: Input should be greater than 0",
    ]:
        assert part in message, (part, message)
    assert "more problem" not in message


def test_legacy_payload_keys_are_suggested_in_their_own_names() -> None:
    text = (
        "version: '2.0'\nsample: {name: s}\n"
        "method: [{component_tag: c, technique_name: t, max_duration: 1, sampling_interval: 1,"
        " task_parms: {}}]\n"
    )
    assert payload_error(text) == (
        "p.yml: method[0].task_parms: unknown key (did you mean 'task_params'?)"
    )


def test_devices_file_keys_are_suggested(tmp_path: Path) -> None:
    path = tmp_path / "devices.json"
    path.write_text(
        json.dumps(
            {
                "devices": [{"name": "d", "driver": "counter", "adress": "a", "channels": [1]}],
                "pipelinez": [],
            }
        )
    )
    with pytest.raises(ConfigError) as info:
        load_devices(path)
    message = str(info.value)
    assert "devices[0].adress: unknown key (did you mean 'address'?)" in message
    assert "devices[0].address: missing required key" in message
    # An aliased field is suggested by the name the file uses.
    assert "pipelinez: unknown key (did you mean 'pipelines'?)" in message


def test_settings_keys_are_suggested(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        'datadir = "d"\nlogdir = "l"\n[jobs]\nstorage = "d/j"\ndbpath = "d/s.db"\nfsnyc = true\n'
        '[devices]\nconfig = "devices.toml"\n[deamon]\nbind = "127.0.0.1"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: 2 problems: "), message
    assert "jobs.fsnyc: unknown key (did you mean 'fsync'?)" in message
    assert "deamon: unknown key (did you mean 'daemon'?)" in message


def test_sugo_check_prints_every_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("SUGO_PORT", str(s.getsockname()[1]))
    path = tmp_path / "p.yml"
    path.write_text(
        f"sample: {{identifier: s}}\nmethod: [{{{TASK}, sampling_intreval: 1, x: 1}}]\n"
    )
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "3 problems" in err
    assert "did you mean 'sampling_interval'?" in err
    assert "method[0].x: unknown key" in err


def test_a_misspelt_driver_setting_is_suggested() -> None:
    from sugo.driverinterface.settings import Setting, check_settings

    spec = {"reset_delay": Setting(float, 0.0), "port": Setting(str, "COM1")}
    with pytest.raises(DriverError) as info:
        check_settings("furnace", spec, {"reset_dealy": 1.0, "zzz": 2})
    assert str(info.value) == (
        "driver furnace: unknown setting(s) reset_dealy (did you mean reset_delay?), zzz"
        " (known: port, reset_delay)"
    )


def free_port_env(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("SUGO_PORT", str(s.getsockname()[1]))


@pytest.mark.parametrize("duration", [".inf", ".nan", "'inf s'"])
def test_sugo_check_refuses_an_endless_duration_in_one_line(
    duration: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    free_port_env(monkeypatch)
    path = tmp_path / "p.yml"
    path.write_text(
        "sample: {identifier: s}\nmethod: [{component_role: c, technique_name: t,"
        f" max_duration: {duration}, sampling_interval: 1}}]\n"
    )
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "method[0].max_duration: Input should be a finite number" in err
    assert len(err.strip().splitlines()) == 1


def test_sugo_check_describes_durations_whose_sum_overflows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    free_port_env(monkeypatch)
    task = "{component_role: c, technique_name: t, max_duration: 1.0e308, sampling_interval: 1}"
    path = tmp_path / "p.yml"
    path.write_text(f"sample: {{identifier: s}}\nmethod: [{task}, {task}]\n")
    assert main(["check", str(path)]) == 0
    assert "at most more than 1.79769e+308 s" in capsys.readouterr().out
