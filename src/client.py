"""The public Python client of the sugo daemon.

    from sugo.client import SugoClient

    with SugoClient() as sugo:                # port: $SUGO_PORT or 9271
        job = sugo.submit(Path("payload.toml"))  # job.waiting says why it waits, if it does
        [job] = sugo.wait([job.id], timeout=600)
        print(job.status, job.respath)

Every method is one daemon request (``wait`` polls ``jobs``) and returns the
typed reply data of ``sugo.protocol.daemon_api`` (``StatusInfo``, ``JobInfo``,
...) or a plain dict where the daemon has no typed shape. Errors:

- ``RequestTimeout``: the daemon did not answer in time (the message names the
  endpoint); its subclass ``DaemonUnreachable``: nothing listens on the port.
- ``RequestFailed``: the daemon refused, with its reason as the message.

Import-light on purpose (no numpy, xarray, pydantic or pint): the CLI's queue
and status commands are built on it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sugo.errors import RequestFailed, RequestTimeout, SugoError
from sugo.paths import resolve_appdir, resolve_port
from sugo.protocol import daemon_api as api
from sugo.protocol.client import Client, endpoint
from sugo.protocol.wire import Request, encode

if TYPE_CHECKING:
    from pathlib import Path  # imported where used: `sugo status` need not pay for it

    from sugo.protocol.keys import ClientKeys

__all__ = [
    "FINAL_STATUSES",
    "DaemonUnreachable",
    "RequestFailed",
    "RequestTimeout",
    "SugoClient",
    "payload_format",
]

#: Job statuses that never change again.
FINAL_STATUSES = frozenset({"c", "ce", "cd"})

#: Payload file suffix → the format name the daemon expects.
PAYLOAD_FORMATS = {".toml": "toml", ".yml": "yaml", ".yaml": "yaml", ".json": "json"}

# Requests the daemon answers only after slow work; their own upper bounds
# (driver stop, validation on driver hosts, snapshot expiry) plus a margin.
SLOW_TIMEOUTS = {
    "stop": 30.0,
    "reload": 30.0,
    "submit": 30.0,
    "snapshot": 35.0,
    "component": 15.0,
    "job_rebuild": 620.0,
}


#: The daemon's default `[daemon] max_message_bytes`; requests up to
#: SMALL_REQUEST bytes (the least it can be set to) are sent without asking.
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SMALL_REQUEST = 1024


class DaemonUnreachable(RequestTimeout):
    """Nothing accepts connections on the daemon's port (it is not running)."""


def payload_format(path: Path) -> str:
    """The payload format of a file, from its suffix ("toml", "yaml" or "json")."""
    fmt = PAYLOAD_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(PAYLOAD_FORMATS)
        raise SugoError(f"{path}: unknown payload type {path.suffix!r} (known: {known})")
    return fmt


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB ({size} bytes)"


def _ids(ids: int | Iterable[int]) -> list[int]:
    return [ids] if isinstance(ids, int) else [int(i) for i in ids]


class SugoClient:
    """A connection to the sugo daemon on ``port`` (a context manager).

    ``port``: explicit, else ``$SUGO_PORT``, else ``sugo.paths.DEFAULT_PORT``.
    ``appdir``: the app folder this client refers to (explicit, else
    ``$SUGO_APPDIR``, else the user config folder); resolved only when used.
    ``timeout``: seconds to wait for a reply to a quick request; requests the
    daemon answers after slow work get at least their own bound.
    ``host``: where the daemon listens (its ``[daemon] bind`` setting).
    ``connect``: a daemon's ``[network] listen`` endpoint, ``tcp://HOST:PORT``
    (instead of host and port); CURVE with the keys in ``appdir``'s keys/.
    Not thread-safe: use one client per thread.
    """

    def __init__(
        self,
        port: int | None = None,
        appdir: Path | None = None,
        timeout: float = 5.0,
        host: str = "127.0.0.1",
        connect: str | None = None,
    ) -> None:
        self._appdir = appdir
        curve = None
        if connect:
            from sugo.protocol.endpoints import split_endpoint
            from sugo.protocol.keys import client_keys

            try:
                host, port = split_endpoint(connect)
            except ValueError as e:
                raise SugoError(f"--connect: {e}") from None
            curve = client_keys(self.appdir)
        self.port = resolve_port(port)
        self.host = host
        self.timeout = timeout
        self.endpoint = endpoint(host, self.port)
        self._curve = curve  # CURVE keys: of a `connect` client, else read when first used
        self._client = Client(self.endpoint, timeout=timeout, curve=curve)
        self._listening = False
        self._max_bytes: int | None = None  # the daemon's request size limit, once asked

    @property
    def appdir(self) -> Path:
        """The app folder (absolute)."""
        return resolve_appdir(self._appdir)

    @property
    def curve(self) -> ClientKeys:
        """This client's CURVE keys: every daemon socket is CURVE, its
        loopback port included, so only a user who can read the app folder's
        keys/ gets an answer (docs/network.md). Read on first use."""
        if self._curve is None:
            from sugo.protocol.keys import local_client_keys

            self._curve = local_client_keys(self.appdir)
            self._client.curve = self._curve
        return self._curve

    # -- plumbing ---------------------------------------------------------------

    def close(self) -> None:
        """Close the socket; the client may be used again afterwards."""
        self._client.close()

    def __enter__(self) -> SugoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_listening(self) -> None:
        # ZeroMQ waits silently for a peer that never comes; a plain TCP
        # connect tells "nobody listens" at once instead of after the timeout.
        if self._listening:
            return
        # An ASCII host as bytes (getaddrinfo takes either): a str would load
        # the idna codec, ~1 ms of every CLI command.
        host: Any = self.host.encode() if self.host.isascii() else self.host
        try:
            with socket.create_connection((host, self.port), timeout=min(1.0, self.timeout)):
                pass
        except ConnectionRefusedError:
            raise DaemonUnreachable(
                f"{self.endpoint}: no daemon listening (connection refused)"
            ) from None
        except OSError:
            return  # unclear (e.g. slow): let the request and its timeout decide
        self._listening = True

    def _call(self, req: Request, type_: Any = None, timeout: float | None = None) -> Any:
        self._check_listening()
        _ = self.curve  # read after the check: "not running" beats "no keys"
        if timeout is None:
            slow = SLOW_TIMEOUTS.get(str(type(req).__struct_config__.tag))
            timeout = max(self.timeout, slow) if slow else self.timeout
        return self._client.call(req, type_, timeout=timeout)

    # -- daemon -----------------------------------------------------------------

    def ping(self, timeout: float | None = None) -> api.PingInfo:
        """The daemon's pid, port, version and app folder."""
        info: api.PingInfo = self._call(api.Ping(), api.PingInfo, timeout)
        return info

    def status(self) -> api.StatusInfo:
        """Pipelines, drivers, devices and components, and whether all are up."""
        info: api.StatusInfo = self._call(api.Status(), api.StatusInfo)
        return info

    def stop(self, force: bool = False, timeout: float | None = None) -> dict[str, Any]:
        """Ask the daemon to stop (refused while jobs run unless ``force``,
        which cancels them first). Returns ``{"stopped", "cancelled", "pid"}``
        once the daemon is about to exit."""
        reply: dict[str, Any] = self._call(api.Stop(force=force), timeout=timeout)
        return reply

    def agents(self) -> list[Any]:
        """The agent registry: a ``sugo.protocol.agent_api.AgentInfo`` per agent."""
        from sugo.protocol import agent_api

        rows: list[Any] = self._call(agent_api.Agents(), list[agent_api.AgentInfo])
        return rows

    def reload(self) -> dict[str, Any]:
        """Re-read settings and the devices file and apply the difference;
        returns what changed (drivers added/removed/restarted, ...)."""
        reply: dict[str, Any] = self._call(api.Reload())
        return reply

    # -- pipelines --------------------------------------------------------------

    def pipeline_load(self, pipeline: str, sample: str) -> api.PipelineInfo:
        """Load ``sample`` into an empty pipeline (which is then not ready)."""
        info: api.PipelineInfo = self._call(
            api.PipelineLoad(pipeline=pipeline, sample=sample), api.PipelineInfo
        )
        return info

    def pipeline_eject(self, pipeline: str) -> api.PipelineInfo:
        """Remove the pipeline's sample and mark it not ready."""
        info: api.PipelineInfo = self._call(api.PipelineEject(pipeline=pipeline), api.PipelineInfo)
        return info

    def pipeline_ready(self, pipeline: str) -> api.PipelineInfo:
        """Mark the pipeline ready for the next job."""
        info: api.PipelineInfo = self._call(api.PipelineReady(pipeline=pipeline), api.PipelineInfo)
        return info

    # -- jobs -------------------------------------------------------------------

    def submit(self, path: Path | str, jobname: str | None = None) -> api.JobInfo:
        """Submit the payload file at ``path`` (.toml, .yml/.yaml or .json).

        Relative output paths in the payload resolve against the current
        directory; the job's user is the OS user unless the payload names one.
        """
        from pathlib import Path

        path = Path(path)
        fmt = payload_format(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SugoError(f"{path}: cannot read: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise SugoError(f"{path}: not UTF-8 text") from None
        return self.submit_text(text, fmt, str(path), jobname=jobname)

    def submit_text(
        self, text: str, fmt: str, source: str = "payload", jobname: str | None = None
    ) -> api.JobInfo:
        """Submit payload text in ``fmt`` ("toml", "yaml" or "json");
        ``source`` names it in error messages."""
        import getpass

        req = api.Submit(
            payload=text,
            fmt=fmt,
            source=source,
            cwd=os.getcwd(),
            jobname=jobname,
            user=getpass.getuser(),
        )
        self._check_size(req, source)
        info: api.JobInfo = self._call(req, api.JobInfo)
        return info

    def _check_size(self, req: Request, source: str) -> None:
        """Refuse a request the daemon would not read, before sending it: past
        twice its limit the daemon's socket drops it unread, and the client
        would wait for a reply that never comes."""
        if len(getattr(req, "payload", "")) <= SMALL_REQUEST:
            return  # every daemon reads this much
        size = len(encode(req))
        if size <= SMALL_REQUEST:
            return
        if self._max_bytes is None:
            limit = self.ping().max_message_bytes
            self._max_bytes = DEFAULT_MAX_MESSAGE_BYTES if limit is None else limit
        if size > self._max_bytes:
            raise SugoError(
                f"{source}: the request is {_mib(size)}, over the daemon's limit of"
                f" {_mib(self._max_bytes)} ([daemon] max_message_bytes in settings.toml)"
            )

    def jobs(self, ids: Iterable[int] = (), recent: int | None = None) -> list[api.JobInfo]:
        """The named jobs, or every job the daemon knows when ``ids`` is empty;
        with ``recent`` = N (and no ids), every unfinished job and the N newest others."""
        req = api.Jobs(ids=_ids(ids), recent=recent)
        reply: api.JobsInfo = self._call(req, api.JobsInfo)
        return reply.jobs

    def job(self, jobid: int) -> api.JobInfo:
        """One job."""
        [info] = self.jobs([jobid])
        return info

    def rebuild(self, jobid: int) -> api.JobInfo:
        """Write an ended job's results file again from its staging store (once
        a full disk or an unwritable folder is fixed); returns the job, whose
        ``respath`` is the file written."""
        info: api.JobInfo = self._call(api.JobRebuild(jobid=jobid), api.JobInfo)
        return info

    def cancel(self, ids: int | Iterable[int]) -> dict[str, Any]:
        """Cancel jobs: queued ones at once, running ones once their data is
        written. Returns ``{"cancelled": [ids]}``."""
        reply: dict[str, Any] = self._call(api.Cancel(ids=_ids(ids)))
        return reply

    def snapshot(self, jobid: int) -> str:
        """Write the data of a running job so far; returns the snapshot's path."""
        reply = self._call(api.Snapshot(jobid=jobid))
        return str(reply["snappath"])

    def search(self, text: str) -> list[api.JobInfo]:
        """Jobs whose name contains ``text``."""
        reply: api.JobsInfo = self._call(api.Search(text=text), api.JobsInfo)
        return reply.jobs

    def wait(
        self,
        ids: int | Iterable[int],
        timeout: float | None = None,
        poll: float = 0.1,
    ) -> list[api.JobInfo]:
        """Block until every job is final (``c``, ``ce`` or ``cd``) and return them.

        Raises ``TimeoutError`` when ``timeout`` seconds pass first; its
        message says why each queued job still waits (``JobInfo.waiting``,
        e.g. its pipeline is not ready: a job that ended left it so).
        """
        wanted = _ids(ids)
        if not wanted:
            return []  # an empty `jobs` request would mean every job
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            jobs = self.jobs(wanted)
            if all(j.status in FINAL_STATUSES for j in jobs):
                return jobs
            pause = poll
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    pending = "; ".join(
                        f"{j.id} ({j.status}{': ' + j.waiting if j.waiting else ''})"
                        for j in jobs
                        if j.status not in FINAL_STATUSES
                    )
                    raise TimeoutError(f"timed out after {timeout:g} s; not ended: {pending}")
                pause = min(poll, left)
            time.sleep(pause)

    # -- components -------------------------------------------------------------

    def component(self, name: str, verb: str, force: bool = False, **args: Any) -> Any:
        """Call one driver verb on a component, e.g.
        ``component("counter:(sim-1,1)", "dev_get_attr", attr="max")``.

        Verbs that change the device (``dev_set_attr``, ``dev_reset``, ...) are
        refused while a job uses the component, unless ``force``.
        """
        return self._call(api.ComponentCall(name=name, verb=verb, args=args, force=force))

    # -- instrument registry ------------------------------------------------------

    def component_restart(self, name: str) -> dict[str, Any]:
        """Tear one component down and register it again."""
        out: dict[str, Any] = self._call(api.ComponentRestart(name=name), timeout=15.0)
        return out

    def events(self, after: int = 0, limit: int = 1000, wait: float = 0.0) -> list[dict[str, Any]]:
        """Events with id greater than ``after`` (oldest first). With ``wait``,
        block up to that many seconds for the next one (a long poll)."""
        req = api.Events(after=after, limit=limit, wait=wait)
        out = self._call(req, timeout=wait + self.timeout)
        return list(out["events"])

    def maintenance(self) -> list[dict[str, Any]]:
        """Every maintenance item: used, threshold, remaining, due, blocking."""
        return list(self._call(api.MaintenanceStatus())["items"])

    def maintenance_done(self, device: str, label: str) -> dict[str, Any]:
        """Reset one maintenance item's counter after the work is done."""
        out: dict[str, Any] = self._call(api.MaintenanceDone(device=device, label=label))
        return out

    def job_log(self, jobid: int) -> dict[str, Any]:
        """Where a job's log lines are: its runner's log and the driver logs
        (with the component patterns that pick its lines)."""
        out: dict[str, Any] = self._call(api.JobLog(jobid=jobid))
        return out

    def prune(self, days: float | None = None) -> dict[str, Any]:
        """Delete records and job folders of jobs that ended over ``days`` ago."""
        out: dict[str, Any] = self._call(api.JobPrune(days=days))
        return out
