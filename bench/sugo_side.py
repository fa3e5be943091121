"""A real sugo system in a temporary app folder on a free port, driven the way
a user drives it: `sugo start` / `sugo stop` and the daemon's requests.

Everything it starts is stopped by PID at the end and its folder removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procs
from sugo.config.defaults import render_devices, render_settings
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.client import Client

FINAL = ("c", "ce", "cd")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sugo_command() -> list[str]:
    """The `sugo` console script next to this interpreter, else ``-m``."""
    script = Path(sys.executable).with_name("sugo")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "sugo.cli.main"]


def counter_devices(channels: int, pollrate: float = 0.2) -> str:
    """A devices file: one counter with ``channels`` channels and a wildcard
    pipeline per channel (``pip-counter-1`` ...)."""
    names = ", ".join(f'"{i}"' for i in range(1, channels + 1))
    return f"""\
[[devices]]
name = "dev-counter"
driver = "counter"
address = "sim-counter"
channels = [{names}]
pollrate = {pollrate}

[[pipelines]]
name = "pip-counter-*"
devices = [{{ role = "counter", device = "dev-counter", channel = "each" }}]
"""


class SugoSystem:
    """One sugo daemon (not yet started) in its own temporary folder."""

    def __init__(
        self, devices_text: str | None = None, extra_settings: str = "", parent: Path | None = None
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bench-sugo.", dir=parent))
        self.appdir = self.root / "app"
        self.appdir.mkdir()
        self.out = self.root / "out"
        self.out.mkdir()
        self.port = free_port()
        settings = render_settings(self.appdir, self.root / "data", self.root / "logs")
        (self.appdir / "settings.toml").write_text(settings + extra_settings)
        (self.appdir / "devices.toml").write_text(devices_text or render_devices())
        # sugo's own drivers: where a tomato driver package is installed too (the
        # test extra installs tomato-psutil), it would win, and the figures would
        # time tomato's driver and its imports instead.
        self.env = {**os.environ, "SUGO_PORT": str(self.port), "SUGO_APPDIR": str(self.appdir),
                    "SUGO_BUILTIN_DRIVERS": "counter,psutil"}  # fmt: skip
        self.daemon_pid: int | None = None
        self.seen: set[int] = set()
        self._client: Client | None = None

    # -- lifecycle ------------------------------------------------------------------

    def cli(
        self, *args: str, timeout: float = 60.0
    ) -> tuple[float, subprocess.CompletedProcess[str]]:
        """Run `sugo ARGS`; returns (wall seconds, the finished process)."""
        t0 = time.perf_counter()
        done = subprocess.run(
            [*sugo_command(), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self.root,
            check=False,
        )
        return time.perf_counter() - t0, done

    def start(self, timeout: float = 60.0) -> float:
        """`sugo start`; returns its wall time. It returns once every driver
        host and component is up."""
        seconds, done = self.cli("start", "--json", "--timeout", str(timeout), timeout=timeout + 10)
        if done.returncode != 0:
            self._adopt()
            raise RuntimeError(
                f"sugo start failed ({done.returncode}): {done.stderr.strip()} {self.log_tail()}"
            )
        self.daemon_pid = int(json.loads(done.stdout)["pid"])
        self.seen.add(self.daemon_pid)
        self.pids()
        status = self.status()
        if not status["ready"]:
            raise RuntimeError("sugo start returned, but the daemon does not say ready")
        return seconds

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of every log of this system, for error messages."""
        out = []
        for f in sorted((self.root / "logs").glob("*")):
            with contextlib.suppress(OSError):
                tail = f.read_text(errors="replace").splitlines()[-lines:]
                if tail:
                    out.append(f"[{f.name}] " + " | ".join(tail))
        return " ".join(out)

    def _adopt(self) -> None:
        # A start that failed may still have left a daemon: find it to stop it.
        with contextlib.suppress(SugoError, OSError):
            self.daemon_pid = int(self.call(api.Ping(), timeout=1.0)["pid"])
            self.seen.add(self.daemon_pid)

    def stop(self) -> float | None:
        """`sugo stop --force`, then SIGTERM/SIGKILL by PID whatever survived;
        removes the folder. Returns the stop command's wall time."""
        seconds: float | None = None
        if self._client is not None:
            self._client.close()
            self._client = None
        try:
            if self.daemon_pid is not None and procs.alive(self.daemon_pid):
                self.pids()
                took, done = self.cli("stop", "--force", "--json", timeout=60)
                seconds = took if done.returncode == 0 else None
                if done.returncode != 0:
                    why = (done.stderr.strip() or done.stdout.strip())[-300:]
                    print(
                        f"  [sugo] `sugo stop` failed ({done.returncode}): {why}", file=sys.stderr
                    )
        finally:
            survivors = procs.kill_pids(self.seen)
            if survivors:
                print(f"  [sugo] killed survivors by PID: {survivors}", file=sys.stderr)
            shutil.rmtree(self.root, ignore_errors=True)
        return seconds

    def __enter__(self) -> SugoSystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests -------------------------------------------------------------------

    def call(self, req: Any, timeout: float = 10.0) -> Any:
        if self._client is None:
            from sugo.protocol.keys import local_client_keys  # the daemon's port is CURVE

            keys = local_client_keys(self.appdir)
            self._client = Client(f"tcp://127.0.0.1:{self.port}", curve=keys)
        return self._client.call(req, timeout=timeout)

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.call(api.Status())
        return status

    def pids(self) -> set[int]:
        """Every live process of this system (daemon and all its descendants)."""
        if self.daemon_pid is None:
            return set()
        found = set(procs.tree([self.daemon_pid]))
        self.seen |= found
        return found

    def host_pids(self) -> dict[str, int]:
        """Driver name → driver host PID."""
        return {d["name"]: int(d["pid"]) for d in self.status()["drivers"] if d["pid"]}

    def load_ready(self, pipeline: str, sample: str) -> None:
        """Put ``sample`` in ``pipeline`` (ejecting what was there) and mark it ready."""
        for p in self.status()["pipelines"]:
            if p["name"] == pipeline and p["sample"] == sample and p["ready"]:
                return
        self.call(api.PipelineEject(pipeline=pipeline))
        self.call(api.PipelineLoad(pipeline=pipeline, sample=sample))
        self.call(api.PipelineReady(pipeline=pipeline))

    def pipeline_free(self, pipeline: str) -> bool:
        """True when ``pipeline`` exists and runs no job."""
        return any(p["name"] == pipeline and p["jobid"] is None for p in self.status()["pipelines"])

    def submit(self, text: str, source: str = "payload.yml") -> tuple[int, float, float]:
        """Submit payload text (YAML); returns (job id, time sent, time replied)
        as unix times."""
        req = api.Submit(payload=text, fmt="yaml", source=source, cwd=str(self.out), user="bench")
        t_send = time.time()
        info = self.call(req, timeout=30.0)
        return int(info["id"]), t_send, time.time()

    def jobs(self, ids: list[int]) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = self.call(api.Jobs(ids=ids))["jobs"]
        return jobs
