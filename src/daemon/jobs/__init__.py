"""Jobs on the daemon side, in five parts that share the runner table:

- ``submit.Submissions``: check a payload and queue it;
- ``queries.JobQueries``: what `sugo jobs`, `search`, `job log` and a
  starting runner (its spec) are told;
- ``lifecycle.JobLifecycle``: start, progress, end, cancel, snapshot;
- ``files.JobFiles``: results writes (``writes``), finalize, rebuild, prune;
- ``recovery.RunnerRecovery``: runners that died, and re-attaching after a
  daemon restart.

All state changes happen on the loop thread. Work that talks to driver hosts
(validating a payload, resetting components) runs in the worker pool and
posts its outcome back.
"""

from typing import TYPE_CHECKING, Any

from sugo.daemon.jobs.files import JobFiles
from sugo.daemon.jobs.lifecycle import JobLifecycle
from sugo.daemon.jobs.queries import JobQueries
from sugo.daemon.jobs.recovery import RunnerRecovery
from sugo.daemon.jobs.runners import Runners
from sugo.daemon.jobs.submit import Submissions
from sugo.daemon.jobs.writes import ResultWriter
from sugo.daemon.payloads import PayloadCache
from sugo.daemon.scheduler import Blocking
from sugo.platform.launcher import Launcher

if TYPE_CHECKING:
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Hosts, Runtime


class JobManager:
    def __init__(
        self,
        rt: "Runtime",
        events: "Events",
        hosts: "Hosts",
        payloads: PayloadCache,
        blocking: Blocking,
        launcher: Launcher,
        writer: ResultWriter,
    ) -> None:
        self.runners = Runners(rt.loop)
        self.queries = JobQueries(rt, payloads, blocking, hosts)
        self.submissions = Submissions(rt, events, hosts, self.queries.info)
        self.lifecycle = JobLifecycle(rt, events, self.runners, payloads, launcher)
        self.files = JobFiles(rt, events, writer, self.queries.info)
        self.recovery = RunnerRecovery(rt, self.runners, self.lifecycle, self.files, hosts)
        # What the daemon's start and stop use.
        self.start = self.lifecycle.start
        self.recover = self.recovery.recover
        self.start_watch = self.recovery.start_watch
        self.stop_watch = self.runners.stop_watch
        self.cancel_all_running = self.lifecycle.cancel_all_running
        self.kill_all_runners = self.recovery.kill_all_runners

    def handlers(self) -> dict[type, Any]:
        out: dict[type, Any] = {}
        for part in (self.submissions, self.queries, self.lifecycle, self.files):
            out.update(part.handlers())
        return out
