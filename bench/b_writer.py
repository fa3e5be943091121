"""Figure 9: a 1,000,000-point job staged and written, measured by
`bench/bench_writer.py` in its own process (so its RSS is the writer's alone)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.context import Ctx
from bench.report import Figure

SCRIPT = Path(__file__).resolve().parent / "bench_writer.py"


def run(ctx: Ctx) -> list[Figure]:
    title = "1M-point job"
    rss = f"{title}: RSS growth"
    figs = {
        "append_rss_growth_mb": Figure("writer_append_rss", f"{rss}, staging", "MB", 20.0),
        "write_rss_growth_mb": Figure("writer_write_rss", f"{rss}, results file", "MB", 20.0),
        "written_ratio": Figure("writer_ratio", f"{title}: bytes written / final file", "x", 3.0),
        "write_s": Figure("writer_s", f"{title}: results file written", "s", 3.0),
        "append_s": Figure("writer_append_s", f"{title}: staging, fsync per 1k points", "s", None),
    }  # fmt: skip
    for f in figs.values():
        f.tomato_skip = "sugo only"
        f.ratio = False
    figs["written_ratio"].tomato_note = "not measured; it re-pickles all data at every poll"
    for _ in range(ctx.n(3, 1)):
        args = [sys.executable, str(SCRIPT)]
        if ctx.work is not None:
            args += ["--dir", str(ctx.work)]
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
        lines = done.stdout.strip().splitlines()
        if not lines or not lines[-1].startswith("{"):
            raise RuntimeError(f"bench_writer.py failed: {done.stderr.strip()[-300:]}")
        result = json.loads(lines[-1])
        for name, fig in figs.items():
            fig.sugo.append(float(result[name]))
        figs["written_ratio"].extra = {
            k: result[k] for k in ("final_mb", "written_mb", "staging_mb")
        }
    ctx.log(f"writer {figs['write_s'].sugo} s")
    return list(figs.values())
