"""Array data (issue 13): 16 spectrometer channels, each recording a
4096-value float64 spectrum at 10 Hz for 60 s (10 s with --quick), one job
per channel, all at once.

Measured: every job runner's and the driver host's RSS, sampled each second
from when all jobs run until they end, reported as the peak and as the
growth between the first and the last fifth of the run (flat memory: about
0 MiB); the results writers' peak memory, which each writes in its job log
(the process's own high-water mark); and how many results files hold every
point. 600 spectra of 32 KiB make 19 MiB of staged data a job, 300 MiB in all.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import psutil

from bench import sugo_side
from bench.context import Ctx
from bench.jobwatch import FINAL, watch
from bench.report import Figure

CHANNELS = 16
INTERVAL = 0.1
LENGTH = 4096
MB = 1024 * 1024
PEAK = re.compile(r"peak memory of this process (\d+) MiB")


def devices() -> str:
    names = ", ".join(f'"{i}"' for i in range(1, CHANNELS + 1))
    return f"""\
[[devices]]
name = "dev-spec"
driver = "spectrometer"
address = "sim-spec"
channels = [{names}]
pollrate = 0.2

[[pipelines]]
name = "pip-spec-*"
devices = [{{ role = "spec", device = "dev-spec", channel = "each" }}]
"""


def payload(sample: str, duration: float, output: Path) -> str:
    doc = {
        "version": "1.0",
        "sample": {"name": sample},
        "method": [
            {
                "component_tag": "spec",
                "technique_name": "spectrum",
                "max_duration": duration,
                "sampling_interval": INTERVAL,
            }
        ],
        # INFO: the writer's line with its peak memory goes to the job log
        "settings": {
            "unlock_when_done": False,
            "verbosity": "INFO",
            "output": {"path": str(output)},
        },
    }
    return json.dumps(doc, indent=1)


@dataclass
class Series:
    """RSS samples (MiB) of one process over time."""

    samples: list[tuple[float, float]] = field(default_factory=list)

    def peak(self) -> float:
        return max((r for _, r in self.samples), default=0.0)

    def growth(self, t0: float, t1: float) -> float | None:
        """Mean of the last fifth of [t0, t1] minus the mean of the first."""
        span = (t1 - t0) / 5
        first = [r for t, r in self.samples if t0 <= t <= t0 + span]
        last = [r for t, r in self.samples if t1 - span <= t <= t1]
        if not first or not last:
            return None
        return sum(last) / len(last) - sum(first) / len(first)


class Sampler:
    """Samples the RSS of the given PIDs every ``every`` s in a thread."""

    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        self.pids: dict[int, str] = {}  # pid -> kind ("runner", "host")
        self.series: dict[int, Series] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            now = time.monotonic()
            for pid in list(self.pids):
                with contextlib.suppress(psutil.Error):
                    rss = psutil.Process(pid).memory_info().rss / MB
                    self.series.setdefault(pid, Series()).samples.append((now, rss))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def of(self, kind: str) -> list[Series]:
        return [s for pid, s in self.series.items() if self.pids.get(pid) == kind]


def _complete(path: str | None, expected: int) -> bool:
    if not path or not Path(path).exists():
        return False
    with h5py.File(path, "r") as f:
        spec = f.get("spec")
        return spec is not None and spec["spectrum"].shape == (expected, LENGTH)


def run(ctx: Ctx) -> list[Figure]:
    duration = 10.0 if ctx.quick else 60.0
    title = f"{CHANNELS} x {LENGTH}-value spectra at 10 Hz for {duration:g} s"
    files = f"{title}: complete results files"
    figs = {
        "files": Figure("arrays_files", files, "files", CHANNELS, "=="),
        "writer": Figure("arrays_writer_peak", f"{title}: results writer peak RSS", "MiB", 150.0),
        "runner": Figure("arrays_runner_peak", f"{title}: job runner peak RSS", "MiB", 80.0),
        "runner_growth": Figure(
            "arrays_runner_growth", f"{title}: job runner RSS growth", "MiB", 5.0
        ),
        "host": Figure("arrays_host_peak", f"{title}: driver host peak RSS", "MiB", None),
        "host_growth": Figure(
            "arrays_host_growth", f"{title}: driver host RSS growth", "MiB", 10.0
        ),
    }  # fmt: skip
    for f in figs.values():
        f.tomato_skip = "sugo only"
        f.ratio = False
    figs["runner_growth"].note = "mean RSS of the last fifth of the run minus the first fifth"
    system = sugo_side.SugoSystem(devices(), parent=ctx.work)
    expected = round(duration / INTERVAL)
    try:
        system.start()
        for i in range(1, CHANNELS + 1):
            system.load_ready(f"pip-spec-{i}", "bench-arrays")
        text = payload("bench-arrays", duration, system.out)
        with Sampler() as sampler:
            sampler.pids[system.host_pids()["spectrometer"]] = "host"
            ids = [system.submit(text)[0] for _ in range(CHANNELS)]
            marks: dict[str, float] = {}

            def on_poll(seen: dict[int, object]) -> None:
                for job in system.jobs(ids):
                    if job.get("runner_pid") and job["status"] not in FINAL:
                        sampler.pids.setdefault(int(job["runner_pid"]), "runner")
                states = [s for s in seen.values()]
                if "all_r" not in marks and all(getattr(s, "running", None) for s in states):
                    marks["all_r"] = time.monotonic()
                if "first_final" not in marks and any(getattr(s, "final", None) for s in states):
                    marks["first_final"] = time.monotonic()

            seen = watch(system, ids, timeout=duration + 120, every=0.2, on_poll=on_poll)
        jobs = [s.job for s in seen.values()]
        # read before stop(): it removes the folder
        complete = sum(_complete(j.get("respath"), expected) for j in jobs)
        peaks = [float(p) for j in jobs for p in PEAK.findall(_log(j))]
        staged = [_staged_mib(j) for j in jobs]
    finally:
        system.stop()
    t0, t1 = marks.get("all_r"), marks.get("first_final")
    runners, hosts = sampler.of("runner"), sampler.of("host")
    figs["files"].sugo.append(float(complete))
    if peaks:
        figs["writer"].sugo.append(max(peaks))
    figs["runner"].sugo.append(max(s.peak() for s in runners) if runners else 0.0)
    figs["host"].sugo.append(max(s.peak() for s in hosts) if hosts else 0.0)
    if t0 is not None and t1 is not None:
        growth = [g for s in runners if (g := s.growth(t0, t1)) is not None]
        if growth:
            figs["runner_growth"].sugo.append(max(growth))
        hgrowth = [g for s in hosts if (g := s.growth(t0, t1)) is not None]
        if hgrowth:
            figs["host_growth"].sugo.append(max(hgrowth))
    figs["files"].extra["sugo"] = {
        "statuses": [j["status"] for j in jobs],
        "writer_peaks_mib": peaks,
        "runner_peaks_mib": [round(s.peak(), 1) for s in runners],
        "runners_sampled": len(runners),
        "staged_mib_per_job": round(max(staged, default=0.0), 2),
        "steady_window_s": None if t0 is None or t1 is None else round(t1 - t0, 1),
    }
    ctx.log(f"arrays: {json.dumps({k: f.sugo for k, f in figs.items()})}")
    return list(figs.values())


def _log(job: dict[str, object]) -> str:
    with contextlib.suppress(OSError, TypeError):
        return (Path(str(job["jobdir"])) / "job.log").read_text()
    return ""


def _staged_mib(job: dict[str, object]) -> float:
    folder = Path(str(job.get("jobdir"))) / "staging"
    return sum(f.stat().st_size for f in folder.glob("*.rec")) / MB if folder.is_dir() else 0.0
