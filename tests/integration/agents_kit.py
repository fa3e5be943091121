"""Helpers of the agent tests: a daemon with `[network] listen`, agents as
real `sugo agent` subprocesses, the registry as `sugo status agents` sees it."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sugo.protocol import agent_api
from sugo.protocol import daemon_api as api
from tests.integration.harness import DaemonHarness, free_port, wait_for


def networked(
    root: Path, devices_text: str | None = None, host: str = "127.0.0.1"
) -> DaemonHarness:
    listen = f"tcp://{host}:{free_port()}"
    h = DaemonHarness(root, devices_text, extra_settings=f'\n[network]\nlisten = "{listen}"\n')
    h.listen = listen  # type: ignore[attr-defined]
    return h


def agent_appdir(h: DaemonHarness, name: str) -> Path:
    """An app folder for agent ``name``, as `sugo keys export` makes it."""
    made = h.cli("keys", "new", name)
    assert made.returncode == 0, made.stderr
    other = h.root / f"agent-{name}"
    done = h.cli("keys", "export", name, str(other))
    assert done.returncode == 0, done.stderr
    return other


def start_agent(
    appdir: Path,
    daemon: str,
    name: str,
    timeout: float = 1.0,
    *extra: str,
    netns: str | None = None,
) -> subprocess.Popen[str]:
    argv = [
        sys.executable, "-m", "sugo.cli.main", "--appdir", str(appdir), "-v", "agent",
        "--daemon", daemon, "--name", name, "--alive-timeout", str(timeout), *extra,
    ]  # fmt: skip
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    env = {k: v for k, v in os.environ.items() if k not in ("SUGO_KEY", "SUGO_APPDIR")}
    log = open(appdir / f"agent-{name}.out", "a")  # noqa: SIM115
    try:
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env
        )
    finally:
        log.close()


def agents(h: DaemonHarness) -> dict[str, dict[str, Any]]:
    """By name: the current agent, else the last one removed."""
    rows = h.call(agent_api.Agents(), timeout=5.0)
    out: dict[str, dict[str, Any]] = {}
    for a in rows:
        out.setdefault(a["name"], a)  # current agents come first
    return out


def wait_state(h: DaemonHarness, name: str, state: str, timeout: float = 20.0) -> dict[str, Any]:
    return wait_for(
        lambda: (a := agents(h).get(name)) is not None and a["state"] == state and a,
        timeout,
        f"agent {name} to be {state}",
        every=0.01,
    )


def events(h: DaemonHarness, prefix: str = "agent.") -> list[dict[str, Any]]:
    rows = h.call(api.Events(after=0, limit=10000))["events"]
    return [e for e in rows if e["kind"].startswith(prefix)]


def stop_agent(proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def running_agent(*args: Any, **kw: Any) -> Any:
    proc = start_agent(*args, **kw)
    try:
        yield proc
    finally:
        stop_agent(proc)
