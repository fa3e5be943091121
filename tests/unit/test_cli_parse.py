"""The `sugo` command line without a daemon: parsing of every subcommand,
usage errors, exit 3 when nothing listens, `init`, and `start`'s refusals."""

import argparse
import json
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from sugo.cli.main import main
from sugo.cli.parser import build_parser, parse_args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUGO_PORT", raising=False)
    monkeypatch.delenv("SUGO_APPDIR", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


# -- parsing ------------------------------------------------------------------------


#: Command lines, the handler they pick and some of the values they set.
PARSES: list[tuple[list[str], str, dict[str, object]]] = [
    (["init"], "setup:cmd_init", {"datadir": None, "logdir": None, "force": False}),
    (
        ["init", "--datadir", "d", "--logdir", "l", "--force"],
        "setup:cmd_init",
        {"datadir": Path("d"), "logdir": Path("l"), "force": True},
    ),
    (["start"], "lifecycle:cmd_start", {"timeout": 30.0}),
    (["start", "--timeout", "2.5"], "lifecycle:cmd_start", {"timeout": 2.5}),
    (["stop"], "lifecycle:cmd_stop", {"force": False, "timeout": 30.0}),
    (["stop", "--force", "--timeout", "3"], "lifecycle:cmd_stop", {"force": True}),
    (["status"], "status:cmd_status", {"table": None}),
    (["status", "drivers"], "status:cmd_status", {"table": "drivers"}),
    (["reload"], "status:cmd_reload", {}),
    (
        ["pipeline", "load", "pip-1", "s1"],
        "pipelines:cmd_load",
        {"pipeline": "pip-1", "sample": "s1"},
    ),
    (["pipeline", "eject", "pip-1"], "pipelines:cmd_eject", {"pipeline": "pip-1"}),
    (["pipeline", "ready", "pip-1"], "pipelines:cmd_ready", {"pipeline": "pip-1"}),
    (
        ["submit", "p.yml", "--jobname", "n", "--wait"],
        "jobs:cmd_submit",
        {"payload": Path("p.yml"), "jobname": "n", "wait": True},
    ),
    (["submit", "p.toml"], "jobs:cmd_submit", {"jobname": None, "wait": False}),
    (["jobs"], "jobs:cmd_jobs", {"ids": [], "last": None, "all": False}),
    (["jobs", "3", "4"], "jobs:cmd_jobs", {"ids": [3, 4]}),
    (["jobs", "--last", "5"], "jobs:cmd_jobs", {"ids": [], "last": 5, "all": False}),
    (["jobs", "--last", "0"], "jobs:cmd_jobs", {"last": 0}),
    (["jobs", "--all"], "jobs:cmd_jobs", {"ids": [], "last": None, "all": True}),
    (["cancel", "7", "8"], "jobs:cmd_cancel", {"ids": [7, 8]}),
    (["snapshot", "5"], "jobs:cmd_snapshot", {"id": 5}),
    (["wait", "1", "2", "--timeout", "9"], "jobs:cmd_wait", {"ids": [1, 2], "timeout": 9.0}),
    (["wait", "1"], "jobs:cmd_wait", {"timeout": None}),
    (["search", "abc"], "jobs:cmd_search", {"text": "abc"}),
    (["demo"], "demo:cmd_demo", {"seconds": 4.0}),
    (
        ["component", "status", "c:(a,1)"],
        "components:cmd_component",
        {"verb": "status", "name": "c:(a,1)"},
    ),
    (["component", "attrs", "c:(a,1)"], "components:cmd_component", {"verb": "attrs"}),
    (["component", "capabilities", "x"], "components:cmd_component", {"verb": "capabilities"}),
    (["component", "measure", "x"], "components:cmd_component", {"verb": "measure"}),
    (
        ["component", "reset", "x", "--force"],
        "components:cmd_component",
        {"verb": "reset", "force": True},
    ),
    (
        ["component", "get", "x", "max", "min"],
        "components:cmd_get",
        {"name": "x", "attrs": ["max", "min"]},
    ),
    (
        ["component", "set", "x", "param", "2 s", "--force"],
        "components:cmd_set",
        {"name": "x", "attr": "param", "value": "2 s", "force": True},
    ),
]


@pytest.mark.parametrize(("argv", "handler", "expected"), PARSES)
def test_every_subcommand_parses(
    argv: list[str], handler: str, expected: dict[str, object]
) -> None:
    args = parse(*argv)
    assert args.handler == handler
    for key, value in expected.items():
        assert getattr(args, key) == value, key


def test_common_options_before_and_after_the_subcommand() -> None:
    before = parse("--port", "1234", "--appdir", "/a", "--json", "-v", "jobs")
    after = parse("jobs", "--port", "1234", "--appdir", "/a", "--json", "-v")
    nested = parse("pipeline", "load", "p", "s", "--port", "1234", "--json", "-q")
    for args in (before, after):
        assert (args.port, args.appdir, args.json, args.verbose) == (1234, Path("/a"), True, 1)
    assert (nested.port, nested.json, nested.quiet) == (1234, True, 1)
    # An option before the subcommand survives the subcommand's own parser.
    mixed = parse("--port", "1234", "status", "--json")
    assert (mixed.port, mixed.json) == (1234, True)


USAGE_ERRORS = [
    [],  # no command
    ["frobnicate"],
    ["status", "nonsense"],
    ["jobs", "x"],
    ["jobs", "0"],
    ["jobs", "--last", "-1"],
    ["jobs", "--last", "many"],
    ["jobs", "--last"],
    ["jobs", "--all", "--last", "3"],
    ["cancel"],
    ["snapshot"],
    ["snapshot", "1", "2"],
    ["wait"],
    ["wait", "1", "--timeout", "-2"],
    ["wait", "1", "--timeout", "soon"],
    ["submit"],
    ["search"],
    ["pipeline"],
    ["pipeline", "load", "p"],
    ["pipeline", "unload", "p"],
    ["component", "get", "x"],
    ["component", "set", "x", "attr"],
    ["component", "explode", "x"],
    ["component", "status"],
    ["component", "status", "x", "--force"],  # --force only where it means something
    ["--port", "0", "status"],
    ["--port", "70000", "status"],
    ["--port", "http", "status"],
    ["start", "--timeout", "0"],
]


@pytest.mark.parametrize("argv", USAGE_ERRORS)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err  # argparse says what is wrong


def test_version_and_help_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("sugo ")
    assert main(["status", "--help"]) == 0
    assert "pipelines" in capsys.readouterr().out


def test_jobs_ids_with_all_or_last_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    port = str(free_port())  # refused before any request: no daemon needed
    assert main(["jobs", "3", "--all", "--port", port]) == 2
    assert main(["jobs", "3", "--last", "2", "--port", port]) == 2
    assert "give no job ids" in capsys.readouterr().err


# -- the quick parse (only the named command's parser) -----------------------------------

COMMAND_LINES = [
    *(argv for argv, _, _ in PARSES),
    ["--port", "1234", "--appdir", "/a", "--json", "-v", "jobs"],
    ["jobs", "--port", "1234", "--appdir", "/a", "--json", "-v"],
    ["--port=1234", "-q", "status", "--json", "pipelines"],
    ["pipeline", "load", "p", "s", "--port", "1234", "--json", "-q"],
    ["submit", "p.yml", "--watch"],
    ["job", "plot", "3", "-o", "x.png", "--size", "800x600"],
    ["--appdir", "status", "jobs"],  # a command name as an option's value
    ["--app", "status", "jobs"],  # ... after an abbreviated option
]


@pytest.mark.parametrize("argv", COMMAND_LINES)
def test_quick_parse_equals_the_full_parser(argv: list[str]) -> None:
    assert vars(parse_args(argv)) == vars(parse(*argv))


def test_quick_parse_builds_only_the_named_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import sugo.cli.parser as parser_module

    def full_parser() -> argparse.ArgumentParser:
        raise AssertionError("the full parser was built")

    monkeypatch.setattr(parser_module, "build_parser", full_parser)
    args = parse_args(["--port", "1234", "status", "--json"])
    assert (args.handler, args.port, args.json) == ("status:cmd_status", 1234, True)
    assert parse_args(["jobs", "--last", "3"]).last == 3


@pytest.mark.parametrize(
    "argv",
    [
        *(argv for argv in USAGE_ERRORS if argv),  # (`sugo` alone: main says it)
        ["--help"],
        ["jobs", "--help"],
        ["pipeline", "load", "-h"],
        ["--version"],
        ["status", "--version"],
        ["--port", "12", "component", "get", "x", "--help"],
    ],
)
def test_quick_parse_says_what_the_full_parser_says(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Help, version and usage errors come from the full parser, word for word."""
    with pytest.raises(SystemExit) as full:
        parse(*argv)
    expected = capsys.readouterr()
    assert main(argv) == full.value.code
    assert capsys.readouterr() == expected
    assert expected.out or expected.err


# -- no daemon ------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["status"], ["jobs"], ["cancel", "1"], ["stop"]])
def test_no_daemon_exits_3_naming_the_port(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    assert main([*command, "--port", str(port)]) == 3
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err
    assert err.startswith("sugo: ")
    assert str(port) in err
    assert "sugo start" in err
    assert captured.out == ""


def test_port_from_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    monkeypatch.setenv("SUGO_PORT", str(port))
    assert main(["status"]) == 3
    assert f"port {port}" in capsys.readouterr().err


def test_json_error_shape(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert main(["jobs", "--json", "--port", str(port)]) == 3
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert set(doc) == {"error"}
    assert str(port) in doc["error"]
    assert captured.err.strip() == f"sugo: {doc['error']}"


def test_bad_port_in_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUGO_PORT", "ninety")
    assert main(["status"]) == 1
    assert "SUGO_PORT" in capsys.readouterr().err


# -- init -------------------------------------------------------------------------------


@pytest.fixture
def appdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "app"


def test_init_writes_private_files_and_refuses_a_second_time(
    appdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--appdir", str(appdir)]) == 0
    out = capsys.readouterr().out
    settings, devices = appdir / "settings.toml", appdir / "devices.toml"
    for path in (settings, devices):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert str(path) in out
    assert (appdir / "data").is_dir()
    assert (appdir / "logs").is_dir()
    assert [p.name for p in appdir.iterdir() if p.name.endswith(".tmp")] == []

    from sugo.config import load_devices, load_settings

    loaded = load_settings(settings)
    assert loaded.datadir == appdir / "data"
    assert loaded.logdir == appdir / "logs"
    assert load_devices(loaded.devices.config).pipelines()

    settings.write_text("# edited by hand\n")
    assert main(["init", "--appdir", str(appdir)]) == 1
    err = capsys.readouterr().err
    assert "already exist" in err and "--force" in err
    assert settings.read_text() == "# edited by hand\n"  # untouched

    assert main(["init", "--appdir", str(appdir), "--force"]) == 0
    assert "datadir" in settings.read_text()
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600


def test_init_with_own_folders_and_json(
    tmp_path: Path, appdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, logs = tmp_path / "d", tmp_path / "l"
    argv = ["init", "--appdir", str(appdir), "--datadir", str(data), "--logdir", str(logs)]
    assert main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["datadir"] == str(data) and doc["logdir"] == str(logs)
    assert doc["settings"] == str(appdir / "settings.toml")
    assert data.is_dir() and logs.is_dir()


def test_init_refuses_when_one_file_exists(
    appdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    appdir.mkdir()
    (appdir / "devices.toml").write_text("mine")
    assert main(["init", "--appdir", str(appdir), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert "devices.toml" in doc["error"]
    assert not (appdir / "settings.toml").exists()  # nothing written at all


def test_appdir_from_environment(
    monkeypatch: pytest.MonkeyPatch, appdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUGO_APPDIR", str(appdir))
    assert main(["init"]) == 0
    assert (appdir / "settings.toml").exists()


# -- start refusals ----------------------------------------------------------------------


def test_start_without_init_refuses_with_the_hint(
    appdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["start", "--appdir", str(appdir), "--port", str(free_port())]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "run 'sugo init' first" in err


def test_start_with_a_bad_settings_file_prints_its_error(
    appdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--appdir", str(appdir)]) == 0
    settings = appdir / "settings.toml"
    settings.write_text(settings.read_text().replace("fsync = true", "fsync = 12"))
    capsys.readouterr()
    assert main(["start", "--appdir", str(appdir), "--port", str(free_port())]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "settings.toml" in err and "fsync" in err


def test_start_with_a_bad_devices_file_prints_its_error(
    appdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--appdir", str(appdir)]) == 0
    (appdir / "devices.toml").write_text("[[devices]]\nname = 1\n")
    capsys.readouterr()
    assert main(["start", "--appdir", str(appdir), "--port", str(free_port())]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "devices.toml" in err


def test_start_refuses_a_port_taken_by_another_program(
    appdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--appdir", str(appdir)]) == 0
    capsys.readouterr()
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        assert main(["start", "--appdir", str(appdir), "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"port {port} is taken" in err
    assert not (appdir / "logs" / f"daemon-{port}.out").exists()  # nothing spawned


def test_start_reports_a_daemon_that_dies_while_starting(
    appdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The job storage folder cannot be created (its parent is a file): the
    # daemon process starts, fails and exits; start shows why, from its output.
    assert main(["init", "--appdir", str(appdir)]) == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings = appdir / "settings.toml"
    text = settings.read_text()
    old = next(line for line in text.splitlines() if line.startswith("storage = "))
    settings.write_text(text.replace(old, f'storage = "{blocker}/jobs"'))
    capsys.readouterr()
    port = free_port()
    assert main(["start", "--appdir", str(appdir), "--port", str(port), "--timeout", "60"]) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("sugo: the daemon exited with code 1 while starting")
    assert f"daemon-{port}.out" in err  # the tail of its output, with the reason
    assert "cannot start" in err and str(blocker) in err


# -- which jobs `sugo jobs` lists ------------------------------------------------------


class _Jobs:
    """The daemon's `jobs` request over a table of job id → status."""

    def __init__(self, statuses: dict[int, str]) -> None:
        self.statuses = statuses

    def jobs(self, ids: object = (), recent: int | None = None) -> list[SimpleNamespace]:
        assert recent is not None
        newest = sorted(self.statuses, reverse=True)[:recent]
        active = [i for i, s in self.statuses.items() if s not in ("c", "ce", "cd")]
        return [SimpleNamespace(id=i, status=self.statuses[i]) for i in sorted({*newest, *active})]


@pytest.mark.parametrize(
    ("statuses", "n", "shown", "more"),
    [
        ({}, 50, [], False),
        ({1: "c", 2: "r", 3: "q"}, 50, [1, 2, 3], False),
        ({1: "c", 2: "c", 3: "c"}, 2, [2, 3], True),
        ({1: "c", 2: "c", 3: "c"}, 3, [1, 2, 3], False),
        ({1: "q", 2: "c", 3: "c"}, 2, [1, 2, 3], False),  # all there is
        ({1: "q", 2: "c", 3: "c"}, 0, [1], True),
        ({1: "c", 2: "q", 3: "c", 4: "c"}, 2, [2, 3, 4], True),
        # Ids from 7 (1-6 pruned): unknown whether older ones exist, so say so.
        ({7: "q", 8: "c", 9: "c"}, 2, [7, 8, 9], True),
        ({7: "c", 8: "c"}, 2, [7, 8], False),
    ],
)
def test_recent_jobs(statuses: dict[int, str], n: int, shown: list[int], more: bool) -> None:
    from sugo.cli.jobs import recent_jobs

    jobs, left_out = recent_jobs(_Jobs(statuses), n)  # type: ignore[arg-type]
    assert ([j.id for j in jobs], left_out) == (shown, more)


def test_component_takes_its_name_before_or_after_the_verb() -> None:
    name = "counter:(sim,1)"
    for argv in (["component", "set", name, "max", "3"], ["component", name, "set", "max", "3"]):
        args = parse_args(argv)
        assert (args.handler, args.name, args.attr, args.value) == (
            "components:cmd_set", name, "max", "3",
        )  # fmt: skip
    assert parse_args(["--json", "component", name, "status"]).name == name
    # An option's value that reads "component" is not the command.
    args = parse_args(["--appdir", "component", "component", name, "status"])
    assert (args.appdir, args.name, args.handler) == (
        Path("component"), name, "components:cmd_component",
    )  # fmt: skip
    # A name that is a verb's word is still read as the verb.
    assert parse_args(["component", "status", "status"]).name == "status"
