"""A real `sugo web` subprocess in front of a real daemon, and a small HTTP client."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.harness import DaemonHarness, free_port, wait_for


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebServer:
    """`sugo web --listen HOST:PORT` against ``daemon``, stopped by PID."""

    def __init__(self, daemon: DaemonHarness, host: str = "127.0.0.1") -> None:
        self.daemon = daemon
        self.host = host
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.token: str | None = None  # sent as Authorization: Bearer when set
        self.log = daemon.root / f"web-{self.port}.out"

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.daemon.cli(*args)

    def start(self, timeout: float = 30.0) -> WebServer:
        out = open(self.log, "ab")  # noqa: SIM115
        argv = [sys.executable, "-m", "sugo.cli.main", "web", "--listen",
                f"{self.host}:{self.port}", "--port", str(self.daemon.port),
                "--appdir", str(self.daemon.appdir)]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        out.close()

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"sugo web exited: {self.log.read_text()}")
            try:
                return self.request("GET", "/api/v1/openapi.json").status == 200
            except OSError:
                return False

        wait_for(up, timeout, "sugo web to answer", every=0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> Reply:
        hdrs = dict(headers or {})
        data: bytes | None
        if isinstance(body, dict):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        else:
            data = body.encode() if isinstance(body, str) else body
        bearer = token or self.token
        if bearer:
            hdrs["Authorization"] = f"Bearer {bearer}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Reply(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
        except urllib.error.HTTPError as e:
            return Reply(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body, **kw)

    @contextlib.contextmanager
    def sse(
        self, path: str, last_event_id: str | None = None, token: str | None = None
    ) -> Iterator[Iterator[dict[str, str]]]:
        """Open an SSE stream; yields an iterator of events ({"id", "event", "data"})."""
        hdrs = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            hdrs["Last-Event-ID"] = last_event_id
        bearer = token or self.token
        if bearer:
            hdrs["Authorization"] = f"Bearer {bearer}"
        req = urllib.request.Request(self.base + path, headers=hdrs)
        resp = urllib.request.urlopen(req, timeout=30)
        try:
            if path.startswith("/api/v1/events"):
                # The stream's first line says it is subscribed: from then on
                # no event is missed (the headers alone come before that).
                assert resp.readline().startswith(b": sugo event stream"), path
            yield _events(resp)
        finally:
            resp.close()


def _events(resp: Any) -> Iterator[dict[str, str]]:
    event: dict[str, str] = {}
    for raw in resp:
        line = raw.decode().rstrip("\n")
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(": ")
            event[key] = event.get(key, "") + value if key == "data" else value


def payload(sample: str, *tasks: tuple[float, float], role: str = "counter") -> str:
    lines = ['version = "2.2"', f'sample = {{ identifier = "{sample}" }}']
    for duration, interval in tasks:
        lines += ["[[method]]", f'component_role = "{role}"', 'technique_name = "count"',
                  f"max_duration = {duration}", f"sampling_interval = {interval}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def env_without_sugo() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SUGO_")}


__all__ = ["Path", "Reply", "WebServer", "payload"]
