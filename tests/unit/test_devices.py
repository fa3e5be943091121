"""The devices file: tomato files load unchanged, wildcards expand, views are typed."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from sugo.config.defaults import render_devices
from sugo.config.devices import ComponentSpec, DevicesConfig, load_devices
from sugo.config.schema import json_schema
from sugo.errors import ConfigError

TOMATO = Path(__file__).resolve().parents[1] / "data" / "tomato"

# file → ({pipeline: {role: component name}}, drivers)
EXPECTED = {
    "devices_counter.json": (
        {f"pip-counter-{c}": {"counter": f"example_counter:(example-addr,{c})"} for c in "1234"},
        ["example_counter"],
    ),
    "devices_multidev.json": (
        {
            "pip-counter": {"counter": "example_counter:(example-addr-1,1)"},
            "pip-multidev": {
                "counter-1": "example_counter:(example-addr-1,4)",
                "counter-2": "example_counter:(example-addr-2,5)",
            },
        },
        ["example_counter"],
    ),
    "devices_psutil.json": (
        {
            "pip-multidev": {
                "counter": "example_counter:(counter-addr,1)",
                "psutil": "psutil:(psutil-addr,10)",
            }
        },
        ["example_counter", "psutil"],
    ),
    "devices_reload_address.json": (
        {"pip-counter": {"counter": "example_counter:(example-addr-new,1)"}},
        ["example_counter"],
    ),
    "devices_reload_channel.json": (
        {"pip-counter": {"counter": "example_counter:(example-addr,2)"}},
        ["example_counter"],
    ),
    "devices_reload_driver.json": (
        {"pip-counter": {"counter": "psutil:(example-addr,2)"}},
        ["psutil"],
    ),
    "devices_reload_pipdel.json": (
        {"pip-counter-new": {"counter": "example_counter:(example-addr,1)"}},
        ["example_counter"],
    ),
    "devices_reload_pipmod.json": (
        {
            "pip-counter": {
                "counter": "example_counter:(example-addr,1)",
                "other": "example_counter:(new-addr,1)",
            }
        },
        ["example_counter"],
    ),
}


def test_every_tomato_devices_file_is_covered() -> None:
    assert {p.name for p in TOMATO.glob("devices_*")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tomato_devices_files_expand_to_the_right_pipelines(name: str) -> None:
    pipelines, drivers = EXPECTED[name]
    config = load_devices(TOMATO / name)
    got = {p.name: {role: c.name for role, c in p.components.items()} for p in config.pipelines()}
    assert got == pipelines
    assert list(got) == list(pipelines)  # file order
    assert config.drivers() == drivers


def test_counter_file_components_keep_the_files_driver_name() -> None:
    config = load_devices(TOMATO / "devices_counter.json")
    components = config.components()
    assert [c.channel for c in components] == ["1", "2", "3", "4"]
    assert components[0] == ComponentSpec(
        name="example_counter:(example-addr,1)",
        driver="example_counter",  # as the file says: tomato's package, or sugo's fallback
        device="dev-counter",
        address="example-addr",
        channel="1",
        pollrate=2.0,
    )
    assert isinstance(components[0].pollrate, float)
    first = config.pipelines()[0]
    assert first.components["counter"] == components[0]


def test_multidev_components_are_every_device_channel_in_order() -> None:
    config = load_devices(TOMATO / "devices_multidev.json")
    names = [c.name for c in config.components()]
    assert names == [f"example_counter:(example-addr-1,{c})" for c in "1234"] + [
        f"example_counter:(example-addr-2,{c})" for c in "5678"
    ]
    pollrates = {c.device: c.pollrate for c in config.components()}
    assert pollrates == {"dev-counter-1": 2.0, "dev-counter-2": 1.0}


def test_rendered_devices_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "devices.toml"
    path.write_text(render_devices())
    config = load_devices(path)
    assert [d.name for d in config.devices] == ["dev-counter", "dev-demo-counter", "dev-psutil"]
    pipelines = {p.name: p for p in config.pipelines()}
    assert list(pipelines) == [f"pip-counter-{c}" for c in "1234"] + ["pip-demo"]
    assert pipelines["pip-counter-3"].components["counter"].name == "counter:(sim-counter,3)"
    assert pipelines["pip-counter-3"].components["counter"].pollrate == 0.2
    demo = pipelines["pip-demo"].components
    assert demo["counter"].name == "counter:(sim-demo,1)"
    assert demo["psutil"].name == "psutil:(localhost,0)"
    assert demo["psutil"].pollrate == 0.5
    assert config.drivers() == ["counter", "psutil"]


def _toml_of(data: dict) -> str:
    lines = []
    for device in data["devices"]:
        lines.append("[[devices]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in device.items()]
    for pipeline in data["pipelines"]:
        lines += ["[[pipelines]]", f"name = {json.dumps(pipeline['name'])}", "devices = ["]
        for m in pipeline["devices"]:
            lines.append(
                f"  {{ role = {json.dumps(m['role'])}, device = {json.dumps(m['device'])},"
                f" channel = {json.dumps(m['channel'])} }},"
            )
        lines.append("]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", ["devices_multidev.json", "devices_psutil.json"])
def test_toml_and_yaml_spellings_load_the_same(tmp_path: Path, name: str) -> None:
    data = json.loads((TOMATO / name).read_text())
    (tmp_path / "devices.toml").write_text(_toml_of(data))
    (tmp_path / "devices.yml").write_text(json.dumps(data))  # JSON is YAML
    reference = load_devices(TOMATO / name)
    assert load_devices(tmp_path / "devices.toml") == reference
    assert load_devices(tmp_path / "devices.yml") == reference


def test_integer_channels_become_strings(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(
        "devices:\n"
        "  - {name: d, driver: psutil, address: localhost, channels: [0, 10]}\n"
        "pipelines:\n"
        "  - {name: p, devices: [{role: r, device: d, channel: 10}]}\n"
    )
    config = load_devices(path)
    assert config.devices[0].channels == ["0", "10"]
    assert config.devices[0].pollrate == 1.0  # the default
    assert config.pipelines()[0].components["r"].name == "psutil:(localhost,10)"


def test_a_component_may_serve_several_pipelines() -> None:
    config = DevicesConfig.model_validate(
        {
            "devices": [{"name": "d", "driver": "counter", "address": "a", "channels": ["1"]}],
            "pipelines": [
                {"name": "p-*", "devices": [{"role": "c", "device": "d", "channel": "each"}]},
                {"name": "q", "devices": [{"role": "c", "device": "d", "channel": "1"}]},
            ],
        }
    )
    assert [p.name for p in config.pipelines()] == ["p-1", "q"]


def test_empty_devices_file_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "devices.json"
    path.write_text("{}")
    config = load_devices(path)
    assert config.components() == [] and config.pipelines() == [] and config.drivers() == []


def test_devices_config_is_frozen() -> None:
    config = load_devices(TOMATO / "devices_counter.json")
    with pytest.raises(ValidationError):
        config.devices[0].address = "elsewhere"


def test_missing_devices_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"devices\.toml: file not found"):
        load_devices(tmp_path / "devices.toml")


def test_devices_json_schema() -> None:
    schema = json_schema("devices")
    assert set(schema["properties"]) == {"devices", "pipelines"}
    assert schema["additionalProperties"] is False
    device = schema["$defs"]["DeviceConfig"]
    assert set(device["required"]) == {"name", "driver", "address", "channels"}
    assert device["properties"]["channels"]["minItems"] == 1
    json.dumps(schema)
