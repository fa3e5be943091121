"""The run mode's roles: each runs its tasks in order on its component, in a
thread of its own, honouring ``start_with_task_name`` / ``stop_with_task_name``
across roles. Every chunk polled from the driver host is appended to the
staging store before the next poll and acknowledged only then, so a lost
reply never loses data. A stop that the task ignores is escalated (`Escalation`).
"""

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sugo.errors import RequestFailed, RequestTimeout, SugoError
from sugo.jobs.hostcalls import HOST_RETRIES, HOST_TIMEOUT, patient_request
from sugo.jobs.progress import Reporter
from sugo.jobs.staging_writer import StagingWriter
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.client import Client
from sugo.protocol.wire import convert

log = logging.getLogger("sugo.job")

END_SLACK = 0.003  # poll this long after a task's expected end
OVERDUE_POLL = 0.02  # poll period once a task runs past its expected end (growing)


@dataclass
class Shared:
    """What the role threads of one job share."""

    cancel: threading.Event = field(default_factory=threading.Event)
    failed: threading.Event = field(default_factory=threading.Event)
    wake: threading.Condition = field(default_factory=threading.Condition)
    started: set[str] = field(default_factory=set)  # task names that have started
    errors: list[str] = field(default_factory=list)
    lost_hosts: set[str] = field(default_factory=set)  # hosts that stopped answering
    generation: int = 0  # bumped on every wake, so waiters notice

    def notify(self) -> None:
        with self.wake:
            self.generation += 1
            self.wake.notify_all()

    def wait(self, timeout: float, seen: int) -> int:
        """Sleep until ``timeout`` passes or someone notifies; return the generation."""
        with self.wake:
            if self.generation == seen:
                self.wake.wait(timeout)
            return self.generation

    def fail(self, message: str) -> None:
        with self.wake:
            self.errors.append(message)
        self.failed.set()
        self.notify()

    @property
    def stopping(self) -> bool:
        return self.cancel.is_set() or self.failed.is_set()


class RoleJob(Protocol):
    """What a role needs of its job (`sugo.jobs.run.JobRunner`)."""

    jobid: int
    jobdir: Path
    reporter: Reporter


class RoleRunner:
    """Runs the tasks of one role on its component."""

    def __init__(
        self, spec: api.RoleSpec, job: RoleJob, shared: Shared, staging: StagingWriter
    ) -> None:
        self.spec = spec
        self.job = job
        self.shared = shared
        self.staging = staging
        self.comp = spec.component
        self.last_seq = 0
        self.points = 0
        self.thread = threading.Thread(target=self.run, name=f"role-{spec.role}", daemon=True)

    def _call(self, client: Client, req: Any) -> tuple[Any, list[bytes]]:
        reply, frames = client.request(req, retries=HOST_RETRIES)
        if not reply.ok:
            raise RequestFailed(f"{self.comp.name}: {reply.error}")
        return reply.data, frames

    def _call_patiently(self, client: Client, req: Any) -> Any:
        reply, _ = patient_request(client, req, self.spec.host, self.spec.verb_timeout)
        if not reply.ok:
            raise RequestFailed(f"{self.comp.name}: {reply.error}")
        return reply.data

    def run(self) -> None:
        try:
            with Client(self.spec.host, timeout=HOST_TIMEOUT) as client:
                for ts in self.spec.tasks:
                    if self.shared.stopping:
                        self.job.reporter.event(
                            "task_cancelled", role=self.spec.role, task_index=ts.index
                        )
                        continue
                    self._run_task(client, ts)
        except RequestTimeout as e:
            log.error("job %d: role %s lost its driver host: %s", self.job.jobid, self.spec.role, e)
            with self.shared.wake:
                self.shared.lost_hosts.add(self.spec.host)
            self.shared.fail(f"{self.spec.role}: {e}")
        except SugoError as e:
            log.error("job %d: role %s failed: %s", self.job.jobid, self.spec.role, e)
            self.shared.fail(f"{self.spec.role}: {e}")
        except OSError as e:
            # Staging is this thread's only file I/O: a full disk or a lost job folder.
            log.error("job %d: role %s cannot stage data: %s", self.job.jobid, self.spec.role, e)
            self.shared.fail(
                f"{self.spec.role}: cannot stage data in {self.job.jobdir}: {e.strerror or e}"
            )
        except Exception as e:
            log.exception("job %d: role %s crashed", self.job.jobid, self.spec.role)
            self.shared.fail(f"{self.spec.role}: internal error: {e}")

    def _wait_start_trigger(self, name: str | None) -> bool:
        seen = -1
        while name is not None and name not in self.shared.started:
            if self.shared.stopping:
                return False
            seen = self.shared.wait(1.0, seen)
        return not self.shared.stopping

    def _run_task(self, client: Client, ts: api.TaskSpec) -> None:
        task = ts.task
        role = self.spec.role
        if not self._wait_start_trigger(task.get("start_with_task_name")):
            self.job.reporter.event("task_cancelled", role=role, task_index=ts.index)
            return
        stop_with = task.get("stop_with_task_name")
        self._call_patiently(
            client,
            host_api.TaskStart(
                address=self.comp.address,
                channel=self.comp.channel,
                task=task,
                grace=self.spec.task_grace,
            ),
        )
        log.info(
            "job %d: %s: task %d (%s) started on %s",
            self.job.jobid, role, ts.index, task["technique_name"], self.comp.name,
        )  # fmt: skip
        if task.get("task_name"):
            with self.shared.wake:
                self.shared.started.add(task["task_name"])
            self.shared.notify()
        self.job.reporter.event("task_started", role=role, task_index=ts.index)
        pollrate = float(task.get("polling_interval") or self.comp.pollrate)
        start_points = self.points
        try:
            error, cancelled = self._follow(client, ts.index, stop_with, pollrate, task)
        except Exception as e:
            # Its points so far are staged (they go in the results file): the
            # task's record says how many, whatever ended it (a lost host, a full disk).
            self.job.reporter.event(
                "task_ended", role=role, task_index=ts.index, points=self.points - start_points,
                error=str(e) or type(e).__name__,
            )  # fmt: skip
            raise
        points = self.points - start_points
        if error and cancelled:
            # Asked to stop, and stopped (perhaps forcibly): the job is cancelled,
            # the problem is the component's (its status shows it).
            log.warning("job %d: %s: cancelled task %d: %s", self.job.jobid, role, ts.index, error)
            error = None
        if error:
            self.job.reporter.event(
                "task_ended", role=role, task_index=ts.index, points=points, error=error
            )
            raise SugoError(f"task {ts.index} failed: {error}")
        kind = "task_cancelled" if cancelled else "task_ended"
        self.job.reporter.event(kind, role=role, task_index=ts.index, points=points)
        log.info("job %d: %s: task %d done, %d points", self.job.jobid, role, ts.index, points)

    def _follow(
        self,
        client: Client,
        index: int,
        stop_with: str | None,
        pollrate: float,
        task: dict[str, Any],
    ) -> tuple[str | None, bool]:
        """Poll a started task until it ends, staging its data; stop it when
        the job stops or its stop trigger fires. Returns its error (None: it
        ended well) and whether it was cancelled."""
        role = self.spec.role
        # Poll at the pollrate, and also right when the task should end, so the
        # job learns of its end at once whatever the pollrate.
        expected_end = time.monotonic() + float(task["max_duration"])
        seen = -1
        stop = Escalation(self.spec.stop_timeout)
        cancelled = False
        while True:
            stop_now = self.shared.stopping or (stop_with in self.shared.started)
            if stop_now and stop.step is None:
                cancelled = self.shared.stopping
                self._stop(client, force=False)
                stop.begin()
            running, error = self._poll(client, index)
            if not running:
                break
            if stop.due():
                if stop.step == "stop":
                    log.warning(
                        "job %d: %s: task %d still running %g s after it was asked to stop:"
                        " forcing it", self.job.jobid, role, index, stop.after,
                    )  # fmt: skip
                    self._stop(client, force=True)
                    stop.begin("force")
                else:
                    error = (
                        f"{self.comp.name}: task still running {stop.after:g} s after a forced"
                        " stop; left to the component's watchdog"
                    )
                    log.error("job %d: %s: %s", self.job.jobid, role, error)
                    break
            until_end = expected_end - time.monotonic()
            if until_end > 0:
                wait = min(pollrate, until_end + END_SLACK)
            else:  # overdue: poll soon, then less and less often
                wait = min(pollrate, max(OVERDUE_POLL, -until_end / 10))
            seen = self.shared.wait(stop.bound(wait), seen)
        return error, cancelled

    def _stop(self, client: Client, force: bool) -> None:
        comp = self.comp
        # The escalation's clock is this runner's (`Escalation`): a stop is not
        # waited for at the host, a forced one for `stop_timeout`, after which
        # the host marks the component hung. (The host's own default wait, the
        # driver's, would add up to twice its 5 s whatever the setting says.)
        wait = self.spec.stop_timeout if force else 0.0
        self._call_patiently(
            client,
            host_api.TaskStop(
                address=comp.address, channel=comp.channel, force=force, timeout=wait
            ),
        )

    def _poll(self, client: Client, task_index: int) -> tuple[bool, str | None]:
        """Fetch new chunks, stage them, and acknowledge what is staged."""
        data, frames = self._call(
            client,
            host_api.TaskData(
                address=self.comp.address, channel=self.comp.channel, ack=self.last_seq
            ),
        )
        reply = convert(data, host_api.TaskDataReply)
        offset = 0
        for header in reply.chunks:
            n = len(header.variables) + len(header.coords)  # coords: after the variables
            chunk_frames, offset = frames[offset : offset + n], offset + n
            if header.seq <= self.last_seq:
                continue  # already staged: its acknowledgement was lost
            self.staging.append_wire(self.spec.role, task_index, header, chunk_frames)
            self.last_seq = header.seq
            self.points += header.points
        self.staging.sync_due()
        return reply.running, reply.error


@dataclass
class Escalation:
    """A stop that does not end the task within ``after`` seconds is forced;
    one that still does not is given up (the component's watchdog takes over)."""

    after: float
    step: str | None = None  # None, "stop" or "force"
    since: float = 0.0

    def begin(self, step: str = "stop") -> None:
        self.step, self.since = step, time.monotonic()

    def due(self) -> bool:
        return self.step is not None and time.monotonic() - self.since >= self.after

    def bound(self, wait: float) -> float:
        """``wait``, cut short so the next step is not late."""
        if self.step is None:
            return wait
        return max(0.0, min(wait, self.since + self.after - time.monotonic()))
