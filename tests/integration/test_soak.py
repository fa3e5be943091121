"""Fault-injection soak: while jobs run, SIGKILL or SIGSTOP a random driver
host, job runner or the daemon at a random moment, do what a user would do
(start the daemon again, mark a pipeline ready again), and check after every
round that nothing was lost or left stuck.

The default run does a short version (one round per fault kind that no other
test covers, ~25 s). The full soak is marked `soak`::

    SUGO_SOAK_ROUNDS=200 SUGO_SOAK_SEED=7 SUGO_SOAK_REPORT=soak.json \\
        pytest -m soak tests/integration/test_soak.py -s

Invariants, checked after every round:

- every job reaches a final status, and a final status never changes;
- a `c` job's results file has exactly the points its payload asks for;
- a `ce` job's results file holds exactly the points of its staging store
  (every point polled before the fault), and says `ce`;
- only jobs on the faulted process end `ce`: killing or hanging the daemon,
  or hanging a runner, loses no job;
- no pipeline stays reserved by a finished job, no component stays busy;
- a SIGSTOPped (hung) driver host is replaced within 3 s;
- after `sugo stop`, no process of the daemon remains.
"""

import contextlib
import json
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from sugo.errors import SugoError
from sugo.jobs.staging import summarise
from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, process_alive
from tests.integration.results import job_record, points

pytestmark = pytest.mark.integration

FAULTS = ("kill_host", "stop_host", "kill_runner", "stop_runner", "kill_daemon", "stop_daemon")
# The short run's rounds: faults that no other test injects at a random moment
# while several jobs run. (A hung host is left to the full soak: with jobs
# running it is not always replaced within 3 s yet; see docs/RELIABILITY.md.)
SHORT = ("stop_runner", "stop_daemon", "kill_daemon", "kill_runner")
HOST_FAULTS = ("kill_host", "stop_host")
# The daemon gives up a driver whose host is lost 5 times in 60 s (a crash
# loop); the soak, which compresses days of faults into minutes, keeps below.
HOST_FAULTS_PER_MINUTE = 4
COUNTER_PIPELINES = [f"pip-counter-{i}" for i in range(1, 5)]
DEMO = "pip-demo"  # counter and psutil roles: a job on two driver hosts
DRIVERS_OF = {**{p: {"counter"} for p in COUNTER_PIPELINES}, DEMO: {"counter", "psutil"}}
HUNG_HOST_LIMIT = 3.0  # seconds to detect and replace a SIGSTOPped driver host
ROUND_LIMIT = 60.0  # seconds for every job of a round to end
FILE_LIMIT = 15.0  # seconds for a `ce` job's results file to be written
FINAL = ("c", "ce", "cd")
POLL = 0.05  # seconds between looks at the daemon (each look costs it a little)


@dataclass
class Planned:
    """A job submitted by the soak, and what its results must hold."""

    id: int
    pipeline: str
    expected: dict[str, int]  # role -> points of a completed job


@dataclass
class Tally:
    """What the soak did and found; the figures of docs/RELIABILITY.md."""

    seed: int
    rounds: int = 0
    jobs: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)  # no target when the moment came
    hung_host_seconds: list[float] = field(default_factory=list)
    hung_host_spawned_seconds: list[float] = field(default_factory=list)
    killed_host_seconds: list[float] = field(default_factory=list)
    daemon_restart_seconds: list[float] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        def spread(xs: list[float]) -> dict[str, float]:
            xs = sorted(xs)
            if not xs:
                return {}
            return {"n": len(xs), "median": round(xs[len(xs) // 2], 3), "max": round(xs[-1], 3)}

        return {
            "seed": self.seed,
            "rounds": self.rounds,
            "jobs": self.jobs,
            "faults": dict(self.faults),
            "missed": dict(self.missed),
            "statuses": dict(self.statuses),
            "hung_host_replaced_s": spread(self.hung_host_seconds),
            "hung_host_new_pid_s": spread(self.hung_host_spawned_seconds),
            "killed_host_replaced_s": spread(self.killed_host_seconds),
            "daemon_restart_s": spread(self.daemon_restart_seconds),
            "violations": len(self.violations),
            "violation_list": self.violations[:50],
            "seconds": round(self.seconds, 1),
        }


def counter_job(sample: str, n: int, dt: float) -> str:
    return "\n".join(
        [
            'version = "2.2"',
            f'sample = {{ identifier = "{sample}" }}',
            "settings = { unlock_when_done = true }",
            "[[method]]",
            'component_role = "counter"',
            'technique_name = "count"',
            f"max_duration = {n * dt:.3f}",
            f"sampling_interval = {dt}",
        ]
    )


def demo_job(n: int, dt: float) -> str:
    psutil_task = [
        "[[method]]",
        'component_role = "psutil"',
        'technique_name = "all_info"',
        f"max_duration = {n * dt:.3f}",
        f"sampling_interval = {dt}",
    ]
    return counter_job("demo", n, dt) + "\n" + "\n".join(psutil_task) + "\n"


def staged(jobdir: str) -> dict[str, int]:
    return {role: s.points for role, s in summarise(Path(jobdir)).items()}


class Soak:
    def __init__(
        self, h: DaemonHarness, rng: random.Random, tally: Tally, quick: bool = False
    ) -> None:
        self.h = h
        self.quick = quick  # shorter rounds: one short job per pipeline
        self.rng = rng
        self.t = tally
        self.final: dict[int, str] = {}  # first final status seen of every job
        self.host_faults: list[float] = []  # when each host fault was injected
        self.pids: set[int] = set()  # every process of this daemon ever seen

    # -- plumbing ---------------------------------------------------------------

    def call(self, req: Any, timeout: float = 5.0) -> Any:
        """A request, or None while the daemon cannot answer (it may be down)."""
        try:
            return self.h.call(req, timeout=timeout)
        except SugoError:
            return None

    def jobs(self, ids: list[int]) -> dict[int, dict[str, Any]] | None:
        got = self.call(api.Jobs(ids=ids))
        if got is None:
            return None
        out = {j["id"]: j for j in got["jobs"]}
        for j in out.values():
            self.observe(j)
        return out

    def observe(self, job: dict[str, Any]) -> None:
        if job.get("runner_pid"):
            self.pids.add(job["runner_pid"])
        status = job["status"]
        first = self.final.get(job["id"])
        if first is None and status in FINAL:
            self.final[job["id"]] = status
        elif first is not None and status != first:
            self.violation(f"job {job['id']} left its final status {first} for {status}")

    def status(self, children: bool = False) -> dict[str, Any] | None:
        status = self.call(api.Status())
        if status is not None:
            self.pids.add(status["pid"])
            self.pids.update(d["pid"] for d in status["drivers"] if d["pid"])
            if children:  # the fork server, cold runners
                with contextlib.suppress(psutil.Error):
                    kids = psutil.Process(status["pid"]).children(recursive=True)
                    self.pids.update(p.pid for p in kids)
        return status

    def violation(self, text: str) -> None:
        self.t.violations.append(f"round {self.t.rounds}: {text}")

    def until(self, check: Callable[[], Any], limit: float) -> tuple[Any, float]:
        """Poll ``check`` until truthy or ``limit`` s pass: (result, seconds taken)."""
        t0 = time.monotonic()
        while True:
            got = check()
            if got or time.monotonic() - t0 > limit:
                return got, time.monotonic() - t0
            time.sleep(POLL)

    # -- a round ----------------------------------------------------------------

    def setup(self) -> None:
        for i, name in enumerate(COUNTER_PIPELINES, 1):
            self.h.load_ready(name, f"p{i}")
        self.h.load_ready(DEMO, "demo")

    def submit_round(self) -> list[Planned]:
        planned = []
        per_pipeline, longest = ((1,), 12) if self.quick else ((1, 1, 2), 25)
        for i, name in enumerate(COUNTER_PIPELINES, 1):
            for _ in range(self.rng.choice(per_pipeline)):
                n, dt = self.rng.randint(5, longest), self.rng.choice((0.05, 0.1))
                job = self.h.submit(counter_job(f"p{i}", n, dt))
                planned.append(Planned(job["id"], name, {"counter": n}))
        if self.rng.random() < 0.4:
            n = self.rng.randint(5, 15)
            job = self.h.submit(demo_job(n, 0.1))
            planned.append(Planned(job["id"], DEMO, {"counter": n, "psutil": n}))
        self.t.jobs += len(planned)
        return planned

    def running(self, planned: list[Planned]) -> list[dict[str, Any]]:
        jobs = self.jobs([p.id for p in planned]) or {}
        return [j for j in jobs.values() if j["status"] == "r" and j.get("runner_pid")]

    def run_round(self, fault: str) -> None:
        self.t.rounds += 1
        planned = self.submit_round()
        pipeline_of = {p.id: p.pipeline for p in planned}
        # The fault comes at a random moment once some job is running.
        self.until(lambda: self.running(planned), 10)
        time.sleep(self.rng.uniform(0.0, 1.2))
        may_fail = self.inject(fault, planned, pipeline_of)
        self.settle(planned, may_fail)

    def inject(self, fault: str, planned: list[Planned], pipeline_of: dict[int, str]) -> set[int]:
        """Inject ``fault``; returns the jobs it may rightly end with `ce`."""
        now = time.monotonic()
        if fault in HOST_FAULTS:
            self.host_faults = [t for t in self.host_faults if now - t < 60.0]
            if len(self.host_faults) >= HOST_FAULTS_PER_MINUTE:
                self.t.missed[f"{fault} (crash-loop guard)"] += 1
                fault = self.rng.choice([f for f in FAULTS if f not in HOST_FAULTS])
            else:
                self.host_faults.append(now)
        self.t.faults[fault] += 1
        h = self.h
        if fault in HOST_FAULTS:
            running = self.running(planned)
            drivers = sorted({d for j in running for d in DRIVERS_OF[pipeline_of[j["id"]]]})
            driver = self.rng.choice(drivers or ["counter"])
            status = self.status()
            if status is None:
                self.t.missed[fault] += 1
                return set()
            old = next(d["pid"] for d in status["drivers"] if d["name"] == driver)
            jobs = self.jobs([p.id for p in planned]) or {}
            exposed = {
                i for i, j in jobs.items() if j["status"] not in FINAL
                and driver in DRIVERS_OF[pipeline_of[i]]
            }  # fmt: skip
            os.kill(old, signal.SIGKILL if fault == "kill_host" else signal.SIGSTOP)
            t0, spawned = time.monotonic(), list[float]()
            _, took = self.until(lambda: self.replaced(driver, old, t0, spawned), 15)
            with contextlib.suppress(ProcessLookupError):
                os.kill(old, signal.SIGCONT)
            if fault == "stop_host":
                self.t.hung_host_seconds.append(took)
                self.t.hung_host_spawned_seconds.extend(spawned)
                if took > HUNG_HOST_LIMIT:
                    new = f"new host up after {spawned[0]:.2f} s" if spawned else "none started"
                    self.violation(f"hung {driver} host replaced after {took:.2f} s ({new})")
            else:
                self.t.killed_host_seconds.append(took)
            return exposed
        if fault in ("kill_runner", "stop_runner"):
            running = self.running(planned)
            if not running:
                self.t.missed[fault] += 1
                return set()
            job = self.rng.choice(running)
            pid = job["runner_pid"]
            if fault == "kill_runner":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                return {job["id"]}
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                time.sleep(self.rng.uniform(0.3, 2.0))  # how long it hangs
                os.kill(pid, signal.SIGCONT)
            return set()
        assert h.proc is not None
        if fault == "kill_daemon":
            h.proc.kill()
            h.proc.wait(5)
            t0 = time.monotonic()
            self.remember(h.start())
            self.t.daemon_restart_seconds.append(time.monotonic() - t0)
        else:  # stop_daemon
            os.kill(h.proc.pid, signal.SIGSTOP)
            time.sleep(self.rng.uniform(0.5, 3.0))  # how long it hangs
            os.kill(h.proc.pid, signal.SIGCONT)
        return set()

    def remember(self, status: dict[str, Any]) -> None:
        self.pids.add(status["pid"])
        self.pids.update(d["pid"] for d in status["drivers"] if d["pid"])

    def replaced(self, driver: str, old: int, t0: float, spawned: list[float]) -> bool:
        """True once a new host of ``driver`` is ready; notes when it was spawned."""
        status = self.status()
        if status is None:
            return False
        new = next((d for d in status["drivers"] if d["name"] == driver), None)
        if new is None or new["pid"] == old:
            return False
        if not spawned:
            spawned.append(time.monotonic() - t0)
        return bool(new["state"] == "ready" and status["ready"])

    def settle(self, planned: list[Planned], may_fail: set[int]) -> None:
        """Wait until every job of the round has ended, then check the invariants."""
        ids = [p.id for p in planned]

        def ended() -> bool:
            jobs = self.jobs(ids)
            if jobs is None:
                return False
            self.ready_again(jobs)
            return all(j["status"] in FINAL for j in jobs.values())

        done, _ = self.until(ended, ROUND_LIMIT)
        jobs = self.jobs(ids) or {}
        if not done:
            stuck = {i: j["status"] for i, j in jobs.items() if j["status"] not in ("c", "ce")}
            self.violation(f"jobs not ended after {ROUND_LIMIT:g} s: {stuck}")
        for p in planned:
            job = jobs.get(p.id)
            if job is None:
                self.violation(f"job {p.id} is gone")
                continue
            self.t.statuses[job["status"]] += 1
            self.check_job(p, job, may_fail)
        self.check_pipelines()
        self.status(children=True)

    def ready_again(self, jobs: dict[int, dict[str, Any]]) -> None:
        """What a user does after a failed job: mark its pipeline ready again."""
        status = self.status()
        if status is None:
            return
        samples = {f"p{i}": name for i, name in enumerate(COUNTER_PIPELINES, 1)}
        wanted = {samples.get(j["sample"], DEMO) for j in jobs.values() if j["status"] == "qw"}
        for p in status["pipelines"]:
            if p["name"] in wanted and not p["ready"] and p["jobid"] is None:
                self.call(api.PipelineReady(pipeline=p["name"]))

    def check_job(self, p: Planned, job: dict[str, Any], may_fail: set[int]) -> None:
        status, where = job["status"], f"job {p.id} ({job['status']}, {p.pipeline})"
        if status == "c":
            got = self.file_points(job)
            if got != p.expected:
                self.violation(f"{where}: {got} points, expected {p.expected}")
            return
        if status != "ce":
            self.violation(f"{where}: unexpected status")
            return
        if p.id not in may_fail:
            self.violation(f"{where}: failed though the fault did not touch it: {job['error']}")
        respath = job["respath"]
        exists, _ = self.until(lambda: respath and Path(respath).exists(), FILE_LIMIT)
        if not exists:
            self.violation(f"{where}: no results file {respath} ({job['error']})")
            return
        # A role with no staged point still gets its (empty) group in the file.
        got = {r: n for r, n in (self.file_points(job) or {}).items() if n}
        kept = staged(job["jobdir"])
        if got != kept:
            self.violation(f"{where}: results file has {got} points, staging store {kept}")
        if any(kept.get(r, 0) > n for r, n in p.expected.items()):
            self.violation(f"{where}: more points staged ({kept}) than asked ({p.expected})")
        record = job_record(respath)
        if record["status"] != "ce":
            self.violation(f"{where}: results file says status {record['status']!r}")

    def file_points(self, job: dict[str, Any]) -> dict[str, int] | None:
        try:
            return points(job["respath"])
        except (OSError, ValueError, TypeError) as e:
            self.violation(f"job {job['id']}: unreadable results {job['respath']}: {e}")
            return None

    def check_pipelines(self) -> None:
        def settled() -> list[str]:
            status = self.status()
            if status is None:
                return ["daemon not answering"]
            held = [p for p in status["pipelines"] if p["jobid"] is not None]
            jobs = self.jobs([p["jobid"] for p in held]) or {}
            bad = [
                f"{p['name']} held by ended job {p['jobid']}"
                for p in held
                if jobs.get(p["jobid"], {}).get("status") in FINAL
            ]
            bad += [f"{c['name']} busy" for c in status["components"] if c["state"] == "busy"]
            return bad

        bad, _ = self.until(lambda: not settled(), 5)
        if not bad:
            self.violation(f"not released: {settled()}")

    def recheck_finals(self) -> None:
        """Every job ever seen final still has that status."""
        for chunk in range(0, len(self.final), 500):
            ids = sorted(self.final)[chunk : chunk + 500]
            if self.jobs(ids) is None:
                self.violation("daemon not answering for the final re-check")

    def stop_and_check_orphans(self) -> None:
        port = f"127.0.0.1:{self.h.port}"
        got = self.h.cli("stop", "--force", timeout=60)
        if got.returncode != 0:
            self.violation(f"sugo stop failed: {got.stderr.strip()}")
        assert self.h.proc is not None
        with contextlib.suppress(Exception):
            self.h.proc.wait(20)
        # Processes of this daemon: every pid seen, and any with its endpoint in argv.
        for proc in psutil.process_iter(["pid", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                if port in " ".join(proc.info["cmdline"] or []):
                    self.pids.add(proc.info["pid"])
        orphans = [pid for pid in sorted(self.pids) if process_alive(pid) and pid != os.getpid()]

        def gone() -> bool:
            return not any(process_alive(pid) for pid in orphans)

        ok, _ = self.until(gone, 5)
        if not ok:
            left = [p for p in orphans if process_alive(p)]
            self.violation(f"processes left after sugo stop: {left}")
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def run_soak(root: Path, faults: list[str], seed: int, quick: bool = False) -> Tally:
    tally = Tally(seed=seed)
    rng = random.Random(seed)
    h = DaemonHarness(root)
    t0 = time.monotonic()
    h.start()
    soak = Soak(h, rng, tally, quick)
    try:
        soak.setup()
        for fault in faults:
            soak.run_round(fault)
        soak.recheck_finals()
        soak.stop_and_check_orphans()
    finally:
        tally.seconds = time.monotonic() - t0
        h.pids.update(soak.pids)
        with contextlib.suppress(Exception):
            h.stop()
    return tally


def report(tally: Tally) -> None:
    summary = tally.summary()
    print("\nsoak:", json.dumps(summary, indent=1))
    out = os.environ.get("SUGO_SOAK_REPORT")
    if out:
        Path(out).write_text(json.dumps(summary, indent=1) + "\n")


def test_short_soak(tmp_path: Path) -> None:
    seed = int(os.environ.get("SUGO_SOAK_SEED", random.randrange(1_000_000)))
    tally = run_soak(tmp_path, list(SHORT), seed, quick=True)
    report(tally)
    assert tally.violations == [], f"seed {seed}: " + "\n".join(tally.violations)
    assert sum(tally.faults.values()) == len(SHORT)


SOAK_ROUNDS = int(os.environ.get("SUGO_SOAK_ROUNDS", "200"))


@pytest.mark.soak
@pytest.mark.timeout(120 + 40 * SOAK_ROUNDS)
def test_soak(tmp_path: Path) -> None:
    seed = int(os.environ.get("SUGO_SOAK_SEED", random.randrange(1_000_000)))
    rounds = SOAK_ROUNDS
    rng = random.Random(seed + 1)
    tally = run_soak(tmp_path, [rng.choice(FAULTS) for _ in range(rounds)], seed)
    report(tally)
    assert tally.violations == [], f"seed {seed}: " + "\n".join(tally.violations)
