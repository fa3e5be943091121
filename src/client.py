"""The public Python client of the sugo daemon.

    from sugo.client import SugoClient

    with SugoClient() as sugo:                # port: $SUGO_PORT or 9271
        job = sugo.submit(Path("payload.toml"))  # job.waiting says why it waits, if it does
        [job] = sugo.wait([job.id], timeout=600)
        print(job.status, job.respath)

Every method is one daemon request (``wait`` polls ``jobs``); its reply is
decoded into the struct ``sugo.protocol.daemon_api.DAEMON_REPLIES`` names for
it (``StatusInfo``, ``JobInfo``, ...); ``component`` returns the driver's reply
as it is, ``events_json`` the events as plain JSON. Errors:

- ``RequestTimeout``: the daemon did not answer in time (the message names the
  endpoint); its subclass ``DaemonUnreachable``: nothing listens on the port.
- ``RequestFailed``: the daemon refused, with its reason as the message.

Import-light on purpose (no numpy, xarray, pydantic or pint): the CLI's queue
and status commands are built on it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sugo.connection import DaemonConnection, DaemonUnreachable
from sugo.errors import RequestFailed, RequestTimeout, SugoError
from sugo.protocol import daemon_api as api

if TYPE_CHECKING:
    from pathlib import Path  # imported where used: `sugo status` need not pay for it

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


def payload_format(path: Path) -> str:
    """The payload format of a file, from its suffix ("toml", "yaml" or "json")."""
    fmt = PAYLOAD_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(PAYLOAD_FORMATS)
        raise SugoError(f"{path}: unknown payload type {path.suffix!r} (known: {known})")
    return fmt


def _ids(ids: int | Iterable[int]) -> list[int]:
    return [ids] if isinstance(ids, int) else [int(i) for i in ids]


class SugoClient(DaemonConnection):
    """A connection to the sugo daemon on ``port`` (a context manager).

    ``port``: explicit, else ``$SUGO_PORT``, else ``sugo.paths.DEFAULT_PORT``.
    ``appdir``: the app folder this client refers to (explicit, else
    ``$SUGO_APPDIR``, else the user config folder); resolved only when used.
    ``timeout``: seconds to wait for a reply to a quick request; requests the
    daemon answers after slow work get at least their own bound.
    ``host``: where to reach the daemon; by default where the app folder's
    daemon says it listens (``sugo.paths.daemon_host``: its ``[daemon] bind``).
    ``connect``: a daemon's ``[network] listen`` endpoint, ``tcp://HOST:PORT``
    (instead of host and port); CURVE with the keys in ``appdir``'s keys/.
    Not thread-safe: use one client per thread.
    """

    # -- daemon -----------------------------------------------------------------

    def ping(self, timeout: float | None = None) -> api.PingInfo:
        """The daemon's pid, port, version and app folder."""
        info: api.PingInfo = self.ask(api.Ping(), timeout)
        return info

    def status(self) -> api.StatusInfo:
        """Pipelines, drivers, devices and components, and whether all are up."""
        info: api.StatusInfo = self.ask(api.Status())
        return info

    def stop(self, force: bool = False, timeout: float | None = None) -> api.StopReply:
        """Ask the daemon to stop (refused while jobs run unless ``force``,
        which cancels them first). Returns once the daemon is about to exit:
        its pid and the jobs it cancelled."""
        reply: api.StopReply = self.ask(api.Stop(force=force), timeout)
        return reply

    def agents(self) -> list[Any]:
        """The agent registry: a ``sugo.protocol.agent_api.AgentInfo`` per agent."""
        from sugo.protocol import agent_api

        rows: list[Any] = self.ask(agent_api.Agents())
        return rows

    def reload(self) -> api.ReloadReply:
        """Re-read settings and the devices file and apply the difference;
        returns what changed (drivers added/removed/restarted, ...)."""
        reply: api.ReloadReply = self.ask(api.Reload())
        return reply

    # -- pipelines --------------------------------------------------------------

    def pipeline_load(self, pipeline: str, sample: str) -> api.PipelineInfo:
        """Load ``sample`` into an empty pipeline (which is then not ready)."""
        info: api.PipelineInfo = self.ask(api.PipelineLoad(pipeline=pipeline, sample=sample))
        return info

    def pipeline_eject(self, pipeline: str) -> api.PipelineInfo:
        """Remove the pipeline's sample and mark it not ready."""
        info: api.PipelineInfo = self.ask(api.PipelineEject(pipeline=pipeline))
        return info

    def pipeline_ready(self, pipeline: str) -> api.PipelineInfo:
        """Mark the pipeline ready for the next job."""
        info: api.PipelineInfo = self.ask(api.PipelineReady(pipeline=pipeline))
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
        info: api.JobInfo = self.ask(req)
        return info

    def dry_run(self, req: api.Submit, timeout: float | None = None) -> api.DryRunReply:
        """What submitting ``req`` would meet, with nothing queued: each
        pipeline and why it cannot run the payload. A RequestFailed says why
        the submit would be refused outright (an output file that clashes, an
        unknown repository, a payload over the size limit)."""
        import msgspec

        check = api.SubmitCheck(**msgspec.structs.asdict(req))
        self._check_size(check, req.source)  # as a submit: refused before it is sent
        reply: api.DryRunReply = self.ask(check, timeout)
        return reply

    def jobs(self, ids: Iterable[int] = (), recent: int | None = None) -> list[api.JobInfo]:
        """The named jobs, or every job the daemon knows when ``ids`` is empty;
        with ``recent`` = N (and no ids), every unfinished job and the N newest others."""
        req = api.Jobs(ids=_ids(ids), recent=recent)
        reply: api.JobsInfo = self.ask(req)
        return reply.jobs

    def job(self, jobid: int) -> api.JobInfo:
        """One job."""
        [info] = self.jobs([jobid])
        return info

    def rebuild(self, jobid: int) -> api.JobInfo:
        """Write an ended job's results file again from its staging store (once
        a full disk or an unwritable folder is fixed); returns the job, whose
        ``respath`` is the file written."""
        info: api.JobInfo = self.ask(api.JobRebuild(jobid=jobid))
        return info

    def cancel(self, ids: int | Iterable[int]) -> api.CancelReply:
        """Cancel jobs: queued ones at once, running ones once their data is
        written. Returns the ids cancelled."""
        reply: api.CancelReply = self.ask(api.Cancel(ids=_ids(ids)))
        return reply

    def snapshot(self, jobid: int) -> str:
        """Write the data of a running job so far; returns the snapshot's path."""
        reply: api.SnapshotReply = self.ask(api.Snapshot(jobid=jobid))
        return str(reply.snappath)

    def search(self, text: str) -> list[api.JobInfo]:
        """Jobs whose name contains ``text``."""
        reply: api.JobsInfo = self.ask(api.Search(text=text))
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
        ``component("counter:(sim-1,1)", "dev_get_attr", attr="max")``; returns
        the driver host's reply as it sent it (its shape is the verb's).

        Verbs that change the device (``dev_set_attr``, ``dev_reset``, ...) are
        refused while a job uses the component, unless ``force``.
        """
        return self.ask(api.ComponentCall(name=name, verb=verb, args=args, force=force))

    # -- instrument registry ------------------------------------------------------

    def component_restart(self, name: str) -> api.ComponentRestartReply:
        """Tear one component down and register it again."""
        out: api.ComponentRestartReply = self.ask(api.ComponentRestart(name=name), 15.0)
        return out

    def events(self, after: int = 0, limit: int = 1000, wait: float = 0.0) -> list[api.EventInfo]:
        """Events with id greater than ``after`` (oldest first). With ``wait``,
        block up to that many seconds for the next one (a long poll)."""
        req = api.Events(after=after, limit=limit, wait=wait)
        reply: api.EventsReply = self.ask(req, wait + self.timeout)
        return reply.events

    def events_json(
        self, after: int = 0, limit: int = 1000, wait: float = 0.0
    ) -> list[dict[str, Any]]:
        """``events`` as plain JSON data, undecoded (the web API serves them so)."""
        req = api.Events(after=after, limit=limit, wait=wait)
        events: list[dict[str, Any]] = self.ask_json(req, wait + self.timeout)["events"]
        return events

    def maintenance(self) -> list[api.MaintenanceItemInfo]:
        """Every maintenance item: used, threshold, remaining, due, blocking."""
        reply: api.MaintenanceReply = self.ask(api.MaintenanceStatus())
        return reply.items

    def maintenance_done(self, device: str, label: str) -> api.MaintenanceDoneReply:
        """Reset one maintenance item's counter after the work is done."""
        out: api.MaintenanceDoneReply = self.ask(api.MaintenanceDone(device=device, label=label))
        return out

    def job_log(self, jobid: int) -> api.JobLogInfo:
        """Where a job's log lines are: its runner's log and the driver logs
        (with the component patterns that pick its lines)."""
        reply: api.JobLogInfo = self.ask(api.JobLog(jobid=jobid))
        return reply

    def prune(self, days: float | None = None) -> api.PruneReply:
        """Delete records and job folders of jobs that ended over ``days`` ago."""
        out: api.PruneReply = self.ask(api.JobPrune(days=days))
        return out
