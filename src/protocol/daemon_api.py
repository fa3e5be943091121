"""Requests served by the daemon, and which reply each gets (``DAEMON_REPLIES``).

Clients are the CLI (and ``sugo.client``), driver hosts (``host_hello``) and
job runners (``job_*``). The replies' structs live in
``sugo.protocol.daemon_replies`` (re-exported here); their shapes are the
``--json`` contract of CLI.md.
"""

from typing import Annotated, Any

import msgspec

from sugo.protocol.daemon_replies import (
    Ack,
    CancelReply,
    ComponentInfo,
    ComponentRestartReply,
    DeviceInfo,
    DriverInfo,
    DriverLogInfo,
    DryRunReply,
    EventInfo,
    EventsReply,
    HostHelloReply,
    JobControlReply,
    JobInfo,
    JobLogInfo,
    JobsInfo,
    JobSpec,
    JobWriteReply,
    MaintenanceDoneReply,
    MaintenanceItemInfo,
    MaintenanceReply,
    PingInfo,
    PipelineInfo,
    PipelineVerdict,
    PruneReply,
    ReloadReply,
    RoleSpec,
    SnapshotReply,
    StatusInfo,
    StopReply,
    TaskInfo,
    TaskSpec,
)
from sugo.protocol.wire import Request

# The replies are re-exported: users write api.JobInfo as before.
__all__ = [
    "CONTROL_HOLD",
    "DAEMON_REPLIES",
    "DAEMON_REQUESTS",
    "Ack",
    "Cancel",
    "CancelReply",
    "ComponentCall",
    "ComponentInfo",
    "ComponentRestart",
    "ComponentRestartReply",
    "DeviceInfo",
    "DriverInfo",
    "DriverLogInfo",
    "DryRunReply",
    "EventInfo",
    "Events",
    "EventsReply",
    "HostFailed",
    "HostHello",
    "HostHelloReply",
    "JobControl",
    "JobControlReply",
    "JobDone",
    "JobEvent",
    "JobId",
    "JobInfo",
    "JobLog",
    "JobLogInfo",
    "JobPrune",
    "JobRebuild",
    "JobSpec",
    "JobSpecRequest",
    "JobWrite",
    "JobWriteReply",
    "JobWritten",
    "Jobs",
    "JobsInfo",
    "MaintenanceDone",
    "MaintenanceDoneReply",
    "MaintenanceItemInfo",
    "MaintenanceReply",
    "MaintenanceStatus",
    "Ping",
    "PingInfo",
    "PipelineEject",
    "PipelineInfo",
    "PipelineLoad",
    "PipelineReady",
    "PipelineVerdict",
    "PruneReply",
    "Reload",
    "ReloadReply",
    "RoleSpec",
    "Search",
    "Snapshot",
    "SnapshotReply",
    "Status",
    "StatusInfo",
    "Stop",
    "StopReply",
    "Submit",
    "SubmitCheck",
    "TaskInfo",
    "TaskOutcome",
    "TaskSpec",
]

#: A job id as requests carry it: positive and within SQLite's integer range.
JobId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]

# -- CLI requests -------------------------------------------------------------------


class Ping(Request, tag="ping"):
    pass


class Status(Request, tag="status"):
    pass


class Stop(Request, tag="stop"):
    force: bool = False


class Reload(Request, tag="reload"):
    pass


class PipelineLoad(Request, tag="pipeline_load"):
    pipeline: str
    sample: str


class PipelineEject(Request, tag="pipeline_eject"):
    pipeline: str


class PipelineReady(Request, tag="pipeline_ready"):
    pipeline: str


class Submit(Request, tag="submit"):
    payload: str  # the payload file's text; the daemon parses and validates it
    fmt: str  # "toml", "yaml" or "json"
    source: str  # the file name, for error messages
    cwd: str  # where relative output paths resolve
    jobname: str | None = None
    user: str | None = None


class SubmitCheck(Submit, tag="submit_check"):
    """A dry run of ``submit`` (`sugo check`): every check a submit makes,
    nothing queued; the reply names each pipeline and why it cannot run the
    payload (None: it can)."""


class Jobs(Request, tag="jobs"):
    """The named jobs; with no ids, every job, or with ``recent`` = N every
    queued and running job plus the N newest others (a short `sugo jobs`)."""

    ids: list[JobId] = []
    recent: Annotated[int, msgspec.Meta(ge=0)] | None = None
    payload: bool = False  # with ids: each job's payload too (JobInfo.payload)


class Cancel(Request, tag="cancel"):
    ids: list[JobId]


class Snapshot(Request, tag="snapshot"):
    jobid: JobId


class Search(Request, tag="search"):
    text: str


class Events(Request, tag="events"):
    """Events after id ``after``; with ``wait`` > 0 the reply waits up to that
    many seconds for a new one (long poll: `sugo events --follow`)."""

    after: int = 0
    limit: int = 1000
    wait: float = 0.0


class JobLog(Request, tag="job_log"):
    """Where the log lines of a job are: its runner's log, and the driver logs
    with the component names to pick their lines by."""

    jobid: JobId


class JobRebuild(Request, tag="job_rebuild"):
    """Write a finished job's results file again from its staging store (after
    a full disk or an unwritable folder); the reply comes once it is written."""

    jobid: JobId


class JobPrune(Request, tag="job_prune"):
    """Delete the records and job folders of jobs that ended more than
    ``days`` ago (default: settings jobs.retention_days). Results files stay."""

    days: float | None = None


class MaintenanceStatus(Request, tag="maintenance_status"):
    pass


class MaintenanceDone(Request, tag="maintenance_done"):
    device: str
    label: str


class ComponentRestart(Request, tag="component_restart"):
    """Tear one component down and register it again."""

    name: str


class ComponentCall(Request, tag="component"):
    """Forward one ModelInterface verb to the component's driver host."""

    name: str
    verb: str
    args: dict[str, Any] = {}
    force: bool = False


# -- driver hosts and job runners ---------------------------------------------------


class HostHello(Request, tag="host_hello"):
    driver: str
    port: int
    pid: int
    source: str = ""  # what runs under this name: a tomato package, a sugo built-in...


class HostFailed(Request, tag="host_failed"):
    """A driver host cannot start its driver (e.g. a required setting is missing)."""

    driver: str
    pid: int
    error: str


class JobSpecRequest(Request, tag="job_spec"):
    jobid: JobId


class JobEvent(Request, tag="job_event"):
    """Progress of a running job: a task started or ended on a role."""

    jobid: JobId
    kind: str  # "task_started", "task_ended", "snapshot"
    role: str = ""
    task_index: int = -1
    points: int = 0
    error: str | None = None
    path: str | None = None


class TaskOutcome(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How a task of a job ended, as its runner saw it (see `JobDone.tasks`)."""

    index: int
    state: str  # "completed", "cancelled" or "error"
    points: int = 0
    error: str | None = None
    ended_at: float | None = None


class JobControl(Request, tag="job_control"):
    """From a job runner in the portable process mode: its control requests
    (cancel, snapshot, wake), held open by the daemon until there is one or
    CONTROL_HOLD seconds pass. ``cancelled``: the runner cancels already."""

    jobid: JobId
    cancelled: bool = False


CONTROL_HOLD = 5.0  # seconds the daemon holds a job_control request without an action


class JobDone(Request, tag="job_done"):
    jobid: JobId
    status: str  # "c", "ce" or "cd"
    error: str | None = None
    respath: str | None = None
    # Every task's end as the runner saw it: its progress events may have gone
    # to no daemon (a SIGTERM or a restart while the task ended).
    tasks: list[TaskOutcome] = []


class JobWrite(Request, tag="job_write"):
    """From a running job's runner: write its results (or snapshot) file from
    the staging store, recording ``status`` and ``error``; replied when written."""

    jobid: JobId
    path: str
    status: str
    error: str | None = None


class JobWritten(Request, tag="job_written"):
    """From the daemon's writer process: ``path`` of the job is written (or
    ``error`` says why not)."""

    jobid: JobId
    path: str
    error: str | None = None


DAEMON_REQUESTS: list[type[Request]] = [
    Ping,
    Status,
    Stop,
    Reload,
    PipelineLoad,
    PipelineEject,
    PipelineReady,
    Submit,
    SubmitCheck,
    Jobs,
    Cancel,
    Snapshot,
    Search,
    ComponentCall,
    ComponentRestart,
    MaintenanceStatus,
    MaintenanceDone,
    Events,
    JobLog,
    JobRebuild,
    JobPrune,
    HostHello,
    HostFailed,
    JobSpecRequest,
    JobEvent,
    JobDone,
    JobWrite,
    JobWritten,
]

#: The reply of every daemon request: the struct its ``Reply.data`` decodes into.
#: ``component`` forwards a driver host's reply unchanged: its shape is the
#: verb's (``sugo.protocol.host_api``), so it is not checked here.
DAEMON_REPLIES: dict[type[Request], Any] = {
    Ping: PingInfo,
    Status: StatusInfo,
    Stop: StopReply,
    Reload: ReloadReply,
    PipelineLoad: PipelineInfo,
    PipelineEject: PipelineInfo,
    PipelineReady: PipelineInfo,
    Submit: JobInfo,
    SubmitCheck: DryRunReply,
    Jobs: JobsInfo,
    Cancel: CancelReply,
    Snapshot: SnapshotReply,
    Search: JobsInfo,
    Events: EventsReply,
    JobLog: JobLogInfo,
    JobRebuild: JobInfo,
    JobPrune: PruneReply,
    MaintenanceStatus: MaintenanceReply,
    MaintenanceDone: MaintenanceDoneReply,
    ComponentRestart: ComponentRestartReply,
    ComponentCall: Any,
    HostHello: HostHelloReply,
    HostFailed: Ack,
    JobSpecRequest: JobSpec,
    JobEvent: Ack,
    JobControl: JobControlReply,
    JobDone: Ack,
    JobWrite: JobWriteReply,
    JobWritten: Ack,
}
