"""Bad payloads, devices files and settings: a hand-written corpus (here, plus
the files of tests/data/malformed, see test_malformed.py) and property-based
generation with hypothesis. Every case: one ConfigError line that names the
source, never another exception.
"""

import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sugo.config.devices import DevicesConfig
from sugo.config.files import parse_mapping, validate
from sugo.config.payload import parse_payload
from sugo.config.settings import Settings
from sugo.errors import ConfigError

GENERATED = settings(
    max_examples=int(os.environ.get("SUGO_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FORMATS = {"toml": ".toml", "yaml": ".yml", "json": ".json"}


def load_payload_text(text: str, fmt: str, source: str) -> Any:
    return parse_payload(text, fmt, source)


def load_devices_text(text: str, fmt: str, source: str) -> Any:
    return validate(DevicesConfig, parse_mapping(text, fmt, source), source)


def load_settings_text(text: str, fmt: str, source: str) -> Any:
    data = parse_mapping(text, fmt, source)
    return validate(Settings, data, source, context={"base": Path("/srv/sugo")})


LOADERS: dict[str, Callable[[str, str, str], Any]] = {
    "payload": load_payload_text,
    "devices": load_devices_text,
    "settings": load_settings_text,
}


def one_clear_line(kind: str, text: str, fmt: str) -> str:
    """Load ``text``; it must fail with one ConfigError line naming the source."""
    source = f"bad-{kind}{FORMATS[fmt]}"
    with pytest.raises(ConfigError) as info:
        LOADERS[kind](text, fmt, source)
    message = str(info.value)
    assert message.startswith(f"{source}: "), message
    assert "\n" not in message and len(message) < 500, message
    return message.removeprefix(f"{source}: ")


def outcome(kind: str, text: str, fmt: str) -> str:
    """Load ``text``: "ok", or the ConfigError line (any other exception fails)."""
    source = f"gen-{kind}{FORMATS[fmt]}"
    try:
        LOADERS[kind](text, fmt, source)
    except ConfigError as e:
        message = str(e)
        assert message.startswith(f"{source}: ") and "\n" not in message, message
        return message
    return "ok"


# -- the hand-written corpus ---------------------------------------------------------

PAYLOAD = """\
version = "2.2"
sample = { identifier = "s" }
[[method]]
component_role = "counter"
technique_name = "count"
max_duration = 1
sampling_interval = 0.1
"""
TASK = (
    "[[method]]\ncomponent_role = 'counter'\ntechnique_name = 'count'\n"
    "max_duration = 1\nsampling_interval = 0.1\n"
)


def payload_with(replace: str = "", by: str = "", extra: str = "") -> str:
    text = PAYLOAD.replace(replace, by) if replace else PAYLOAD
    return text + extra


def with_table(table: str) -> str:
    """The payload with a TOML table (e.g. "[settings]...") before its method."""
    return PAYLOAD.replace("[[method]]", table + "\n[[method]]")


DEVICES: dict[str, Any] = {
    "devices": [
        {"name": "dev", "driver": "counter", "address": "a", "channels": ["1", "2"]},
    ],
    "pipelines": [{"name": "pip", "devices": [{"role": "r", "device": "dev", "channel": "1"}]}],
}
SETTINGS: dict[str, Any] = {
    "datadir": "data",
    "logdir": "logs",
    "jobs": {"storage": "data/jobs", "dbpath": "data/sugo.db"},
    "devices": {"config": "devices.toml"},
}


def changed(doc: dict[str, Any], path: str, value: Any) -> str:
    """``doc`` as JSON with the value at a dotted ``path`` replaced (None deletes)."""
    out = json.loads(json.dumps(doc))
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = out
    for p in parents:
        node = node[p]
    if value is None:
        del node[last]
    elif isinstance(node, list) and last == len(node):
        node.append(value)
    else:
        node[last] = value
    return json.dumps(out)


# (kind, format, text, what the error says after "<source>: ")
CORPUS: list[tuple[str, str, str, str]] = [
    # payloads
    ("payload", "toml", payload_with("[[method]]", "[[methods]]"), "method: missing required"),
    ("payload", "toml", 'version = "2.2"\nsample = { identifier = "s" }\n', "method: missing"),
    ("payload", "toml", payload_with(extra="").split("[[method]]")[0] + "method = []\n",
     "method: must not be empty"),
    ("payload", "toml", payload_with(extra="").split("[[method]]")[0] + 'method = "count"\n',
     "method: Input should be a valid list"),
    ("payload", "toml", payload_with(extra="").split("[[method]]")[0] + "method = [1, 2]\n",
     "method[0]: Input should be a valid dictionary"),
    ("payload", "toml", payload_with('{ identifier = "s" }', "{}"),
     "sample.identifier: missing required key"),
    ("payload", "toml", payload_with('{ identifier = "s" }', '{ identifier = "" }'),
     "sample.identifier: String should have at least 1 character"),
    ("payload", "toml", payload_with('{ identifier = "s" }', '"s"'),
     "sample: Input should be a valid dictionary"),
    ("payload", "toml", payload_with("max_duration = 1", "max_duration = -1"),
     "method[0].max_duration: Input should be greater than 0"),
    ("payload", "toml", payload_with("max_duration = 1", "max_duration = 0"),
     "method[0].max_duration: Input should be greater than 0"),
    ("payload", "toml", payload_with("max_duration = 1", 'max_duration = "soon"'),
     "method[0].max_duration: "),
    ("payload", "toml", payload_with("max_duration = 1", 'max_duration = "5 kg"'),
     "method[0].max_duration: duration '5 kg' is not a time"),
    ("payload", "toml", payload_with("max_duration = 1", "max_duration = [1]"),
     "method[0].max_duration: Input should be a valid number"),
    ("payload", "toml", payload_with("sampling_interval = 0.1", "sampling_interval = 0"),
     "method[0].sampling_interval: Input should be greater than 0"),
    ("payload", "toml", payload_with("sampling_interval = 0.1", ""),
     "method[0].sampling_interval: missing required key"),
    ("payload", "toml", payload_with('technique_name = "count"', 'technique_name = ""'),
     "method[0].technique_name: String should have at least 1 character"),
    ("payload", "toml", payload_with('component_role = "counter"', ""),
     "method[0].component_role: missing required key"),
    ("payload", "toml", payload_with(extra="polling_interval = 0\n"),
     "method[0].polling_interval: Input should be greater than 0"),
    ("payload", "toml", payload_with(extra="task_params = 5\n"),
     "method[0].task_params: Input should be a valid dictionary"),
    ("payload", "toml", payload_with(extra="colour = 'red'\n"), "method[0].colour: unknown key"),
    ("payload", "toml", "owner = 'me'\n" + PAYLOAD, "owner: unknown key"),
    ("payload", "toml", payload_with('version = "2.2"', 'version = "9.9"'),
     "version: unsupported payload version '9.9'"),
    ("payload", "toml", payload_with('version = "2.2"', "version = true"),
     "version: unsupported payload version True"),
    ("payload", "toml", with_table("[user]\nidentifier = 5"),
     "user.identifier: Input should be a valid string"),
    ("payload", "toml", PAYLOAD.replace("version", 'user = "bob"\nversion'),
     "user: Input should be a valid dictionary"),
    ("payload", "toml", with_table("[settings]\nverbosity = 'LOUD'"),
     "settings.verbosity: Input should be 'DEBUG', 'INFO'"),
    ("payload", "toml", with_table("[settings]\nunlock_when_done = 'yes'"),
     "settings.unlock_when_done: Input should be a valid boolean"),
    ("payload", "toml", with_table("[settings.output]\npath = 5"),
     "settings.output.path: Input should be a valid string"),
    ("payload", "toml", with_table("[settings.output]\nfolder = 'x'"),
     "settings.output.folder: unknown key"),
    ("payload", "toml", with_table("[settings.snapshot]\ninterval = -5"),
     "settings.snapshot.interval: Input should be greater than 0"),
    ("payload", "toml", payload_with(extra="start_with_task_name = 'nope'\n"),
     "method[0].start_with_task_name: no task named 'nope'"),
    ("payload", "toml", payload_with(extra="task_name = 'a'\n" + TASK + "task_name = 'a'\n"),
     "method[1].task_name: duplicate task name 'a'"),
    ("payload", "toml", payload_with(extra="task_name = 'a'\nstop_with_task_name = 'a'\n"),
     "method[0].stop_with_task_name: a task cannot trigger itself"),
    ("payload", "toml", 'version = "2.2"\n' + PAYLOAD, "line 2: invalid TOML: "),
    ("payload", "toml", "version = \n", "line 1: invalid TOML: "),
    ("payload", "json", '{"sample": {"identifier": "s"}, "method": [1,]}',
     "line 1: invalid JSON: "),
    ("payload", "json", "[1, 2]", "top level must be a mapping of keys, not list"),
    ("payload", "json", '"a payload"', "top level must be a mapping of keys, not str"),
    ("payload", "json", "", "line 1: invalid JSON: Expecting value"),
    ("payload", "yaml", "hello", "top level must be a mapping of keys, not str"),
    ("payload", "yaml", "~\n", "file is empty"),
    ("payload", "yaml", "sample:\n\tidentifier: s\n", "line 2: invalid YAML: "),
    ("payload", "yaml", "sample: {identifier: s}\nmethod: {}\n", "method: Input should be"),
    ("payload", "yaml", "version: '0.1'\nsample: {name: s}\nmethod: []\n",
     "method: must not be empty"),
    ("payload", "yaml", "version: '1.0'\nsample: {name: s}\nmethod: [{device: d}]\n",
     "method[0]."),
    # devices files
    ("devices", "json", changed(DEVICES, "devices", "dev"),
     "devices: Input should be a valid list"),
    ("devices", "json", changed(DEVICES, "devices.0.driver", None),
     "devices[0].driver: missing required key"),
    ("devices", "json", changed(DEVICES, "devices.0.channels", []),
     "devices[0].channels: must not be empty"),
    ("devices", "json", changed(DEVICES, "devices.0.channels", [True]),
     "devices[0].channels[0]: Input should be a valid string"),
    ("devices", "json", changed(DEVICES, "devices.0.pollrate", 0),
     "devices[0].pollrate: Input should be greater than 0"),
    ("devices", "json", changed(DEVICES, "devices.0.pollrate", "fast"),
     "devices[0].pollrate: Input should be a valid number"),
    ("devices", "json", changed(DEVICES, "devices.0.name", ""),
     "devices[0].name: String should have at least 1 character"),
    ("devices", "json", changed(DEVICES, "devices.0.address", ["a"]),
     "devices[0].address: Input should be a valid string"),
    ("devices", "json", changed(DEVICES, "devices.0.maintenance",
                                [{"label": "x", "trigger": "weekly", "threshold": 1}]),
     "devices[0].maintenance[0].trigger: Input should be 'task_hours', 'jobs' or 'days'"),
    ("devices", "json", changed(DEVICES, "devices.0.maintenance",
                                [{"label": "x", "trigger": "jobs", "threshold": -1}]),
     "devices[0].maintenance[0].threshold: Input should be greater than 0"),
    ("devices", "json", changed(DEVICES, "devices.0.maintenance",
                                [{"label": "x", "trigger": "jobs", "threshold": 1}] * 2),
     "devices[0].maintenance[1].label: duplicate label 'x'"),
    ("devices", "json", changed(DEVICES, "pipelines.0.devices", []),
     "pipelines[0].devices: must not be empty"),
    ("devices", "json", changed(DEVICES, "pipelines.0.devices.0.device", "nope"),
     "pipelines[0].devices[0].device: unknown device 'nope' (known: dev)"),
    ("devices", "json", changed(DEVICES, "pipelines.0.devices.0.channel", "each"),
     "pipelines[0].devices[0].channel: channel 'each' needs a wildcard pipeline name"),
    ("devices", "json", changed(DEVICES, "pipelines.0.devices.0.slot", 1),
     "pipelines[0].devices[0].slot: unknown key"),
    ("devices", "json", changed(DEVICES, "pipelines.0.name", "p*q"),
     "pipelines[0].name: '*' is only allowed at the end"),
    ("devices", "json", changed(DEVICES, "pipelines", {"pip": 1}),
     "pipelines: Input should be a valid list"),
    ("devices", "json", changed(DEVICES, "devices.1", DEVICES["devices"][0]),
     "devices[1].name: duplicate device name 'dev'"),
    ("devices", "json", changed(DEVICES, "pipelines.1", DEVICES["pipelines"][0]),
     "pipelines[1].name: duplicate pipeline name 'pip'"),
    ("devices", "json", json.dumps(DEVICES).replace('"channels": ["1", "2"]',
                                                    '"channels": ["1", "2"], "pollrate": NaN'),
     "devices[0].pollrate: Input should be a finite number"),
    ("devices", "yaml", "devices:\n  - name: [unclosed\n", "line 3: invalid YAML: "),
    ("devices", "yaml", "- a\n- b\n", "top level must be a mapping of keys, not list"),
    ("devices", "toml", "[[devices]]\nname = 'd'\ndriver = 'counter'\naddress = 'a'\n",
     "devices[0].channels: missing required key"),
    # settings
    ("settings", "json", changed(SETTINGS, "datadir", None), "datadir: missing required key"),
    ("settings", "json", changed(SETTINGS, "datadir", ""), "datadir: path must not be empty"),
    ("settings", "json", changed(SETTINGS, "logdir", 5), "logdir: "),
    ("settings", "json", changed(SETTINGS, "jobs", None), "jobs: missing required key"),
    ("settings", "json", changed(SETTINGS, "jobs.storage", None),
     "jobs.storage: missing required key"),
    ("settings", "json", changed(SETTINGS, "jobs.fsync", "yes"),
     "jobs.fsync: Input should be a valid boolean"),
    ("settings", "json", changed(SETTINGS, "jobs.retention_days", 0),
     "jobs.retention_days: Input should be greater than 0"),
    ("settings", "json", changed(SETTINGS, "devices.config", None),
     "devices.config: missing required key"),
    ("settings", "json", changed(SETTINGS, "daemon", {"bind": "0.0.0.256"}),
     "daemon.bind: '0.0.0.256' is not an IP address"),
    ("settings", "json", changed(SETTINGS, "daemon", {"bind": ""}),
     "daemon.bind: '' is not an IP address"),
    ("settings", "json", changed(SETTINGS, "daemon", {"max_message_bytes": 10}),
     "daemon.max_message_bytes: Input should be greater than or equal to 1024"),
    ("settings", "json", changed(SETTINGS, "daemon", {"max_message_bytes": "big"}),
     "daemon.max_message_bytes: Input should be a valid integer"),
    ("settings", "json", changed(SETTINGS, "daemon", {"port": 1}), "daemon.port: unknown key"),
    ("settings", "json", changed(SETTINGS, "drivers", {"counter": 5}),
     "drivers.counter: Input should be a valid dictionary"),
    ("settings", "json", changed(SETTINGS, "hooks", [{}]), "hooks[0].events: missing required"),
    ("settings", "json", changed(SETTINGS, "hooks", [{"events": [], "command": "x"}]),
     "hooks[0].events: must not be empty"),
    ("settings", "json", changed(SETTINGS, "hooks", [{"events": ["*"], "command": "x",
                                                      "timeout": 0}]),
     "hooks[0].timeout: Input should be greater than 0"),
    ("settings", "json", changed(SETTINGS, "jobz", {}), "jobz: unknown key"),
    ("settings", "toml", "datadir = 'd'\nlogdir = 'l'\n[jobs]\nstorage = 's'\n",
     "jobs.dbpath: missing required key"),
    ("settings", "yaml", "[datadir, logdir]\n", "top level must be a mapping of keys, not list"),
]  # fmt: skip


def test_the_corpus_is_big_enough() -> None:
    malformed = Path(__file__).resolve().parents[1] / "data" / "malformed"
    files = len(list(malformed.iterdir()))
    assert len(CORPUS) + files >= 100, (len(CORPUS), files)
    assert len({text for _, _, text, _ in CORPUS}) == len(CORPUS), "a case is repeated"


@pytest.mark.parametrize(
    ("kind", "fmt", "text", "says"),
    CORPUS,
    ids=[f"{k}-{i}" for i, (k, *_rest) in enumerate(CORPUS)],
)
def test_corpus_case_gives_one_clear_line(kind: str, fmt: str, text: str, says: str) -> None:
    message = one_clear_line(kind, text, fmt)
    # Several problems are all listed, after their count; `says` is the first.
    first = re.sub(r"^\d+ problems: ", "", message)
    assert first.startswith(says), message


def test_the_base_documents_are_valid() -> None:
    assert outcome("payload", PAYLOAD, "toml") == "ok"
    assert outcome("devices", json.dumps(DEVICES), "json") == "ok"
    assert outcome("settings", json.dumps(SETTINGS), "json") == "ok"


# -- generated -------------------------------------------------------------------------

json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_doc = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


@GENERATED
@given(kind=st.sampled_from(sorted(LOADERS)), fmt=st.sampled_from(sorted(FORMATS)), text=st.text())
def test_random_text(kind: str, fmt: str, text: str) -> None:
    outcome(kind, text, fmt)


@GENERATED
@given(kind=st.sampled_from(sorted(LOADERS)), doc=json_doc, as_yaml=st.booleans())
def test_random_documents(kind: str, doc: Any, as_yaml: bool) -> None:
    if as_yaml:
        outcome(kind, yaml.safe_dump(doc), "yaml")
    else:
        outcome(kind, json.dumps(doc), "json")


BASES: dict[str, Any] = {
    "payload": yaml.safe_load(
        "sample: {identifier: s}\nsettings: {output: {path: out}, snapshot: {interval: 5}}\n"
        "method: [{component_role: c, technique_name: t, max_duration: 1, sampling_interval: 1,"
        " task_name: a}, {component_role: d, technique_name: t, max_duration: 2,"
        " sampling_interval: 1, start_with_task_name: a}]\n"
    ),
    "devices": DEVICES,
    "settings": {**SETTINGS, "daemon": {"bind": "127.0.0.1"}, "hooks": [
        {"events": ["job.*"], "command": ["true"]}]},
}  # fmt: skip


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid document with one to three things broken: a value replaced, a key
    dropped or an unknown key added."""
    kind = draw(st.sampled_from(sorted(BASES)))
    doc = json.loads(json.dumps(BASES[kind]))
    for _ in range(draw(st.integers(1, 3))):
        if not paths(doc):
            break  # everything was dropped
        where = draw(st.sampled_from(paths(doc)))
        *parents, last = where
        node = doc
        for p in parents:
            node = node[p]
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "drop" and isinstance(node, dict):
            del node[last]
        elif action == "add" and isinstance(node, dict):
            node[draw(st.text(min_size=1, max_size=8))] = draw(json_leaf)
        else:
            node[last] = draw(json_doc)
    return kind, doc


@GENERATED
@given(case=mutated(), as_yaml=st.booleans())
def test_mutated_valid_documents(case: tuple[str, Any], as_yaml: bool) -> None:
    kind, doc = case
    if as_yaml:
        outcome(kind, yaml.safe_dump(doc), "yaml")
    else:
        outcome(kind, json.dumps(doc), "json")


# -- nesting and aliases ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "yaml", "toml"])
def test_deep_nesting_gives_one_clear_line(fmt: str) -> None:
    depth = sys.getrecursionlimit() * 2
    text = {
        "json": "[" * depth + "]" * depth,
        "yaml": "a: " + "[" * depth + "]" * depth,
        "toml": "a = " + "[" * depth + "]" * depth,
    }[fmt]
    assert one_clear_line("payload", text, fmt) == f"nested too deeply to parse as {fmt.upper()}"


def alias_bomb(levels: int, expand: bool = True) -> str:
    """A payload whose task_params hold 9**levels values once aliases expand."""
    anchors = "{a0: &a0 [x, x, x, x, x, x, x, x, x]"
    for i in range(1, levels):
        anchors += f", a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]"
    if not expand:
        anchors = anchors.replace("*a", "a")
    return (
        "sample: {identifier: s}\nmethod: [{component_role: c, technique_name: t,"
        f" max_duration: 1, sampling_interval: 1, task_params: {anchors}}}}}]\n"
    )


def test_yaml_alias_bomb_is_refused_by_the_loader() -> None:
    says = one_clear_line("payload", alias_bomb(8), "yaml")
    assert says.startswith("YAML aliases expand to more than "), says
    t0 = time.monotonic()
    one_clear_line("payload", alias_bomb(40), "yaml")  # 9**40 values: refused as fast
    assert time.monotonic() - t0 < 1.0


@pytest.mark.parametrize(
    "text",
    ["a: &a [*a]", "a: &a {b: *a}", "a: [&a [1, *a]]"],
    ids=["list", "mapping", "nested"],
)
def test_yaml_alias_to_itself_is_refused(text: str) -> None:
    assert "YAML aliases expand to more than" in one_clear_line("settings", text, "yaml")


def test_yaml_aliases_in_moderation_load() -> None:
    assert outcome("payload", alias_bomb(2, expand=False), "yaml") == "ok"
    assert outcome("payload", alias_bomb(4), "yaml") == "ok"  # 9**4 = 6,561 values
    params = ["&p {rate: 1, steps: [1, 2, 3]}"] + ["*p"] * 49  # one set, shared by 50 tasks
    shared = "sample: {identifier: s}\nmethod:\n" + "".join(
        f"- {{component_role: c{i}, technique_name: t, max_duration: 1,"
        f" sampling_interval: 1, task_params: {p}}}\n"
        for i, p in enumerate(params)
    )
    assert outcome("payload", shared, "yaml") == "ok"
    assert parse_payload(shared, "yaml", "s.yml").method[49].task_params["steps"] == [1, 2, 3]
