"""settings.toml: the model, its loader, the documented defaults and `sugo init`'s text."""

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from sugo.config.defaults import (
    EXAMPLE_APPDIR,
    EXAMPLE_DATADIR,
    EXAMPLE_LOGDIR,
    render_settings,
)
from sugo.config.schema import json_schema
from sugo.config.settings import load_settings
from sugo.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_root_settings_is_what_init_writes_with_placeholder_paths() -> None:
    text = (ROOT / "settings.toml").read_text(encoding="utf-8")
    assert text == render_settings(EXAMPLE_APPDIR, EXAMPLE_DATADIR, EXAMPLE_LOGDIR)


def test_root_settings_loads_with_documented_defaults() -> None:
    settings = load_settings(ROOT / "settings.toml")
    home = Path.home()
    assert settings.datadir == home / ".local/share/sugo"
    assert settings.logdir == home / ".local/state/sugo/log"
    assert settings.jobs.storage == home / ".local/share/sugo/jobs"
    assert settings.jobs.dbpath == home / ".local/share/sugo/sugo.db"
    assert settings.jobs.fsync is True
    assert settings.jobs.retention_days is None
    assert settings.daemon.bind == "127.0.0.1"
    assert settings.daemon.max_message_bytes == 16777216
    assert settings.devices.config == ROOT / "devices.toml"
    assert settings.drivers == {}


def test_every_key_of_the_rendered_settings_has_a_comment() -> None:
    lines = render_settings(Path("/a"), Path("/d"), Path("/l")).splitlines()
    keys = [i for i, line in enumerate(lines) if re.match(r"^#? ?[a-z_]+ = ", line)]
    assert len(keys) >= 10
    for i in keys:
        assert lines[i - 1].startswith("#"), f"key without a comment: {lines[i]}"


def test_rendered_settings_load_with_the_given_folders(tmp_path: Path) -> None:
    appdir, datadir, logdir = tmp_path / "app", tmp_path / "data", tmp_path / "logs"
    appdir.mkdir()
    (appdir / "settings.toml").write_text(render_settings(appdir, datadir, logdir))
    settings = load_settings(appdir / "settings.toml")
    assert settings.datadir == datadir
    assert settings.logdir == logdir
    assert settings.jobs.storage == datadir / "jobs"
    assert settings.jobs.dbpath == datadir / "sugo.db"
    assert settings.devices.config == appdir / "devices.toml"


def test_rendered_settings_escape_awkward_paths(tmp_path: Path) -> None:
    datadir = tmp_path / 'we"ird\\dir ü'
    path = tmp_path / "settings.toml"
    path.write_text(render_settings(tmp_path, datadir, tmp_path / "logs"), encoding="utf-8")
    assert load_settings(path).datadir == datadir


def test_relative_paths_resolve_against_the_settings_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    appdir = tmp_path / "app"
    appdir.mkdir()
    (appdir / "settings.toml").write_text(
        'datadir = "data"\nlogdir = "~/logs"\n'
        '[jobs]\nstorage = "data/jobs"\ndbpath = "/abs/sugo.db"\n'
        '[devices]\nconfig = "../devices.yml"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(Path("../app/settings.toml"))
    assert settings.datadir == appdir / "data"
    assert settings.logdir == Path.home() / "logs"
    assert settings.jobs.storage == appdir / "data/jobs"
    assert settings.jobs.dbpath == Path("/abs/sugo.db")
    assert settings.devices.config == tmp_path / "devices.yml"


def test_optional_keys_and_driver_tables(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        'datadir = "d"\nlogdir = "l"\n'
        '[jobs]\nstorage = "s"\ndbpath = "db"\nfsync = false\nretention_days = 30\n'
        '[daemon]\nbind = "::1"\nmax_message_bytes = 4096\n'
        '[devices]\nconfig = "devices.toml"\n'
        "[drivers.counter]\nspeed = 2.5\n[drivers.psutil]\n"
    )
    settings = load_settings(path)
    assert settings.jobs.fsync is False
    assert settings.jobs.retention_days == 30
    assert settings.daemon.bind == "::1"
    assert settings.daemon.max_message_bytes == 4096
    assert sorted(settings.drivers) == ["counter", "psutil"]
    assert settings.driver_settings("counter") == {"speed": 2.5}
    assert settings.driver_settings("psutil") == {}
    assert settings.driver_settings("faulty") == {}


def test_driver_timeouts_are_sugos_keys_not_the_drivers(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    base = 'datadir = "d"\nlogdir = "l"\n[jobs]\nstorage = "s"\ndbpath = "db"\n'
    base += '[devices]\nconfig = "devices.toml"\n'
    path.write_text(
        base + "[drivers.faulty]\nverb_timeout = 120\nstop_timeout = 2.5\ntask_grace = 0\n"
        "reset_delay = 3.0\n"
    )
    settings = load_settings(path)
    waits = settings.driver_timeouts("faulty")
    assert (waits.verb_timeout, waits.stop_timeout, waits.task_grace) == (120.0, 2.5, 0.0)
    # The driver gets its own keys only (one that declares its settings
    # would refuse sugo's as unknown).
    assert settings.driver_settings("faulty") == {"reset_delay": 3.0}
    defaults = settings.driver_timeouts("counter")
    assert (defaults.verb_timeout, defaults.stop_timeout, defaults.task_grace) == (60, 10, None)
    for bad, problem in [
        ("verb_timeout = 0", "drivers.faulty.verb_timeout: Input should be greater than 0"),
        ("stop_timeout = -1", "drivers.faulty.stop_timeout: Input should be greater than 0"),
        ("task_grace = nan", "drivers.faulty.task_grace: Input should be a finite number"),
        ('verb_timeout = "soon"', "drivers.faulty.verb_timeout: Input should be a valid number"),
        ("verb_timeout = 1e9", "drivers.faulty.verb_timeout: Input should be less than or equal"),
    ]:
        path.write_text(base + f"[drivers.faulty]\n{bad}\n")
        with pytest.raises(ConfigError) as err:
            load_settings(path)
        assert problem in str(err.value), str(err.value)
        assert "\n" not in str(err.value)


def test_settings_load_from_yaml_and_json(tmp_path: Path) -> None:
    data = {
        "datadir": "d",
        "logdir": "l",
        "jobs": {"storage": "s", "dbpath": "db"},
        "devices": {"config": "devices.json"},
    }
    (tmp_path / "settings.json").write_text(json.dumps(data))
    (tmp_path / "settings.yaml").write_text(
        "datadir: d\nlogdir: l\njobs: {storage: s, dbpath: db}\ndevices: {config: devices.json}\n"
    )
    assert load_settings(tmp_path / "settings.json") == load_settings(tmp_path / "settings.yaml")


def test_settings_are_frozen() -> None:
    settings = load_settings(ROOT / "settings.toml")
    with pytest.raises(ValidationError):
        settings.datadir = Path("/elsewhere")


def test_missing_settings_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "settings.toml"
    with pytest.raises(ConfigError, match=r"settings\.toml: file not found$"):
        load_settings(missing)


def test_unknown_suffix_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "settings.ini"
    path.write_text("[x]\n")
    with pytest.raises(ConfigError, match=r"settings\.ini: unknown file type '\.ini'"):
        load_settings(path)


def test_settings_json_schema() -> None:
    schema = json_schema("settings")
    assert set(schema["required"]) == {"datadir", "logdir", "jobs", "devices"}
    assert schema["additionalProperties"] is False
    jobs = schema["$defs"]["JobsSettings"]
    assert set(jobs["properties"]) == {
        "storage", "dbpath", "fsync", "fsync_interval", "retention_days"
    }  # fmt: skip
    assert jobs["additionalProperties"] is False
    json.dumps(schema)
