"""`processes.on_termination`: the OS's requests to end the daemon, routed in
one place (SIGTERM leaves the children running; Ctrl-C stops everything)."""

import os
import signal
import sys
from collections.abc import Iterator

import pytest

from sugo.platform import procs as processes


@pytest.fixture
def saved_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


@pytest.mark.skipif(sys.platform == "win32", reason="no catchable SIGTERM on Windows")
def test_sigterm_detaches_and_sigint_stops(saved_handlers: None) -> None:
    calls: list[tuple[str, str]] = []
    processes.on_termination(
        lambda name: calls.append(("detach", name)), lambda name: calls.append(("stop", name))
    )
    os.kill(os.getpid(), signal.SIGTERM)  # handlers run before the next bytecode
    os.kill(os.getpid(), signal.SIGINT)
    assert calls == [("detach", "SIGTERM"), ("stop", "SIGINT")]
