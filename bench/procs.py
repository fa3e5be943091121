"""CPU and memory of a system's processes: a root set of PIDs and all their
descendants, sampled from a background thread.

CPU is the sum over every process ever seen of its last-seen user + system
time. A process that exits between two samples loses at most one sampling
interval of CPU: sugo's fork server lets the kernel reap job runners, so their
times never reach a parent's ``children_*`` counters.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import psutil

MB = 2**20


def tree(roots: Iterable[int]) -> dict[int, psutil.Process]:
    """The live processes among ``roots`` and all their descendants, by PID."""
    found: dict[int, psutil.Process] = {}
    for pid in roots:
        try:
            proc = psutil.Process(pid)
            kids = proc.children(recursive=True)
        except psutil.Error:
            continue
        for p in [proc, *kids]:
            found.setdefault(p.pid, p)
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def kill_pids(pids: Iterable[int], grace: float = 3.0) -> list[int]:
    """SIGTERM each live PID, SIGKILL what survives ``grace`` s; returns the PIDs
    that had to be signalled at all."""
    live = [p for p in set(pids) if p != os.getpid() and alive(p)]
    for pid in live:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(alive(p) for p in live) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in live:
        if alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    return live


@dataclass
class Memory:
    """Summed memory of a set of processes, in MiB (USS/PSS may be missing)."""

    rss: float
    uss: float | None
    pss: float | None
    count: int


def memory(procs: Iterable[psutil.Process]) -> Memory:
    """RSS, and USS/PSS where the platform gives them, summed over ``procs``."""
    rss = 0.0
    uss: float | None = 0.0
    pss: float | None = 0.0
    count = 0
    for p in procs:
        try:
            full = p.memory_full_info()
        except psutil.AccessDenied:
            full = None
        except psutil.Error:
            continue
        count += 1
        if full is None:
            rss += p.memory_info().rss / MB
            uss = pss = None
            continue
        rss += full.rss / MB
        uss = None if uss is None else uss + getattr(full, "uss", 0) / MB
        pss = None if pss is None or not hasattr(full, "pss") else pss + full.pss / MB
    return Memory(rss=rss, uss=uss, pss=pss, count=count)


@dataclass
class Watch:
    """Samples a process tree every ``every`` s while running (a context manager).

    ``roots`` is called at each sample, so PIDs that appear later (job runners
    the daemon reports) can be added.
    """

    roots: Callable[[], Iterable[int]]
    every: float = 0.1
    label: Callable[[psutil.Process], str] | None = None  # names a process's role
    pss_every: float = 2.0  # seconds between (costly) PSS/USS sums; 0: never
    cpu: dict[int, float] = field(default_factory=dict)  # last-seen user+system, by PID
    base: dict[int, float] = field(default_factory=dict)  # at start, by PID
    peak_rss: float = 0.0  # MiB, summed over the tree
    peak_rss_by_role: dict[str, float] = field(default_factory=dict)  # at the peak
    peak_count: int = 0
    peak_pss: float | None = None  # MiB, summed; None when not measured
    peak_uss: float | None = None
    labels: dict[int, str] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    t0: float = 0.0
    t1: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._last_pss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        """Take one sample now."""
        with self._lock:
            self._sample()

    def mark(self) -> tuple[float, float]:
        """A fresh sample: (monotonic time, CPU seconds so far); the CPU of a
        window is the difference of two marks."""
        self.sample()
        return time.monotonic(), self.cpu_seconds

    def _sample(self) -> None:
        rss = 0.0
        by_role: dict[str, float] = {}
        procs = tree(self.roots())
        for pid, p in procs.items():
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    one = p.memory_info().rss / MB
            except psutil.Error:
                continue
            rss += one
            self.cpu[pid] = t.user + t.system
            if pid not in self.seen and self.label is not None:
                with contextlib.suppress(psutil.Error):
                    self.labels[pid] = self.label(p)
            self.seen.add(pid)
            name = self.labels.get(pid, "other")
            by_role[name] = by_role.get(name, 0.0) + one
        self.peak_count = max(self.peak_count, len(procs))
        if rss > self.peak_rss:
            self.peak_rss, self.peak_rss_by_role = rss, by_role
        now = time.monotonic()
        if self.pss_every and now - self._last_pss >= self.pss_every:
            self._last_pss = now
            mem = memory(procs.values())
            if mem.pss is not None:
                self.peak_pss = max(self.peak_pss or 0.0, mem.pss)
            if mem.uss is not None:
                self.peak_uss = max(self.peak_uss or 0.0, mem.uss)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> Watch:
        self.sample()
        self.base = dict(self.cpu)
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()
        self.t1 = time.monotonic()

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds used by the tree while watched."""
        with self._lock:
            return sum(v - self.base.get(pid, 0.0) for pid, v in self.cpu.items())

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds while watched, summed by process label."""
        out: dict[str, float] = {}
        with self._lock:
            for pid, v in self.cpu.items():
                name = self.labels.get(pid, "other")
                out[name] = out.get(name, 0.0) + v - self.base.get(pid, 0.0)
        return out

    @property
    def cpu_percent(self) -> float:
        """CPU while watched, in percent of one core."""
        wall = max(self.t1 - self.t0, 1e-9)
        return 100.0 * self.cpu_seconds / wall


def role(p: psutil.Process) -> str:
    """A short name for what a process is: the module it runs (``-m``) or its
    script; a fork that kept its parent's command line is "<parent> child"."""
    cmd = p.cmdline()
    if "-m" in cmd[:-1]:
        i = cmd.index("-m") + 1
        name = cmd[i]
        if len(cmd) > i + 1 and not cmd[i + 1].startswith("-"):
            name += " " + cmd[i + 1]  # e.g. the kind of a fork server
    elif len(cmd) > 1 and "python" in os.path.basename(cmd[0]):
        name = os.path.basename(cmd[1])
    else:
        name = os.path.basename(cmd[0]) if cmd else p.name()
    parent = p.parent()
    if parent is not None and parent.cmdline() == cmd:
        name += " child"
    return name
