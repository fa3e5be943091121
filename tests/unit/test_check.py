"""`sugo check` and `sugo schema` without a daemon, the pipeline match (the
daemon's, which `sugo check` asks for in a dry run of submit), and the
generated reference documents being current."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sugo.cli.main import main
from sugo.config.payload import parse_payload
from sugo.daemon.scheduler import can_run as missing
from sugo.daemon.store import ComponentRow, PipelineRow
from sugo.protocol.states import ComponentState

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def no_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUGO_PORT", str(free_port()))
    monkeypatch.setenv("NO_COLOR", "1")


def test_a_valid_payload_is_checked_offline_when_no_daemon_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = DATA / "tomato" / "counter_multistep.yml"
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: valid payload" in out
    assert "upgraded to 2.2" in out  # a tomato 0.x/1.x/2.x file
    assert "checked offline only" in out


def test_a_valid_payload_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "tomato" / "psutil_counter.yml"
    assert main(["--json", "check", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is True and doc["daemon"] is False
    assert doc["roles"] == ["psutil", "counter"] and doc["tasks"] == 3


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("payload_trigger_unknown.yml", "method[1].start_with_task_name: no task named 'triger'"),
        ("payload_duration_units.toml", "max_duration"),
        ("payload_deadlock.toml", "can never start"),
        ("payload_syntax.yml", "payload_syntax.yml"),
    ],
)
def test_an_invalid_payload_fails_naming_key_and_problem(
    name: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(DATA / "malformed" / name)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], captured.err


def test_an_invalid_payload_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "check", str(DATA / "malformed" / "payload_trigger_self.toml")]) == 1
    assert "cannot trigger itself" in json.loads(capsys.readouterr().out)["error"]


def _pipeline(name: str, **components: str) -> PipelineRow:
    return PipelineRow(name=name, ready=True, sample=None, jobid=None, components=components)


def _component(name: str, capabilities: list[str], state: str = "idle") -> ComponentRow:
    driver = name.partition(":")[0]
    return ComponentRow(
        name=name, driver=driver, device="d", address="a", channel="1",
        capabilities=tuple(capabilities), state=ComponentState(state), pollrate=1.0,
    )  # fmt: skip


def test_the_pipeline_match_names_what_is_missing() -> None:
    payload = parse_payload(
        (DATA / "tomato" / "psutil_counter.yml").read_text(), "yaml", "psutil_counter.yml"
    )
    comps = {
        c.name: c
        for c in [
            _component("counter:(a,1)", ["count", "random"]),
            _component("psutil:(l,0)", ["all_info", "cpu_info", "mem_info"]),
            _component("counter:(b,1)", ["count"]),
            _component("psutil:(m,0)", [], state="failed"),
        ]
    }
    techniques = {t.technique_name for t in payload.method}
    assert techniques == {"all_info", "random"}
    both = _pipeline("both", counter="counter:(a,1)", psutil="psutil:(l,0)")
    assert missing(payload, both, comps) is None
    one = _pipeline("one", counter="counter:(a,1)")
    assert missing(payload, one, comps) == "no role 'psutil' (roles: counter)"
    weak = _pipeline("weak", counter="counter:(b,1)", psutil="psutil:(l,0)")
    assert missing(payload, weak, comps) == (
        "role 'counter' (counter:(b,1)) has no technique 'random' (capabilities: count)"
    )
    gone = _pipeline("gone", counter="counter:(z,1)", psutil="psutil:(l,0)")
    assert (
        missing(payload, gone, comps)
        == "component counter:(z,1) of role 'counter' is not configured"
    )
    # A failed component's techniques are unknown: the daemon's validation decides.
    down = _pipeline("down", counter="counter:(a,1)", psutil="psutil:(m,0)")
    assert missing(payload, down, comps) is None


@pytest.mark.parametrize("kind", ["payload", "devices", "settings"])
def test_schema_prints_a_json_schema(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", kind]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["title"] == f"sugo {kind} file"
    required = {"payload": "method", "devices": "devices", "settings": "datadir"}[kind]
    assert required in schema["properties"]


def test_schema_of_an_unknown_kind_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "nope"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_the_generated_reference_documents_are_current() -> None:
    """docs/reference/ is generated from the models and the parser: a change to
    either must be followed by `python docs/generate.py`."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
