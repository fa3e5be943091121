from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import DaemonHarness
from tests.web.webserver import WebServer


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonHarness]:
    """One daemon for a module's API tests (each test uses its own pipeline or job)."""
    h = DaemonHarness(tmp_path_factory.mktemp("lab"))
    h.start()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def web(lab: DaemonHarness) -> Iterator[WebServer]:
    """`sugo web` on loopback in front of ``lab``."""
    w = WebServer(lab).start()
    yield w
    w.stop()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path
