"""Benchmark: staging a long job and writing its results file.

A 1,000,000-point job (one role, ``uts`` + 5 float variables) is appended to a
staging store in chunks of 1,000 points (fsync on, as in a job runner), then
written to a results NetCDF file. Reports the process's RSS growth during each
phase, the bytes written to disk against the final file size, and the time to
write the results file. Exits 1 if a target is missed.

    python bench/bench_writer.py [--points N] [--chunk N] [--dir PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from sugo.jobs.staging import StagingWriter
from sugo.jobs.writer import GroupInfo, write_results

TARGET_RSS_MB = 20.0
TARGET_WRITE_RATIO = 3.0
TARGET_RESULTS_S = 3.0
N_VARS = 5


class PeakRss:
    """Samples the process's RSS in a thread; ``peak`` is the highest seen."""

    def __init__(self, proc: psutil.Process, every: float = 0.005) -> None:
        self.proc, self.every = proc, every
        self.peak = proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, self.proc.memory_info().rss)


def _written(proc: psutil.Process) -> tuple[int, int]:
    """(bytes passed to write calls, bytes sent to storage) so far."""
    io = proc.io_counters()
    return io.write_chars, io.write_bytes


def run(points: int, chunk: int, folder: Path) -> dict[str, float]:
    """Stage ``points`` points in chunks of ``chunk``, write results, measure."""
    proc = psutil.Process()
    rng = np.random.default_rng(0)
    jobdir = folder / "job"
    units = {f"v{i}": "V" for i in range(N_VARS)}
    rss0 = proc.memory_info().rss
    chars0, bytes0 = _written(proc)
    t0 = time.perf_counter()
    with PeakRss(proc) as append_rss, StagingWriter(jobdir, fsync=True) as writer:
        for seq, start in enumerate(range(0, points, chunk)):
            n = min(chunk, points - start)
            columns = {"uts": 1.7e9 + (start + np.arange(n)) * 1e-4}  # 10 kHz
            columns.update({f"v{i}": rng.random(n) for i in range(N_VARS)})
            writer.append("counter", 0, seq, columns, units)
    t1 = time.perf_counter()
    chars1, _ = _written(proc)
    rss1 = proc.memory_info().rss
    target = folder / "results.nc"
    groups = {"counter": GroupInfo(tasks=[{"index": 0, "technique_name": "random"}])}
    with PeakRss(proc) as write_rss:
        t2 = time.perf_counter()
        write_results(jobdir, target, root_attrs={"sugo_job": "{}"}, groups=groups)
        t3 = time.perf_counter()
    chars2, bytes2 = _written(proc)
    staged = sum(p.stat().st_size for p in (jobdir / "staging").iterdir())
    final = target.stat().st_size
    return {
        "points": points,
        "chunk": chunk,
        "append_s": t1 - t0,
        "append_rss_growth_mb": (append_rss.peak - rss0) / 2**20,
        "write_s": t3 - t2,
        "write_rss_growth_mb": (write_rss.peak - rss1) / 2**20,
        "staging_mb": staged / 2**20,
        "final_mb": final / 2**20,
        "written_mb": (chars2 - chars0) / 2**20,
        "written_ratio": (chars2 - chars0) / final,
        "written_to_storage_mb": (bytes2 - bytes0) / 2**20,
        "append_written_mb": (chars1 - chars0) / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=1_000)
    parser.add_argument("--dir", type=Path, help="work folder (default: a temp folder)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_writer.", dir=args.dir))
    try:
        r = run(args.points, args.chunk, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    checks = [
        ("RSS growth, append", r["append_rss_growth_mb"], "MB", TARGET_RSS_MB),
        ("RSS growth, write_results", r["write_rss_growth_mb"], "MB", TARGET_RSS_MB),
        ("bytes written / final file", r["written_ratio"], "x", TARGET_WRITE_RATIO),
        ("time to write results", r["write_s"], "s", TARGET_RESULTS_S),
    ]
    print(f"{r['points']:,} points x (uts + {N_VARS} floats), chunks of {r['chunk']:,}")
    print(f"append {r['append_s']:.2f} s (fsync each chunk), staging {r['staging_mb']:.1f} MB")
    print(f"results file {r['final_mb']:.1f} MB, written in total {r['written_mb']:.1f} MB")
    print(f"{'measure':<28} {'value':>9}  {'target':>8}  ok")
    ok = True
    for name, value, unit, target in checks:
        good = value <= target
        ok &= good
        verdict = "yes" if good else "NO"
        print(f"{name:<28} {value:>7.2f}{unit:>2}  <= {target:>4.1f}{unit:<2}  {verdict}")
    print(json.dumps({k: round(v, 4) for k, v in r.items()} | {"ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
