"""A real sugo daemon in a temporary appdir on a free port, for integration tests.

The daemon runs as a subprocess exactly as `sugo start` runs it. Readiness is
awaited with a deadline; teardown stops it by request and then by PID, and
fails the test if any process of this daemon survives.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from sugo.config.defaults import render_devices, render_settings
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.client import Client
from sugo.protocol.endpoints import connect_host, endpoint
from sugo.protocol.keys import ClientKeys, load_pair, local_client_keys

DATA = Path(__file__).parent.parent / "data"


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = check()
        except SugoError:
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


class DaemonHarness:
    def __init__(
        self,
        root: Path,
        devices_text: str | None = None,
        devices_name: str = "devices.toml",
        extra_settings: str = "",
        bind: str = "127.0.0.1",
    ) -> None:
        self.root = root
        self.appdir = root / "app"
        self.appdir.mkdir(parents=True, exist_ok=True)
        self.bind = bind  # `[daemon] bind`: the daemon and its driver hosts listen there
        self.host = connect_host(bind)
        self.port = free_port(self.host)
        text = render_settings(self.appdir, self.appdir / "data", self.appdir / "logs")
        text = text.replace('bind = "127.0.0.1"', f'bind = "{bind}"')
        if devices_name != "devices.toml":
            text = text.replace('config = "devices.toml"', f'config = "{devices_name}"')
        (self.appdir / "settings.toml").write_text(text + extra_settings)
        (self.appdir / devices_name).write_text(devices_text or render_devices())
        self.proc: subprocess.Popen[bytes] | None = None
        self.pids: set[int] = set()
        # The default devices are sugo's simulated ones: keep its built-in psutil
        # even though the test extra installs tomato-psutil (which tests of
        # tomato drivers use through their own devices files).
        self.env = {**os.environ}
        if devices_text is None:
            self.env["SUGO_BUILTIN_DRIVERS"] = "psutil"

    @property
    def endpoint(self) -> str:
        return endpoint(self.host, self.port)

    def client(self, timeout: float = 10.0) -> Client:
        # The daemon's port is CURVE: its own keys/ hold the local client pair.
        return Client(self.endpoint, timeout=timeout, curve=local_client_keys(self.appdir))

    def family_keys(self) -> ClientKeys:
        """The keys of the daemon's own processes (job runners, writers): the
        only client key its local driver hosts accept."""
        pair = load_pair(self.appdir / "keys", "daemon")
        assert pair.secret is not None
        return ClientKeys(pair.public, pair.secret, pair.public, "daemon")

    def host_client(self, port: int, timeout: float = 10.0) -> Client:
        """A client of the local driver host on ``port`` (CURVE, the daemon's key)."""
        return Client(endpoint(self.host, port), timeout=timeout, curve=self.family_keys())

    def call(self, req: Any, timeout: float = 10.0) -> Any:
        with self.client(timeout) as c:
            return c.call(req)

    def cli(
        self, *args: str, timeout: float = 60.0, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the real `sugo` command against this daemon."""
        env = {**os.environ, "SUGO_PORT": str(self.port), "SUGO_APPDIR": str(self.appdir)}
        return subprocess.run(
            [sys.executable, "-m", "sugo.cli.main", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd or self.root,
        )

    def start(self, timeout: float = 30.0) -> dict[str, Any]:
        log = open(self.root / "daemon.out", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sugo.daemon",
                "--appdir",
                str(self.appdir),
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=self.env,
        )
        log.close()
        self.pids.add(self.proc.pid)
        return self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> dict[str, Any]:
        def ready() -> Any:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited: {self.logs()}")
            status = self.call(api.Status(), timeout=1.0)
            return status if status["ready"] else None

        status = wait_for(ready, timeout, "the daemon to be ready")
        self.remember(status)
        return status

    def remember(self, status: dict[str, Any]) -> None:
        self.pids.add(status["pid"])
        self.pids.update(d["pid"] for d in status["drivers"] if d["pid"])

    def status(self) -> dict[str, Any]:
        status = self.call(api.Status())
        self.remember(status)
        return status

    def driver_pid(self, name: str) -> int:
        for d in self.status()["drivers"]:
            if d["name"] == name:
                return int(d["pid"])
        raise KeyError(name)

    def job(self, jobid: int) -> dict[str, Any]:
        job = self.call(api.Jobs(ids=[jobid]))["jobs"][0]
        if job.get("runner_pid"):
            self.pids.add(job["runner_pid"])
        return job

    def submit(
        self,
        payload: Path | str,
        fmt: str | None = None,
        cwd: Path | None = None,
        jobname: str | None = None,
    ) -> dict[str, Any]:
        if isinstance(payload, Path):
            text, fmt, source = payload.read_text(), fmt or payload.suffix.lstrip("."), payload.name
        else:
            text, source = payload, "payload." + (fmt or "toml")
        req = api.Submit(
            payload=text,
            fmt=fmt or "toml",
            source=source,
            cwd=str(cwd or self.root),
            jobname=jobname,
            user="tester",
        )
        return self.call(req)

    def load_ready(self, pipeline: str, sample: str) -> None:
        self.call(api.PipelineLoad(pipeline=pipeline, sample=sample))
        self.call(api.PipelineReady(pipeline=pipeline))

    def wait_job(
        self, jobid: int, statuses: tuple[str, ...] = ("c", "ce", "cd"), timeout: float = 60.0
    ) -> dict[str, Any]:
        return wait_for(
            lambda: (j := self.job(jobid))["status"] in statuses and j,
            timeout,
            f"job {jobid} to reach {statuses}",
        )

    def logs(self) -> str:
        out = []
        for f in [*sorted((self.appdir / "logs").glob("*")), self.root / "daemon.out"]:
            if f.is_file():
                out.append(f"--- {f.name}\n" + "\n".join(f.read_text().splitlines()[-30:]))
        return "\n".join(out)

    def stop(self, force: bool = True, timeout: float = 20.0) -> None:
        """Stop by request, then by PID; assert no process of this daemon survives."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(SugoError):
                self.call(api.Stop(force=force), timeout=timeout)
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        # A runner that has just told the daemon its job ended may still be
        # exiting (its interpreter shutting down): a few seconds' grace.
        deadline = time.monotonic() + 5.0
        while any(process_alive(p) for p in self.pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [p for p in self.pids if process_alive(p)]
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
        assert not survivors, f"processes survived the daemon's stop: {survivors}\n{self.logs()}"


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has ended); never raises."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def add_finished_jobs(h: DaemonHarness, n: int) -> None:
    """``n`` completed jobs, written straight into the store (the daemon is down)."""
    from sugo.daemon.store import Store

    with Store(h.appdir / "data" / "sugo.db") as store:
        for i in range(n):
            job = store.add_job(
                payload_json="{}", jobname=f"old-{i}", sample="s", user="u",
                output_dir=str(h.root), prefix=None, unlock_when_done=False,
                jobdir_root=h.appdir / "data" / "jobs",
            )  # fmt: skip
            store.set_job_status(job.id, "r")
            store.set_job_status(job.id, "c")
