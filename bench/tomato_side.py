"""tomato 2.2 for comparison: installed from the package registry into its own
virtual environment, run in a temporary app folder on a free loopback port,
driven through `bench/tomato_agent.py` (tomato's own Python functions) and its
job database (read-only).

Everything it starts is stopped by PID at the end and its folder removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from bench import procs
from bench.sugo_side import free_port

HERE = Path(__file__).resolve().parent
VENV = HERE / ".tomato-venv"
PACKAGES = ["tomato==2.2.*", "tomato-example-counter", "tomato-psutil"]
FINAL = ("c", "ce", "cd")


def _run(cmd: list[str], timeout: float, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)


def ensure_venv(venv: Path = VENV) -> tuple[Path | None, str]:
    """tomato's virtual environment, created and installed when missing.

    Returns (venv, tomato's version) or (None, why it is not available).
    """
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import importlib.metadata as m; print(m.version('tomato'))"]
    try:
        if python.exists():
            done = _run(probe, 60)
            if done.returncode == 0 and done.stdout.strip().startswith("2.2"):
                return venv, done.stdout.strip()
        print(f"  [tomato] installing {' '.join(PACKAGES)} into {venv} ...", file=sys.stderr)
        done = _run(["python3", "-m", "venv", str(venv)], 300)
        if done.returncode != 0:
            return None, f"could not create a venv: {done.stderr.strip()[-200:]}"
        done = _run([str(python), "-m", "pip", "install", "-q", *PACKAGES], 900)
        if done.returncode != 0:
            err = [ln for ln in done.stderr.splitlines() if "WARNING" not in ln]
            return None, "pip install failed: " + " ".join(err)[-300:]
        done = _run(probe, 60)
        if done.returncode != 0:
            return None, "tomato does not import after install"
        return venv, done.stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"{type(e).__name__}: {e}"


def unix(stamp: str | None) -> float | None:
    """A tomato job-database time (ISO text, UTC) as unix seconds."""
    return None if stamp is None else datetime.fromisoformat(stamp).timestamp()


def default_devices() -> dict[str, Any]:
    """The same devices as sugo's defaults: a 4-channel counter with one
    pipeline per channel, a second counter and psutil in a two-role pipeline."""
    return {
        "devices": [
            {"name": "dev-counter", "driver": "example_counter", "address": "sim-counter",
             "channels": ["1", "2", "3", "4"], "pollrate": 1},
            {"name": "dev-demo-counter", "driver": "example_counter", "address": "sim-demo",
             "channels": ["1"], "pollrate": 1},
            {"name": "dev-psutil", "driver": "psutil", "address": "localhost",
             "channels": ["0"], "pollrate": 1},
        ],
        "pipelines": [
            {"name": "pip-counter-*",
             "devices": [{"role": "counter", "device": "dev-counter", "channel": "each"}]},
            {"name": "pip-demo",
             "devices": [{"role": "counter", "device": "dev-demo-counter", "channel": "1"},
                         {"role": "psutil", "device": "dev-psutil", "channel": "0"}]},
        ],
    }  # fmt: skip


def counter_devices(channels: int) -> dict[str, Any]:
    """One counter with ``channels`` channels and a wildcard pipeline."""
    return {
        "devices": [
            {"name": "dev-counter", "driver": "example_counter", "address": "sim-counter",
             "channels": [str(i) for i in range(1, channels + 1)], "pollrate": 1},
        ],
        "pipelines": [
            {"name": "pip-counter-*",
             "devices": [{"role": "counter", "device": "dev-counter", "channel": "each"}]},
        ],
    }  # fmt: skip


class TomatoSystem:
    """One tomato daemon (not yet started) in its own temporary folder."""

    def __init__(
        self, venv: Path, devices: dict[str, Any] | None = None, parent: Path | None = None
    ) -> None:
        self.venv = venv
        self.root = Path(tempfile.mkdtemp(prefix="bench-tomato.", dir=parent))
        self.appdir, self.out = self.root / "app", self.root / "out"
        self.out.mkdir()
        self.port = free_port()
        self.env = {
            **os.environ,
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(venv),
        }
        self.seen: set[int] = set()
        self.daemon_pid: int | None = None
        self._agent: subprocess.Popen[str] | None = None
        _, done = self.cli(
            "tomato", "init", "-A", str(self.appdir), "-D", str(self.root / "data"),
            "-L", str(self.root / "logs"),
        )  # fmt: skip
        if done.returncode != 0 or "Success" not in done.stdout:
            raise RuntimeError(f"tomato init failed: {done.stdout} {done.stderr}")
        (self.appdir / "devices.yml").write_text(json.dumps(devices or default_devices()))
        self.dbpath = self.root / "data" / "Jobs" / "dbpath.sqlite"

    # -- lifecycle ------------------------------------------------------------------

    def cli(
        self, tool: str, *args: str, timeout: float = 120.0
    ) -> tuple[float, subprocess.CompletedProcess[str]]:
        """Run tomato's ``tool`` (`tomato`, `ketchup`); returns (wall s, process)."""
        # Files, not pipes: `tomato start` leaves a daemon holding its outputs.
        cmd = [str(self.venv / "bin" / tool), *args]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            t0 = time.perf_counter()
            proc = subprocess.run(
                cmd,
                stdout=out,
                stderr=err,
                timeout=timeout,
                env=self.env,
                cwd=self.out,
                check=False,
            )
            took = time.perf_counter() - t0
            out.seek(0)
            err.seek(0)
            return took, subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())

    def start(self, timeout: float = 120.0) -> tuple[float, float]:
        """`tomato start`, then wait until every driver and component is up.

        Returns (wall time of `tomato start`, time until all components ready).
        """
        t0 = time.perf_counter()
        try:
            took, done = self.cli("tomato", "start", "-p", str(self.port), "-A", str(self.appdir))
        finally:
            self._find_daemon()
        if done.returncode != 0 or "Success" not in done.stdout:
            raise RuntimeError(f"tomato start failed: {done.stdout.strip()} {done.stderr[-300:]}")
        deadline = t0 + timeout
        while True:
            st = self.status()
            self.pids()
            if st.get("ready"):
                return took, time.perf_counter() - t0
            if time.perf_counter() > deadline:
                raise RuntimeError(f"tomato not ready after {timeout:g} s: {st}")
            time.sleep(0.05)

    def _find_daemon(self) -> None:
        # `tomato start` detaches the daemon; find ours by its port argument.
        want = {"-p", str(self.port)}
        for _ in range(40):
            for p in psutil.process_iter(["cmdline"]):
                cmd = p.info["cmdline"] or []
                if any("tomato-daemon" in c for c in cmd[:2]) and want <= set(cmd):
                    self.daemon_pid = p.pid
                    self.seen.add(p.pid)
                    return
            time.sleep(0.05)

    def stop(self) -> None:
        """`tomato stop`, then SIGTERM/SIGKILL by PID whatever survived;
        removes the folder."""
        try:
            if self.daemon_pid is not None and procs.alive(self.daemon_pid):
                self.pids()
                with contextlib.suppress(RuntimeError, OSError):
                    self.ask({"cmd": "stop"}, timeout=15)
                deadline = time.monotonic() + 10
                while procs.alive(self.daemon_pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
        finally:
            if self._agent is not None:
                with contextlib.suppress(OSError):
                    self._agent.stdin.close()  # type: ignore[union-attr]
                self.seen.add(self._agent.pid)
            survivors = procs.kill_pids(self.seen)
            if self._agent is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._agent.wait(5)
            leftover = [p for p in survivors if self._agent is None or p != self._agent.pid]
            if leftover:
                print(f"  [tomato] killed survivors by PID: {leftover}", file=sys.stderr)
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TomatoSystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the agent ------------------------------------------------------------------

    def ask(self, msg: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """One request to the agent; raises RuntimeError on error or timeout."""
        if self._agent is None:
            self._agent = subprocess.Popen(
                [str(self.venv / "bin" / "python"), str(HERE / "tomato_agent.py"), str(self.port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                env=self.env,
                cwd=self.out,
            )
            self._read(60.0)  # its hello, once tomato is imported
        assert self._agent.stdin is not None
        self._agent.stdin.write(json.dumps(msg) + "\n")
        self._agent.stdin.flush()
        reply = self._read(timeout)
        if not reply.get("ok"):
            raise RuntimeError(f"tomato agent: {reply.get('error')}")
        return reply

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self._agent is not None and self._agent.stdout is not None
        ready, _, _ = select.select([self._agent.stdout], [], [], timeout)
        line = self._agent.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"tomato agent gave no reply within {timeout:g} s")
        reply: dict[str, Any] = json.loads(line)
        return reply

    # -- requests -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self.ask({"cmd": "status"})

    def pids(self) -> set[int]:
        """Every live process of this system: daemon, drivers, jobs, descendants."""
        roots = set() if self.daemon_pid is None else {self.daemon_pid}
        with contextlib.suppress(RuntimeError, sqlite3.Error):
            roots |= {j["pid"] for j in self.jobs([]) if j["pid"] and j["status"] in ("r", "rd")}
        found = set(procs.tree(roots))
        self.seen |= found
        return found

    def host_pids(self) -> dict[str, int]:
        return {d["name"]: int(d["pid"]) for d in self.status().get("drivers", []) if d["pid"]}

    def load_ready(self, pipeline: str, sample: str) -> None:
        """Put ``sample`` in ``pipeline`` (ejecting what was there) and mark it ready."""
        for p in self.status().get("pipelines", []):
            if p["name"] == pipeline and p["sampleid"] == sample and p["ready"]:
                return
        rep = self.ask({"cmd": "load", "pipeline": pipeline, "sample": sample})
        if not rep.get("success"):
            raise RuntimeError(f"tomato pipeline load/ready: {rep.get('msg')}")

    def pipeline_free(self, pipeline: str) -> bool:
        """True when ``pipeline`` exists and runs no job."""
        pips = self.status().get("pipelines", [])
        return any(p["name"] == pipeline and p["jobid"] is None for p in pips)

    def submit(self, text: str, name: str = "payload") -> tuple[int, float, float]:
        """Submit payload text (YAML); returns (job id, time sent, time replied)."""
        path = self.out / f"{name}.{time.time_ns()}.yml"
        path.write_text(text)
        return self.submit_file(path)

    def submit_file(self, path: Path) -> tuple[int, float, float]:
        rep = self.ask({"cmd": "submit", "path": str(path)})
        if not rep.get("success") or rep.get("id") is None:
            raise RuntimeError(f"tomato submit: {rep.get('msg')}")
        return int(rep["id"]), float(rep["t_send"]), float(rep["t_reply"])

    def jobs(self, ids: list[int]) -> list[dict[str, Any]]:
        """Jobs from tomato's job database (read-only), times as unix seconds."""
        con = sqlite3.connect(f"file:{self.dbpath}?mode=ro", uri=True, timeout=5)
        try:
            cols = "id, status, pid, submitted_at, launched_at, connected_at, completed_at, respath"
            if ids:
                marks = ",".join("?" * len(ids))
                rows = con.execute(f"SELECT {cols} FROM queue WHERE id IN ({marks})", ids)
            else:
                rows = con.execute(f"SELECT {cols} FROM queue")
            out = []
            for r in rows.fetchall():
                out.append(
                    {
                        "id": r[0],
                        "status": r[1],
                        "pid": r[2],
                        "submitted_at": unix(r[3]),
                        "launched_at": unix(r[4]),
                        "started_at": unix(r[5]),  # tomato sets `r` at connected_at
                        "completed_at": unix(r[6]),
                        "respath": r[7],
                    }
                )
            return out
        finally:
            con.close()
