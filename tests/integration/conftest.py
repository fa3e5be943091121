from collections.abc import Iterator
from pathlib import Path

import pytest

from sugo import platform
from tests.integration.harness import DaemonHarness

BOTH_MODES = ("fast", "portable")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``both_modes`` run once per process mode (sugo.platform),
    so the path a Windows or macOS user takes is tested on every CI run.
    Every other test runs in the mode SUGO_PROCESS_MODE names (default: auto);
    ``SUGO_PROCESS_MODE=portable pytest tests/integration`` runs them all portable."""
    if metafunc.definition.get_closest_marker("both_modes"):
        metafunc.parametrize("process_mode", BOTH_MODES, indirect=True)


@pytest.fixture(autouse=True)
def process_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The process mode of this test's daemon (and of everything it starts:
    they inherit the environment)."""
    mode: str | None = getattr(request, "param", None)
    if mode is None:
        return platform.mode()
    if mode == "fast" and not platform.fast_available():
        pytest.skip("the fast process mode is Linux-only")
    monkeypatch.setenv(platform.MODE_ENV, mode)
    return mode


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonHarness]:
    """A running daemon with the built-in simulated devices."""
    h = DaemonHarness(tmp_path)
    h.start()
    yield h
    h.stop()


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[type]:
    """Build daemons with other devices files; each is stopped at teardown."""
    made: list[DaemonHarness] = []

    def make(
        devices_text: str | None = None,
        devices_name: str = "devices.toml",
        extra_settings: str = "",
        start: bool = True,
    ) -> DaemonHarness:
        h = DaemonHarness(tmp_path / f"d{len(made)}", devices_text, devices_name, extra_settings)
        made.append(h)
        if start:
            h.start()
        return h

    yield make  # type: ignore[misc]
    for h in made:
        h.stop()
