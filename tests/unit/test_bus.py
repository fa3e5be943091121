"""The daemon's in-loop event bus (sugo.daemon.bus): recorded events reach
the managers that subscribe to them, a failing subscriber breaks nothing,
and the scheduler runs a pass after the events that may start a job."""

import logging
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sugo.daemon.bus import DRIVER_READY, HOST_LOST, RELOADED, Bus, Event
from sugo.daemon.events import Events
from sugo.daemon.payloads import PayloadCache
from sugo.daemon.scheduler import KICK_ON, Scheduler
from sugo.daemon.store import Store


class Loop:
    def __init__(self) -> None:
        self.posted: list[Callable[[], None]] = []

    def post(self, fn: Callable[[], None]) -> None:
        self.posted.append(fn)

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.posted.append(fn)


def test_subscribers_get_their_kinds_in_order() -> None:
    bus = Bus()
    seen: list[tuple[str, str]] = []
    bus.subscribe("job.ended", lambda e: seen.append(("a", e.kind)))
    bus.subscribe(("pipeline.*", "job.ended"), lambda e: seen.append(("b", e.kind)))
    bus.publish("job.ended", "job 1", status="c")
    bus.publish("pipeline.freed", "p1")
    bus.publish("job.queued", "job 2")  # nobody's
    assert seen == [("a", "job.ended"), ("b", "job.ended"), ("b", "pipeline.freed")]


def test_a_failing_subscriber_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = Bus()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise ValueError("boom")

    bus.subscribe("host.lost", broken)
    bus.subscribe("host.lost", seen.append)
    with caplog.at_level(logging.ERROR, logger="sugo.daemon.bus"):
        bus.publish(HOST_LOST, "driver d", driver="d")  # does not raise
    assert [e.data for e in seen] == [{"driver": "d"}]
    assert "a subscriber failed" in caplog.text and "boom" in caplog.text


def test_emit_records_the_event_and_delivers_it_with_what_it_is_about(tmp_path: Path) -> None:
    with Store(tmp_path / "db.sqlite") as store:
        rt: Any = SimpleNamespace(
            store=store, loop=Loop(), settings=SimpleNamespace(hooks=[]), pool=None
        )
        bus = Bus()
        events = Events(rt, bus)
        seen: list[Event] = []
        order: list[str] = []
        bus.subscribe("job.ended", seen.append)
        # A reaction's own event is recorded before the one it reacts to, as
        # when the emitter made that change itself (maintenance.due, job.ended).
        bus.subscribe("job.ended", lambda e: events.emit("maintenance.due", "dev"))
        bus.subscribe("*", lambda e: order.append(e.kind))
        row = object()
        events.emit("job.ended", "job 7", about=row, status="c")
        assert seen[0].about is row and seen[0].data == {"status": "c"}
        recorded = store.list_events()
        assert [(r.kind, r.subject) for r in recorded] == [
            ("maintenance.due", "dev"),
            ("job.ended", "job 7"),
        ]
        assert "about" not in recorded[1].data


def test_the_scheduler_runs_one_pass_after_the_events_that_may_start_a_job() -> None:
    bus = Bus()
    loop = Loop()
    rt: Any = SimpleNamespace(loop=loop, stopping=False)
    Scheduler(rt, bus, PayloadCache(), lambda p: None, lambda job, p: None)
    for kind in ("job.queued", "job.ended", "pipeline.ready", "component.status"):
        assert kind in KICK_ON
    assert {DRIVER_READY, RELOADED, "daemon.started"} <= set(KICK_ON)
    bus.publish("job.started", "job 1")  # not one of them
    assert loop.posted == []
    bus.publish("job.queued", "job 1")
    bus.publish("pipeline.ready", "p1")  # coalesced with the pass already due
    assert len(loop.posted) == 1
