"""Run sugo's benchmark suite (and the same figures for tomato 2.2).

    .venv/bin/python -m bench [--quick] [--no-tomato] [--only NAME ...] [--repeat N]
                              [--write-md]

Prints a table (figure, sugo, tomato, tomato/sugo, target, met?) with the
median and spread of repeated runs, and writes it to bench/results/latest.json.
``--write-md`` also puts the table into bench/RESULTS.md (between its markers).
tomato is installed into bench/.tomato-venv on first use; when that fails its
column is left empty with a note. Exit status: 0 when every target is met,
1 when one is missed or a benchmark failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import b_arrays, b_jobs, b_lifecycle, b_scale, b_web, b_writer, machine
from bench.context import Ctx
from bench.report import Figure, markdown_table, notes, text_table
from bench.tomato_side import ensure_venv

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LATEST = HERE / "results" / "latest.json"
RESULTS_MD = HERE / "RESULTS.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

BENCHMARKS: dict[str, tuple[Callable[[Ctx], list[Figure]], str]] = {
    "lifecycle": (b_lifecycle.run, "start, status/jobs CLI, idle memory, stop (figures 1, 2, 10)"),
    "latency": (b_jobs.latency, "submit → r, last sample → c (figures 3, 4)"),
    "chain": (b_jobs.chain, "five-job unlock_when_done chain (figure 5)"),
    "spacing": (b_jobs.spacing_figures, "spacing error at 0.1 s (figure 6)"),
    "fastest": (b_jobs.fastest, "1 ms sampling, 10,000 points (figure 7)"),
    "writer": (b_writer.run, "1,000,000-point job (figure 9, bench_writer.py)"),
    "load": (b_scale.load, "64 components x 10 Hz, CPU (figure 8)"),
    "scale": (b_scale.scale, "64 jobs on 64 channels, and with slow reset (figure 11)"),
    "arrays": (b_arrays.run, "16 components x 4096-value spectra at 10 Hz (issue 13)"),
    "web": (b_web.run_ctx, "sugo web: API latency, SSE latency, 64 followed jobs (issue 16)"),
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=doc.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="benchmarks:\n" + "\n".join(f"  {k:<10} {v[1]}" for k, v in BENCHMARKS.items()),
    )
    p.add_argument("--quick", action="store_true", help="fewer repeats, shorter runs (~3 min)")
    p.add_argument("--no-tomato", action="store_true", help="skip tomato's side")
    p.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME", help="run these")
    p.add_argument("--repeat", type=int, help="repeats of every repeated measurement")
    p.add_argument("--json", type=Path, default=LATEST, help=f"where to write (default {LATEST})")
    p.add_argument("--write-md", action="store_true", help="update the table in bench/RESULTS.md")
    p.add_argument("--workdir", type=Path, help="parent of the temporary folders")
    return p.parse_args(argv)


def markdown(doc: dict[str, object], figures: list[Figure]) -> str:
    """The generated part of RESULTS.md."""
    m, load = doc["machine"], doc["load_avg"]
    assert isinstance(m, dict) and isinstance(load, dict)
    lines = [
        BEGIN,
        f"Measured {m['date']} on sugo commit `{m['sugo_commit']}`, "
        f"command `{doc['command']}` ({doc['seconds']:.0f} s).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}, "
        f"Python {m['python']}. tomato: {doc['tomato']}. Load average (1 min) at the "
        f"start and end of the run: {load['start']:.2f} / {load['end']:.2f}.",
        "",
        "Cells: median [min-max] (IQR with 4+ samples), n = samples. "
        "tomato/sugo = tomato's median divided by sugo's.",
        "",
        markdown_table(figures),
        "",
    ]
    extra = notes(figures)
    errors = doc.get("errors") or {}
    assert isinstance(errors, dict)
    if extra or errors:
        lines += ["Notes:", ""]
        lines += [f"- {n}" for n in extra]
        lines += [f"- benchmark `{k}` failed: {v}" for k, v in errors.items()]
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def write_md(text: str) -> None:
    old = (
        RESULTS_MD.read_text()
        if RESULTS_MD.exists()
        else f"# Benchmark results\n\n{BEGIN}\n{END}\n"
    )
    head, _, rest = old.partition(BEGIN)
    _, _, tail = rest.partition(END)
    RESULTS_MD.write_text(head + text + tail)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    names = args.only or list(BENCHMARKS)
    command = "python -m bench" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    if args.no_tomato:
        venv, why = None, "skipped (--no-tomato)"
    else:
        venv, why = ensure_venv()
        if venv is None:
            print(f"tomato is skipped: {why}", file=sys.stderr)
        else:
            why = f"tomato {why} with tomato-example-counter and tomato-psutil"
    work = Path(tempfile.mkdtemp(prefix="bench.", dir=args.workdir))
    ctx = Ctx(quick=args.quick, repeat=args.repeat, tomato_venv=venv, tomato_why=why, work=work)
    figures: list[Figure] = []
    errors: dict[str, str] = {}
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    try:
        for name in names:
            print(f"[{name}] {BENCHMARKS[name][1]}", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                figures += BENCHMARKS[name][0](ctx)
            except Exception as e:  # one broken benchmark must not lose the others
                traceback.print_exc()
                errors[name] = f"{type(e).__name__}: {e}"
            print(f"[{name}] {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    finally:
        ctx.close()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    doc: dict[str, object] = {
        "command": command.strip(),
        "seconds": time.monotonic() - t0,
        "machine": machine.describe(REPO),
        # other work on the machine during the run (1-minute load averages)
        "load_avg": {"start": load_before, "end": os.getloadavg()[0]},
        "tomato": why,
        "quick": args.quick,
        "figures": [f.as_json() for f in figures],
        "errors": errors,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=1, default=str))
    print(text_table(figures))
    for line in notes(figures):
        print(f"note: {line}")
    for name, err in errors.items():
        print(f"FAILED {name}: {err}")
    missed = [f for f in figures if f.met is False]
    for f in missed:
        print(f"missed: {f.title}: {f.cell('sugo')} {f.unit}, target {f.target_text()} {f.unit}")
    print(f"wrote {args.json}")
    if args.write_md:
        write_md(markdown(doc, figures))
        print(f"updated {RESULTS_MD}")
    return 1 if missed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
