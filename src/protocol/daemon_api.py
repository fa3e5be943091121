"""Requests served by the daemon, and the typed data of its replies.

Clients are the CLI (and ``sugo.client``), driver hosts (``host_hello``) and
job runners (``job_*``). The reply shapes are the ``--json`` contract of CLI.md.
"""

from typing import Annotated, Any

import msgspec

from sugo.protocol.wire import Request

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
    # Check only (`sugo check`): every check of a submit, nothing queued; the
    # reply names each pipeline and why it cannot run the payload (None: it can).
    dry_run: bool = False


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


class JobControlReply(msgspec.Struct, kw_only=True):
    actions: list[str] = []


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

# -- reply data ---------------------------------------------------------------------


class PingInfo(msgspec.Struct):
    pid: int
    port: int
    version: str
    appdir: str
    # The largest request the daemon reads ([daemon] max_message_bytes); None
    # from a daemon that does not say.
    max_message_bytes: int | None = None


class PipelineInfo(msgspec.Struct):
    name: str
    ready: bool
    sample: str | None
    jobid: int | None
    components: dict[str, str]


class DriverInfo(msgspec.Struct):
    name: str
    pid: int | None
    port: int | None
    state: str
    version: str
    error: str | None = None
    code: int = 500
    label: str = "unknown"
    source: str = ""  # the host's report: "tomato package ...", "sugo built-in (...)"


class DeviceInfo(msgspec.Struct):
    name: str
    driver: str
    address: str
    channels: list[str]
    pollrate: float


class ComponentInfo(msgspec.Struct):
    name: str
    driver: str
    device: str
    address: str
    channel: str
    capabilities: list[str]
    state: str
    pollrate: float
    code: int = 500  # health: 1xx fine, 2xx warning, 3xx device, 4xx driver, 5xx unknown
    label: str = "unknown"
    text: str = ""
    error_count: int = 0
    errors: list[dict[str, Any]] = []
    properties: dict[str, Any] = {}


class StatusInfo(msgspec.Struct):
    port: int
    pid: int
    version: str
    appdir: str
    pipelines: list[PipelineInfo]
    drivers: list[DriverInfo]
    devices: list[DeviceInfo]
    components: list[ComponentInfo]
    ready: bool  # every driver and component is up
    notices: list[str] = []  # problems of the daemon itself (its database), start-up repairs
    web: str | None = None  # the URL of the web server the daemon supervises ([web] listen)


class JobInfo(msgspec.Struct):
    id: int
    jobname: str | None
    status: str
    pipeline: str | None
    sample: str
    user: str | None
    submitted_at: float
    started_at: float | None
    completed_at: float | None
    respath: str | None
    snappath: str | None
    error: str | None
    jobdir: str
    tasks: list[dict[str, Any]] = []
    waiting: str | None = None  # why a queued job cannot start yet, in one line
    #: Why a queued job waits, per pipeline that could run it (pipeline -> reason).
    waiting_for: dict[str, str] = {}
    payload: dict[str, Any] | None = None  # only when asked for (Jobs.payload)


class JobsInfo(msgspec.Struct):
    jobs: list[JobInfo]


class TaskSpec(msgspec.Struct):
    index: int  # position in the payload's method
    task: dict[str, Any]


class RoleSpec(msgspec.Struct):
    role: str
    component: ComponentInfo
    host: str  # the driver host's endpoint
    tasks: list[TaskSpec]
    # From [drivers.<name>] of settings.toml (see sugo.config.settings.DriverTable).
    verb_timeout: float = 60.0  # a verb waits this long for a busy component's worker
    stop_timeout: float = 10.0  # a cancel escalates after this long
    task_grace: float | None = None  # watchdog grace past max_duration (None: the driver's)


class JobSpec(msgspec.Struct):
    """Everything a job runner needs, from the daemon's job_spec reply."""

    jobid: int
    jobname: str | None
    jobdir: str
    respath: str
    fsync: bool
    verbosity: str
    snapshot_interval: float | None
    snappath: str
    roles: list[RoleSpec]
    job_json: str  # the job record (with payload) as JSON, for the results file
    fsync_interval: float = 1.0  # see settings [jobs]
