"""Watching jobs from the client side, the same way for both systems: a tight
loop of status queries with a deadline, noting when each state was first seen."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

RUNNING = ("r", "rd")
FINAL = ("c", "ce", "cd")


class System(Protocol):
    """What the job benchmarks need of a system (sugo's or tomato's)."""

    out: Path

    def submit(self, text: str) -> tuple[int, float, float]: ...
    def jobs(self, ids: list[int]) -> list[dict[str, Any]]: ...
    def load_ready(self, pipeline: str, sample: str) -> None: ...
    def pipeline_free(self, pipeline: str) -> bool: ...
    def pids(self) -> set[int]: ...


@dataclass
class Seen:
    """Unix times at which a job's states were first observed."""

    running: float | None = None
    final: float | None = None
    file_at_final: bool = False
    job: dict[str, Any] = field(default_factory=dict)


def wait_until(check: Any, timeout: float, what: str, every: float = 0.02) -> Any:
    """Call ``check`` until it returns something truthy; RuntimeError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def watch(
    system: System,
    ids: list[int],
    timeout: float,
    every: float = 0.005,
    every_running: float | None = None,
    on_poll: Callable[[dict[int, Seen]], None] | None = None,
) -> dict[int, Seen]:
    """Poll the jobs until all are final; returns when each was first seen
    running and final (and whether its results file existed by then).
    ``every_running``: the poll period once all are running (less load on
    the daemon during long runs). ``on_poll`` is called after every poll."""
    seen = {i: Seen() for i in ids}
    deadline = time.monotonic() + timeout
    while True:
        jobs = system.jobs(ids)
        now = time.time()
        for job in jobs:
            s = seen[int(job["id"])]
            status = job["status"]
            if s.running is None and (status in RUNNING or status in FINAL):
                s.running = now
            if s.final is None and status in FINAL:
                s.final = now
                s.job = job
                s.file_at_final = bool(job.get("respath")) and os.path.exists(job["respath"])
        if on_poll is not None:
            on_poll(seen)
        if all(s.final is not None for s in seen.values()):
            return seen
        if time.monotonic() > deadline:
            late = [i for i, s in seen.items() if s.final is None]
            shown = ", ".join(map(str, late[:5])) + (", ..." if len(late) > 5 else "")
            raise RuntimeError(
                f"{len(late)} of {len(ids)} jobs ({shown}) not final after {timeout:g} s"
            )
        all_running = all(s.running is not None for s in seen.values())
        time.sleep(every_running if every_running and all_running else every)
