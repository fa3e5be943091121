"""Payloads: tomato payloads of every version upgrade to the native model."""

import json
from pathlib import Path

import pytest
import yaml

from sugo.config.payload import Payload, PayloadUser, load_payload, parse_payload
from sugo.config.schema import json_schema
from sugo.errors import ConfigError

TOMATO = Path(__file__).resolve().parents[1] / "data" / "tomato"
PAYLOADS = sorted(p.name for p in TOMATO.glob("*.yml"))

NATIVE_TOML = """\
version = "2.2"
[user]
identifier = "jdoe"
[sample]
identifier = "S-042"
[settings]
unlock_when_done = true
verbosity = "WARNING"
output = { path = "results", prefix = "run42" }
snapshot = { interval = "10 min" }

[[method]]
component_role = "psutil"
technique_name = "all_info"
max_duration = "5 min"
sampling_interval = 0.5
task_name = "warmup"

[[method]]
component_role = "counter"
technique_name = "random"
max_duration = 60
sampling_interval = "500 ms"
task_params = { min = 5.0, max = 10.0 }
start_with_task_name = "warmup"
"""


def _steps(payload: Payload) -> list[tuple[str, str, float, float, dict]]:
    return [
        (t.component_role, t.technique_name, t.max_duration, t.sampling_interval, t.task_params)
        for t in payload.method
    ]


@pytest.mark.parametrize("name", PAYLOADS)
def test_every_tomato_payload_loads_as_native(name: str) -> None:
    raw = yaml.safe_load((TOMATO / name).read_text())
    payload = load_payload(TOMATO / name)
    assert payload.version == "2.2"
    assert payload.sample.identifier == name.removesuffix(".yml")
    assert len(payload.method) == len(raw["method"])
    # Reloading the native dump gives the same payload: the upgrade is complete.
    again = parse_payload(payload.model_dump_json(), "json", "dump.json")
    assert again == payload


@pytest.mark.parametrize(
    ("name", "steps"),
    [
        ("counter_1_0.1.yml", [("counter", "count", 1.0, 0.1, {})]),
        ("counter_5_0.2.yml", [("counter", "count", 5.0, 0.2, {})]),
        (
            "counter_multistep_multidev.yml",
            [
                ("counter-1", "count", 1.0, 0.2, {}),
                ("counter-1", "count", 1.0, 0.2, {}),
                ("counter-2", "count", 2.0, 0.1, {}),
            ],
        ),
        ("psutil_1_0.1.yml", [("psutil", "all_info", 1.0, 0.1, {})]),
        (
            "psutil_counter.yml",
            [
                ("psutil", "all_info", 1.0, 0.1, {}),
                ("psutil", "all_info", 1.0, 0.5, {}),
                ("counter", "random", 2.0, 0.2, {"min": 50.0, "max": 100.0}),
            ],
        ),
        ("counter_invalid_1.yml", [("counter", "unknown", 0.2, 0.1, {})]),
        ("counter_invalid_2.yml", [("counter", "count", 0.2, 0.1, {"param": "wrong type"})]),
        ("counter_invalid_3.yml", [("counter", "count", 0.2, 0.1, {"param": "1 ms"})]),
        ("counter_invalid_4.yml", [("counter", "count", 0.2, 0.1, {"unknown": "bla"})]),
        ("rocrate_1_0.1.yml", [("counter", "count", 1.0, 0.1, {})]),
    ],
)
def test_upgraded_steps(name: str, steps: list) -> None:
    assert _steps(load_payload(TOMATO / name)) == steps


def test_v02_settings_come_from_the_tomato_section() -> None:
    payload = load_payload(TOMATO / "counter_1_0.1.yml")
    assert payload.settings.verbosity == "DEBUG"
    assert payload.settings.unlock_when_done is False
    assert payload.settings.snapshot is None
    assert payload.user == PayloadUser(identifier=None)


def test_v1_and_v2_settings_section() -> None:
    stress = load_payload(TOMATO / "counter_stresstest.yml")
    assert stress.settings.unlock_when_done is True
    assert stress.settings.verbosity == "DEBUG"
    assert load_payload(TOMATO / "counter_invalid_2.yml").settings.unlock_when_done is True


def test_snapshot_frequency_becomes_interval() -> None:
    snapshot = load_payload(TOMATO / "counter_snapshot.yml").settings.snapshot
    assert snapshot is not None
    assert snapshot.interval == 5.0


def test_output_path_and_prefix() -> None:
    path = load_payload(TOMATO / "counter_output_path.yml").settings.output
    assert (path.path, path.prefix) == ("newfolder", None)
    prefix = load_payload(TOMATO / "counter_output_prefix.yml").settings.output
    assert (prefix.path, prefix.prefix) == (None, "data")


def test_v22_user_and_repositories() -> None:
    payload = load_payload(TOMATO / "rocrate_1_0.1.yml")
    assert payload.user.identifier == "user.identifier"
    assert payload.settings.output.repositories == ["default"]
    assert payload.settings.verbosity == "INFO"  # the native default


def test_task_start_and_stop_triggers() -> None:
    start = load_payload(TOMATO / "psutil_counter_with_task_start.yml").method
    assert [t.task_name for t in start] == [None, "trigger", None]
    assert [t.start_with_task_name for t in start] == [None, None, "trigger"]
    assert start[2].task_params == {"min": 50.0, "max": 100.0}
    stop = load_payload(TOMATO / "psutil_counter_with_task_stop.yml").method
    assert [t.stop_with_task_name for t in stop] == [None, None, "trigger"]
    assert stop[2].max_duration == 20.0


def test_roles_and_tasks_of() -> None:
    payload = load_payload(TOMATO / "psutil_counter.yml")
    assert payload.roles() == ["psutil", "counter"]
    assert [i for i, _ in payload.tasks_of("psutil")] == [0, 1]
    assert payload.tasks_of("counter") == [(2, payload.method[2])]
    assert payload.tasks_of("nothing") == []


def test_native_toml_payload_with_units(tmp_path: Path) -> None:
    path = tmp_path / "payload.toml"
    path.write_text(NATIVE_TOML)
    payload = load_payload(path)
    assert payload.user.identifier == "jdoe"
    assert payload.sample.identifier == "S-042"
    assert payload.settings.unlock_when_done is True
    assert payload.settings.verbosity == "WARNING"
    assert (payload.settings.output.path, payload.settings.output.prefix) == ("results", "run42")
    assert payload.settings.snapshot is not None
    assert payload.settings.snapshot.interval == 600.0
    assert _steps(payload) == [
        ("psutil", "all_info", 300.0, 0.5, {}),
        ("counter", "random", 60.0, 0.5, {"min": 5.0, "max": 10.0}),
    ]
    assert payload.method[1].start_with_task_name == "warmup"


def test_native_payload_in_every_format_is_the_same() -> None:
    reference = parse_payload(NATIVE_TOML, "toml", "p.toml")
    as_json = reference.model_dump_json()
    as_yaml = yaml.safe_dump(reference.model_dump(mode="json"))
    assert parse_payload(as_json, ".json", "p.json") == reference
    assert parse_payload(as_yaml, "YML", "p.yml") == reference
    assert parse_payload(as_yaml, "yaml", "p.yaml") == reference


def test_missing_version_means_native_and_unquoted_version_is_accepted() -> None:
    body = (
        "sample: {identifier: s}\n"
        "method: [{component_role: c, technique_name: t, max_duration: 1,"
        " sampling_interval: 0.5}]\n"
    )
    assert parse_payload(body, "yaml", "p.yml").version == "2.2"
    assert parse_payload("version: 2.2\n" + body, "yaml", "p.yml").version == "2.2"
    old = "version: 0.2\nsample: {name: s}\nmethod: [{device: c, technique: t, time: 1, delay: 1}]"
    assert parse_payload(old, "yaml", "p.yml").sample.identifier == "s"


def test_v01_extra_step_keys_become_task_params() -> None:
    text = (
        'version: "0.1"\nsample: {name: s}\n'
        "method: [{device: c, technique: t, time: 2 min, delay: 1, current: 5 mA, n: 3}]\n"
    )
    task = parse_payload(text, "yaml", "p.yml").method[0]
    assert (task.max_duration, task.sampling_interval) == (120.0, 1.0)
    assert task.task_params == {"current": "5 mA", "n": 3}


def test_v10_null_technique_params_and_polling_interval() -> None:
    text = json.dumps(
        {
            "version": "1.0",
            "sample": {"name": "s"},
            "method": [
                {
                    "component_tag": "c",
                    "technique_name": "t",
                    "max_duration": 1,
                    "sampling_interval": 0.1,
                    "polling_interval": 2,
                    "technique_params": None,
                }
            ],
        }
    )
    task = parse_payload(text, "json", "p.json").method[0]
    assert task.task_params == {}
    assert task.polling_interval == 2.0


def test_start_trigger_on_an_earlier_task_of_the_same_role_is_fine() -> None:
    text = (
        "sample: {identifier: s}\nmethod:\n"
        "  - {component_role: a, technique_name: t, max_duration: 1,"
        " sampling_interval: 1, task_name: first}\n"
        "  - {component_role: a, technique_name: t, max_duration: 1,"
        " sampling_interval: 1, start_with_task_name: first}\n"
    )
    assert len(parse_payload(text, "yaml", "p.yml").method) == 2


def test_start_trigger_on_a_later_task_of_the_same_role_never_starts() -> None:
    text = (
        "sample: {identifier: s}\nmethod:\n"
        "  - {component_role: a, technique_name: t, max_duration: 1,"
        " sampling_interval: 1, start_with_task_name: second}\n"
        "  - {component_role: a, technique_name: t, max_duration: 1,"
        " sampling_interval: 1, task_name: second}\n"
    )
    with pytest.raises(ConfigError, match=r"^p\.yml: method\[0\]\.start_with_task_name: "):
        parse_payload(text, "yaml", "p.yml")


def test_with_user_fills_in_the_user() -> None:
    payload = load_payload(TOMATO / "counter_1_0.1.yml")
    assert payload.with_user("alice").user.identifier == "alice"
    assert payload.user.identifier is None  # frozen: the original is unchanged


def test_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^p\.ini: unknown format 'ini'"):
        parse_payload("x = 1", "ini", "p.ini")


def test_missing_payload_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"payload\.yml: file not found"):
        load_payload(tmp_path / "payload.yml")


def test_payload_json_schema() -> None:
    schema = json_schema("payload")
    assert set(schema["required"]) == {"sample", "method"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["method"]["minItems"] == 1
    task = schema["$defs"]["Task"]
    assert {"component_role", "technique_name", "max_duration"} <= set(task["required"])
    json.dumps(schema)
