from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import DaemonHarness


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
