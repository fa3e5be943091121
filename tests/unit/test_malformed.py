"""Every malformed file gives one ConfigError line naming the file, key path and problem."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sugo.config.devices import load_devices
from sugo.config.payload import load_payload, parse_payload
from sugo.config.settings import load_settings
from sugo.errors import ConfigError

MALFORMED = Path(__file__).resolve().parents[1] / "data" / "malformed"

LOADERS: dict[str, Callable[[Path], Any]] = {
    "settings": load_settings,
    "devices": load_devices,
    "payload": load_payload,
}

# file → what its error says after "<file>: "
EXPECTED = {
    "settings_syntax.toml": "line 2: invalid TOML: ",
    "settings_unknown_key.toml": "jobs.fsnyc: unknown key",
    "settings_missing_datadir.toml": "datadir: missing required key",
    "settings_bind.toml": "daemon.bind: 'localhost' is not an IP address",
    "settings_max_message.toml": "daemon.max_message_bytes: Input should be greater than or",
    "settings_retention.toml": "jobs.retention_days: Input should be greater than 0",
    "settings_fsync.toml": "jobs.fsync: Input should be a valid boolean",
    "settings_driver_table.toml": "drivers.counter: Input should be a valid dictionary",
    "settings_empty_path.json": "datadir: path must not be empty",
    "settings_list.yml": "top level must be a mapping of keys, not list",
    "devices_unknown_device.toml": (
        "pipelines[1].devices[0].device: unknown device 'dev-x' (known: dev-counter, dev-psutil)"
    ),
    "devices_bad_channel.json": (
        "pipelines[0].devices[0].channel: device 'dev-counter' has no channel '9'"
    ),
    "devices_duplicate_device.yml": "devices[1].name: duplicate device name 'dev-counter'",
    "devices_duplicate_role.toml": "pipelines[0].devices[1].role: duplicate role 'counter'",
    "devices_wildcard_two.json": "pipelines[0].devices: a wildcard pipeline has exactly one",
    "devices_wildcard_channel.yml": (
        "pipelines[0].devices[0].channel: a wildcard pipeline's channel must be 'each'"
    ),
    "devices_each_without_wildcard.toml": (
        "pipelines[0].devices[0].channel: channel 'each' needs a wildcard pipeline name"
    ),
    "devices_duplicate_pipeline.json": "pipelines[1].name: duplicate pipeline name 'pip-counter-2'",
    "devices_empty_channels.toml": "devices[0].channels: must not be empty",
    "devices_pollrate.yml": "devices[0].pollrate: Input should be greater than 0",
    "devices_unknown_key.json": "devices[0].adress: unknown key",
    "devices_syntax.json": "line 4: invalid JSON: ",
    "devices_duplicate_component.toml": (
        "devices[1].channels[0]: component counter:(sim,2) is already a channel of device 'dev-a'"
    ),
    "devices_star_middle.yml": "pipelines[0].name: '*' is only allowed at the end",
    "devices_duplicate_channel.toml": "devices[0].channels[2]: duplicate channel '1'",
    "payload_syntax.yml": "line 6: invalid YAML: ",
    "payload_max_duration.yml": "method[0].max_duration: Input should be greater than 0",
    "payload_v02_tomato_key.yml": "tomato.verbose: unknown key",
    "payload_v21_task_key.yml": "method[0].technique_params: unknown key",
    "payload_trigger_unknown.yml": "method[1].start_with_task_name: no task named 'triger'",
    "payload_trigger_self.toml": "method[0].stop_with_task_name: a task cannot trigger itself",
    "payload_duplicate_task_name.json": "method[1].task_name: duplicate task name 'step'",
    "payload_deadlock.toml": "method[0].start_with_task_name: task 'b' can never start",
    "payload_duration_units.toml": "method[0].max_duration: duration '5 m**2' is not a time",
    "payload_version.yml": "version: unsupported payload version '3.0'",
    "payload_verbosity.json": "settings.verbosity: Input should be 'DEBUG', 'INFO'",
    "payload_empty_method.toml": "method: must not be empty",
    "payload_missing_sample.yml": "sample: missing required key",
    "payload_v01_missing_time.yml": "method[0].time: missing required key",
    "payload_v10_task_params.yml": "method[0].task_params: unknown key",
    "payload_snapshot_interval.toml": "settings.snapshot.interval: Input should be greater than 0",
    "payload_empty.yml": "file is empty",
}


def test_every_malformed_file_has_an_expectation() -> None:
    assert {p.name for p in MALFORMED.iterdir()} == set(EXPECTED)
    suffixes = {Path(name).suffix for name in EXPECTED}
    assert suffixes == {".toml", ".yml", ".json"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_gives_one_clear_line(name: str) -> None:
    path = MALFORMED / name
    load = LOADERS[name.split("_", maxsplit=1)[0]]
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert message.removeprefix(f"{path}: ").startswith(EXPECTED[name]), message
    assert "\n" not in message
    assert "more problems" not in message  # each file has exactly one problem


def test_several_problems_are_all_listed_on_one_line() -> None:
    text = (
        "sample: {identifier: s}\n"
        "method: [{component_role: c, technique_name: t, max_duration: 1,"
        " sampling_interval: 1, x: 1, y: 2}]\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_payload(text, "yaml", "wire payload")
    assert str(info.value) == (
        "wire payload: 2 problems: method[0].x: unknown key; method[0].y: unknown key"
    )


def test_a_bad_key_is_named_as_a_key() -> None:
    text = (
        "sample: {identifier: s}\n"
        "method: [{component_role: c, technique_name: t, max_duration: 1,"
        " sampling_interval: 1, task_params: {1: x}}]\n"
    )
    with pytest.raises(ConfigError, match=r"^p\.yml: method\[0\]\.task_params\[1\] \(key\): "):
        parse_payload(text, "yaml", "p.yml")
