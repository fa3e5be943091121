"""The daemon's results writes: one write per file, each request answered once
and the same way, however requests and reports interleave."""

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sugo.daemon.jobs.writes import ResultWriter
from sugo.protocol.wire import to_builtins


class FakeCall:
    def __init__(self, req_id: str) -> None:
        self.req_id = req_id
        self.answers: list[tuple[str, Any]] = []

    def reply(self, data: Any = None, frames: Any = None) -> None:
        self.answers.append(("ok", to_builtins(data)))

    def fail(self, message: str) -> None:
        self.answers.append(("error", message))


def writer(tmp_path: Path) -> tuple[ResultWriter, list[tuple[Any, ...]]]:
    w = ResultWriter(tmp_path, 1)
    started: list[tuple[Any, ...]] = []
    w._pool = SimpleNamespace(submit=lambda fn, *args: started.append(args))  # type: ignore[assignment]
    return w, started


def test_a_retry_joins_the_write_in_progress(tmp_path: Path) -> None:
    w, started = writer(tmp_path)
    first, retry = FakeCall("a"), FakeCall("a")
    w.write(1, str(tmp_path), "/r.nc", "c", None, first)  # type: ignore[arg-type]
    w.write(1, str(tmp_path), "/r.nc", "c", None, retry)  # type: ignore[arg-type]
    assert len(started) == 1  # one writer
    w.written(1, "/r.nc", None)  # the writer's report
    assert first.answers == retry.answers == [("ok", {"respath": "/r.nc"})]


def test_a_late_retry_gets_the_same_answer_and_no_second_write(tmp_path: Path) -> None:
    w, started = writer(tmp_path)
    first = FakeCall("a")
    w.write(1, str(tmp_path), "/r.nc", "c", None, first)  # type: ignore[arg-type]
    (_key, write, *_rest) = started[0]
    w.written(1, "/r.nc", None)  # reported; the reply to `first` was lost on the way
    late = FakeCall("a")  # the runner asks again, with the same request id
    w.write(1, str(tmp_path), "/r.nc", "c", None, late)  # type: ignore[arg-type]
    assert late.answers == [("ok", {"respath": "/r.nc"})] and len(started) == 1
    # The first writer's process ends: its thread must not answer anyone again.
    w.written(1, "/r.nc", "cannot write /r.nc: its writer ended without a word", write)
    assert first.answers == [("ok", {"respath": "/r.nc"})]
    assert late.answers == [("ok", {"respath": "/r.nc"})]


def test_a_writer_that_ends_unreported_fails_only_its_own_requests(tmp_path: Path) -> None:
    w, started = writer(tmp_path)
    old = FakeCall("a")
    w.write(1, str(tmp_path), "/r.nc", "c", None, old)  # type: ignore[arg-type]
    (_, old_write, *_rest) = started[0]
    w.written(1, "/r.nc", "cannot write /r.nc: its writer ended without a word", old_write)
    assert old.answers[0][0] == "error"
    new = FakeCall("b")  # another request, a new write
    w.write(1, str(tmp_path), "/r.nc", "c", None, new)  # type: ignore[arg-type]
    assert len(started) == 2
    w.written(1, "/r.nc", "stale", old_write)  # a stale report changes nothing
    assert new.answers == []
    w.written(1, "/r.nc", None)
    assert new.answers == [("ok", {"respath": "/r.nc"})]


def test_a_finalize_waits_for_the_write_a_dead_runner_asked_for(tmp_path: Path) -> None:
    """A runner killed while its results are written: the daemon's finalize
    (status ce) must come after that write (status c), not race it."""
    w, _started = writer(tmp_path)
    w.write(1, str(tmp_path), "/r.nc", "c", None, FakeCall("a"))  # type: ignore[arg-type]
    w.write(2, str(tmp_path), "/s.nc", "c", None, FakeCall("b"))  # type: ignore[arg-type]
    assert not w.wait_idle(1, 0.05)  # job 1's write is still going
    waited: list[bool] = []
    waiter = threading.Thread(target=lambda: waited.append(w.wait_idle(1, 10.0)))
    waiter.start()
    w.written(2, "/s.nc", None)  # another job's write ending does not release it
    waiter.join(0.1)
    assert waiter.is_alive()
    w.written(1, "/r.nc", None)
    waiter.join(5)
    assert waited == [True]
