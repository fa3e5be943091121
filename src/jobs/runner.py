"""The job runner: one process per running job.

Each role runs in its own thread, its tasks in order, honouring
``start_with_task_name`` / ``stop_with_task_name`` across roles. Every chunk
polled from a driver host is appended to the staging store before the next
poll and acknowledged only then, so a lost reply never loses data. At the end
the components are reset and the daemon's writer writes the results file
(atomically) from the staging store. A runner imports no numpy: it moves the
driver host's binary frames to disk as they are.

Control requests from the daemon (`sugo.platform.control`): cancel the job,
take a snapshot, wake every role to poll now (when a driver host was lost).
They come as signals in the fast process mode, as replies to a ``job_control``
request this runner keeps open in the portable mode.
"""

import argparse
import json
import logging
import os
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from sugo import __version__, platform
from sugo.errors import RequestFailed, RequestTimeout, SugoError
from sugo.jobs.folder import CONSTANTS_FILE, FINAL_FILE, PENDING_FILE, staging_dir
from sugo.jobs.records import StagingWriter
from sugo.platform import control
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.client import Client, request_id
from sugo.protocol.states import FINAL
from sugo.protocol.wire import Reply, Request, convert

log = logging.getLogger("sugo.job")

HOST_TIMEOUT = 1.0  # per request to a driver host; one retry with the same id
HOST_RETRIES = 1
# Verbs that may queue behind a slow one on the component's worker (a reset, a
# stop) wait while the host answers pings, up to the driver's verb_timeout; the
# request is repeated (same id: done once) after 1, 2, 4, 5, 5... s.
PATIENT_SLICE_MAX = 5.0
PING_TIMEOUT = 0.5
DAEMON_TIMEOUT = 2.0
DONE_DEADLINE = 30.0  # how long to keep telling the daemon the job ended
DONE_RETRY = 0.5  # pause between attempts (the daemon may refuse while its database is locked)
DONE_RETRY_LATE = 5.0  # ...after DONE_DEADLINE, while final.json cannot be written either
END_SLACK = 0.003  # poll this long after a task's expected end
OVERDUE_POLL = 0.02  # poll period once a task runs past its expected end (growing)
# Results are written by the daemon's writer. While the daemon answers pings the
# runner keeps waiting (a repeated request joins the write in progress, which
# may be queued behind others); a daemon that is gone is not waited for.
WRITE_ATTEMPT = 2.0  # seconds per job_write request (repeated with the same id)
WRITE_DEADLINE = 900.0


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


class Reporter:
    """Sends progress to the daemon from its own thread; never blocks a role."""

    def __init__(self, daemon: str, jobid: int) -> None:
        self.daemon = daemon
        self.jobid = jobid
        self.queue: queue.SimpleQueue[api.JobEvent | None] = queue.SimpleQueue()
        # Each task's end, also sent with the job's end: a progress event may
        # reach no daemon (a SIGTERM or a restart while the task ended).
        self.outcomes: dict[int, api.TaskOutcome] = {}
        self.thread = threading.Thread(target=self._run, name="reporter", daemon=True)
        self.thread.start()

    def event(self, kind: str, **kw: Any) -> None:
        ev = api.JobEvent(jobid=self.jobid, kind=kind, **kw)
        if kind in ("task_ended", "task_cancelled"):
            state = (
                "cancelled" if kind == "task_cancelled" else "error" if ev.error else "completed"
            )
            self.outcomes[ev.task_index] = api.TaskOutcome(
                index=ev.task_index, state=state, points=ev.points, error=ev.error,
                ended_at=time.time(),
            )  # fmt: skip
        self.queue.put(ev)

    def _run(self) -> None:
        with Client(self.daemon, timeout=DAEMON_TIMEOUT) as client:
            while (ev := self.queue.get()) is not None:
                try:
                    client.call(ev, retries=1)
                except SugoError as e:
                    log.warning("job %d: progress not reported (%s): %s", self.jobid, ev.kind, e)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(DAEMON_TIMEOUT * 3)


class RoleRunner:
    """Runs the tasks of one role on its component."""

    def __init__(
        self, spec: api.RoleSpec, job: "JobRunner", shared: Shared, staging: StagingWriter
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
        pollrate = task.get("polling_interval") or self.comp.pollrate
        # Poll at the pollrate, and also right when the task should end, so the
        # job learns of its end at once whatever the pollrate.
        expected_end = time.monotonic() + float(task["max_duration"])
        start_points, seen = self.points, -1
        stop = Escalation(self.spec.stop_timeout)
        cancelled = False
        while True:
            stop_now = self.shared.stopping or (stop_with in self.shared.started)
            if stop_now and stop.step is None:
                cancelled = self.shared.stopping
                self._stop(client, force=False)
                stop.begin()
            running, error = self._poll(client, ts.index)
            if not running:
                break
            if stop.due():
                if stop.step == "stop":
                    log.warning(
                        "job %d: %s: task %d still running %g s after it was asked to stop:"
                        " forcing it", self.job.jobid, role, ts.index, stop.after,
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


class JobRunner:
    def __init__(self, spec: api.JobSpec, daemon: str) -> None:
        self.spec = spec
        self.jobid = spec.jobid
        self.daemon = daemon
        self.jobdir = Path(spec.jobdir)
        self.shared = Shared()
        self.snapshot_requested = threading.Event()
        self.reporter = Reporter(daemon, spec.jobid)
        self.constants: dict[str, Any] = {}  # role -> its component's constants

    def listen(self) -> None:
        """Take the daemon's control requests: as signals (fast mode; call from
        the main thread) or from a thread that keeps a ``job_control`` open."""

        def cancel() -> None:
            if not self.shared.cancel.is_set():
                log.info("job %d: cancel requested", self.jobid)
            self.shared.cancel.set()
            self.shared.notify()

        handlers = {
            control.CANCEL: cancel,
            control.SNAPSHOT: self.snapshot_requested.set,
            control.WAKE: self.shared.notify,
        }
        if platform.fast():
            control.install_signals(handlers)
        else:
            threading.Thread(
                target=self._control_requests, args=(handlers,), name="control", daemon=True
            ).start()

    def _control_requests(self, handlers: dict[str, Any]) -> None:
        # The daemon replies within CONTROL_HOLD; a longer silence means it is
        # busy or restarting: ask again (the cancel is sticky on its side).
        with Client(self.daemon, timeout=api.CONTROL_HOLD + DAEMON_TIMEOUT) as client:
            while True:
                req = api.JobControl(jobid=self.jobid, cancelled=self.shared.cancel.is_set())
                try:
                    reply = client.call(req, api.JobControlReply)
                except RequestTimeout:
                    continue
                except SugoError as e:  # refused: e.g. a daemon that does not know the job
                    log.warning("job %d: control requests: %s", self.jobid, e)
                    time.sleep(DONE_RETRY)
                    continue
                for action in reply.actions:
                    handler = handlers.get(action)
                    if handler is None:
                        log.warning("job %d: unknown control request %r", self.jobid, action)
                    else:
                        handler()

    def run(self) -> int:
        spec = self.spec
        log.info("job %d: running %d role(s)", self.jobid, len(spec.roles))
        self._reset_components("start")
        save_constants(self.jobdir, self.constants)
        with StagingWriter(
            self.jobdir, fsync=spec.fsync, fsync_interval=spec.fsync_interval
        ) as staging:
            roles = [RoleRunner(r, self, self.shared, staging) for r in spec.roles]
            snapper = threading.Thread(target=self._snapshots, name="snapshots", daemon=True)
            snapper.start()
            for r in roles:
                r.thread.start()
            for r in roles:
                r.thread.join()
        self._reset_components("end", frozenset(self.shared.lost_hosts))
        if self.shared.failed.is_set():
            status, error = "ce", "; ".join(self.shared.errors)
        elif self.shared.cancel.is_set():
            status, error = "cd", None
        else:
            status, error = "c", None
        respath: str | None = spec.respath
        problem = self._write(spec.respath, status, error)
        if problem is not None:
            status = "ce"
            staged = staging_dir(self.jobdir)
            # Say the data is kept only where it is: the job folder may have
            # been deleted under the job, taking the staged data with it.
            if any(staged.glob("*.rec")):
                kept = f"the data is kept in {staged} ('sugo job rebuild {self.jobid}')"
            else:
                kept = f"no staged data is left: the job folder {self.jobdir} was removed"
            error = f"{error + '; ' if error else ''}{problem}; {kept}"
            respath = None
        self._done(status, error, respath)
        return 0

    def _reset_components(self, when: str, skip: frozenset[str] = frozenset()) -> None:
        """Reset every component at once (a reset may be slow); skip lost hosts."""

        def reset(r: api.RoleSpec) -> None:
            comp = r.component
            req = host_api.DevReset(address=comp.address, channel=comp.channel)
            try:
                with Client(r.host, timeout=HOST_TIMEOUT) as client:
                    reply, _ = patient_request(client, req, r.host, r.verb_timeout)
                    if not reply.ok:
                        raise RequestFailed(reply.error or "reset failed")
                    if when == "start":  # the constants go into the results file
                        self.constants[r.role] = self._constants(client, comp)
            except SugoError as e:
                log.warning("job %d: reset of %s at %s failed: %s", self.jobid, comp.name, when, e)

        threads = [
            threading.Thread(target=reset, args=(r,), daemon=True)
            for r in self.spec.roles
            if r.host not in skip
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()  # each is bounded by its driver's verb_timeout

    def _constants(self, client: Client, comp: api.ComponentInfo) -> Any:
        try:
            return client.call(host_api.DevConstants(address=comp.address, channel=comp.channel))
        except SugoError as e:
            log.warning("job %d: constants of %s: %s", self.jobid, comp.name, e)
            return {}

    def _snapshots(self) -> None:
        interval = self.spec.snapshot_interval
        next_at = time.monotonic() + interval if interval else None
        while True:
            timeout = None if next_at is None else max(0.0, next_at - time.monotonic())
            asked = self.snapshot_requested.wait(timeout)
            self.snapshot_requested.clear()
            if not asked and next_at is not None:
                next_at += interval or 0
            problem = self._write(self.spec.snappath, "r", None)
            if problem is None:
                self.reporter.event("snapshot", path=self.spec.snappath)
            else:
                self.reporter.event("snapshot", error=problem)

    def _write(self, path: str, status: str, error: str | None) -> str | None:
        """Have the results (or a snapshot) file written from the staging store;
        None when it is written, else what went wrong.

        The daemon's writer does it: a process forked from a parent that has
        NetCDF loaded, so this runner never loads it. Should the daemon not
        answer, the file is written here (the slow way: cold imports).
        """
        req = api.JobWrite(id=request_id(), jobid=self.jobid, path=path, status=status, error=error)
        deadline = time.monotonic() + WRITE_DEADLINE
        with Client(self.daemon, timeout=WRITE_ATTEMPT) as client:
            while True:
                try:
                    client.call(req)
                    return None
                except RequestFailed as e:
                    log.error("job %d: %s not written: %s", self.jobid, path, e)
                    return str(e)
                except RequestTimeout:
                    if time.monotonic() > deadline or not self._daemon_answers():
                        break
        log.warning("job %d: the daemon does not answer; writing %s here", self.jobid, path)
        try:
            write_job_file(self.spec, Path(path), status, error)
            return None
        except Exception as e:
            log.exception("job %d: %s not written", self.jobid, path)
            return f"cannot write {path}: {_reason(e)}"

    def _daemon_answers(self) -> bool:
        try:
            with Client(self.daemon, timeout=1.0) as client:
                client.call(api.Ping())
            return True
        except SugoError:
            return False

    def _done(self, status: str, error: str | None, respath: str | None) -> None:
        tasks = sorted(self.reporter.outcomes.values(), key=lambda o: o.index)
        record = {
            "status": status, "error": error, "respath": respath,
            "tasks": [msgspec.structs.asdict(o) for o in tasks],
        }  # fmt: skip
        written = self._write_final(record)
        self.reporter.close()
        log.info("job %d: ended %s%s", self.jobid, status, f" ({error})" if error else "")
        done = api.JobDone(
            jobid=self.jobid, status=status, error=error, respath=respath, tasks=tasks
        )
        deadline = time.monotonic() + DONE_DEADLINE
        with Client(self.daemon, timeout=DAEMON_TIMEOUT) as client:
            while True:
                late = time.monotonic() >= deadline
                try:
                    client.call(done)
                    return
                except SugoError as e:
                    if not late:
                        log.warning("job %d: daemon not told yet: %s", self.jobid, e)
                if not written:
                    # Neither the daemon nor final.json has the job's end (the disk
                    # under both is full, say): keep trying both until one takes
                    # it, else the daemon would find a runner gone without a word.
                    written = self._write_final(record, say=False)
                if written and late:
                    break
                time.sleep(DONE_RETRY if not late else DONE_RETRY_LATE)
        log.error("job %d: daemon unreachable; it will read %s", self.jobid, FINAL_FILE)

    def _write_final(self, record: dict[str, Any], say: bool = True) -> bool:
        """Write final.json; False if it cannot be written for now. A job
        folder that was removed counts as done: nothing can be kept there."""
        try:
            _write_json(self.jobdir / FINAL_FILE, record)
            return True
        except OSError as e:  # a full disk: the daemon may still hear it
            if say:
                log.error("job %d: cannot write %s: %s", self.jobid, FINAL_FILE, e)
            return not self.jobdir.is_dir()


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


def patient_request(
    client: Client, req: Request, host: str, bound: float
) -> tuple[Reply, list[bytes]]:
    """Send a component verb that may wait behind a slow one on the component's
    worker (a 20 s reset before a task_start): wait for its reply while the host
    answers pings, up to ``bound`` s. The request is repeated with the same id,
    which the host answers once. RequestTimeout if the host stops answering or
    the bound passes."""
    import msgspec

    if not req.id:
        req = msgspec.structs.replace(req, id=request_id())
    cmd = type(req).__struct_config__.tag
    t0 = time.monotonic()
    wait = HOST_TIMEOUT
    while True:
        left = t0 + bound - time.monotonic()
        try:
            reply, frames = client.request(req, timeout=max(0.05, min(wait, left)))
            return reply, list(frames)
        except RequestTimeout:
            waited = time.monotonic() - t0
            if waited >= bound:
                raise RequestTimeout(
                    f"{host}: {cmd!r} not answered within {bound:g} s: the component is still"
                    " busy (a slower instrument needs a larger verb_timeout in [drivers.<name>])"
                ) from None
            if not _host_answers(host):
                raise RequestTimeout(
                    f"{host}: no reply to {cmd!r} after {waited:.1f} s, and the host does not"
                    " answer pings"
                ) from None
            log.info("%s: %r waits for the component (%.1f s so far)", host, cmd, waited)
            wait = min(wait * 2, PATIENT_SLICE_MAX)


def _host_answers(host: str) -> bool:
    try:
        with Client(host, timeout=PING_TIMEOUT) as client:
            client.call(host_api.HostPing(), retries=1)
        return True
    except SugoError:
        return False


def write_job_file(spec: api.JobSpec, path: Path, status: str, error: str | None) -> Path:
    """Write the results (or a snapshot) file from the staging store."""
    from sugo.jobs.writer import GroupInfo, write_results

    record = json.loads(spec.job_json)
    record.update(status=status, error=error)
    if status in FINAL:
        record["completed_at"] = record.get("completed_at") or time.time()
    constants = load_constants(Path(spec.jobdir))
    groups = {
        r.role: GroupInfo(
            attrs={
                "sugo_component": json.dumps(
                    {**convert_builtins(r.component), "constants": constants.get(r.role, {})}
                )
            },
            tasks=[
                {
                    "index": t.index,
                    "task_name": t.task.get("task_name") or "",
                    "technique_name": t.task["technique_name"],
                }
                for t in r.tasks
            ],
        )
        for r in spec.roles
    }
    root = {"sugo_version": __version__, "sugo_job": json.dumps(record)}
    path.parent.mkdir(parents=True, exist_ok=True)
    written = write_results(Path(spec.jobdir), path, root_attrs=root, groups=groups)
    if status in FINAL and str(path) == spec.respath:
        _crate_if_asked(record, path)
    return written


def _crate_if_asked(record: dict[str, Any], path: Path) -> None:
    """The RO-Crate of a job whose payload names repositories (tomato 2.2).
    A crate that cannot be made is logged: the results file is written."""
    from sugo.jobs.crate import make_crate, repositories_of

    if not repositories_of(record):
        return
    try:
        make_crate(path)
    except Exception:
        log.exception("job %s: the RO-Crate of %s was not written", record.get("id"), path)


def save_constants(jobdir: Path, constants: dict[str, Any]) -> None:
    """Keep the components' constants beside the staging store, so whoever
    writes the results file (the runner, or the daemon after a crash) has them."""
    try:
        _write_json(jobdir / CONSTANTS_FILE, constants)
    except (OSError, TypeError, ValueError) as e:
        log.warning("constants not kept in %s: %s", jobdir, e)


def load_constants(jobdir: Path) -> dict[str, Any]:
    try:
        data = json.loads((jobdir / CONSTANTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _reason(e: BaseException) -> str:
    """What went wrong in one line, without the temporary file name an OSError
    carries; HDF5's long multi-line reports are cut down to their errno."""
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno)
    text = " ".join(str(e).split())
    found = re.search(r"errno = (\d+)", text)
    if found:
        return os.strerror(int(found[1]))
    return text or type(e).__name__


def _write_json(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def fetch_spec(daemon: str, jobid: int, patient: bool) -> api.JobSpec:
    """The job's spec from the daemon. ``patient``: keep asking for
    DONE_DEADLINE seconds (a finalize may start just before a daemon restart)."""
    deadline = time.monotonic() + (DONE_DEADLINE if patient else 0.0)
    with Client(daemon, timeout=DAEMON_TIMEOUT) as client:
        while True:
            try:
                spec: api.JobSpec = client.call(
                    api.JobSpecRequest(jobid=jobid), api.JobSpec, retries=2
                )
                return spec
            except RequestTimeout:
                if time.monotonic() > deadline:
                    raise


def write(spec: api.JobSpec, daemon: str, path: Path, status: str, error: str | None) -> int:
    """Write a running job's results or snapshot file for the daemon's writer,
    and tell the daemon how it went (not through a file: the job folder may
    be on a full disk)."""
    problem = None
    try:
        write_job_file(spec, path, status, error)
    except Exception as e:
        log.exception("job %d: %s not written", spec.jobid, path)
        problem = f"cannot write {path}: {_reason(e)}"
    try:
        with Client(daemon, timeout=DAEMON_TIMEOUT) as client:
            client.call(api.JobWritten(jobid=spec.jobid, path=str(path), error=problem), retries=2)
    except SugoError as e:
        log.error("job %d: cannot tell the daemon that %s is written: %s", spec.jobid, path, e)
        return 1
    return 0 if problem is None else 1


def finalize(spec: api.JobSpec, report: Path | None) -> int:
    """Write the results file of an ended job from its staging store (after its
    runner died, or on `sugo job rebuild`); ``report`` gets the outcome as JSON."""
    record = json.loads(spec.job_json)
    outcome: dict[str, Any] = {"ok": True, "respath": spec.respath, "error": None}
    try:
        write_job_file(spec, Path(spec.respath), record.get("status", "ce"), record["error"])
        log.info("job %d: results written from the staging store", spec.jobid)
        (Path(spec.jobdir) / PENDING_FILE).unlink(missing_ok=True)
    except Exception as e:
        log.exception("job %d: cannot write the results file", spec.jobid)
        outcome = {
            "ok": False,
            "respath": None,
            "error": f"cannot write {spec.respath}: {_reason(e)}",
        }
    if report is not None:
        _write_json(report, outcome)
    return 0 if outcome["ok"] else 1


def convert_builtins(obj: Any) -> Any:
    from sugo.protocol.wire import to_builtins

    return to_builtins(obj)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sugo-job-runner")
    parser.add_argument("mode", choices=["run", "write", "finalize"])
    parser.add_argument("jobid", type=int)
    parser.add_argument("--daemon", required=True)
    parser.add_argument("--report", type=Path, help="finalize: write the outcome here as JSON")
    parser.add_argument("--path", type=Path, help="write: the file to write")
    parser.add_argument("--status", default="r", help="write: the job status to record")
    parser.add_argument("--error", help="write: the job error to record")
    args = parser.parse_args(argv)
    from sugo.logs import setup_logging

    setup_logging(None, "INFO", f"job {args.jobid}")
    try:
        spec = fetch_spec(args.daemon, args.jobid, patient=args.mode == "finalize")
    except SugoError as e:
        log.error("job %d: cannot get the job from the daemon: %s", args.jobid, e)
        if args.report is not None:
            _write_json(args.report, {"ok": False, "respath": None, "error": str(e)})
        return 1
    logging.getLogger().setLevel(spec.verbosity)
    if args.mode == "finalize":
        return finalize(spec, args.report)
    if args.mode == "write":
        if args.path is None:
            parser.error("write needs --path")
        return write(spec, args.daemon, args.path, args.status, args.error)
    runner = JobRunner(spec, args.daemon)
    runner.listen()
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
