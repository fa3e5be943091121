"""The replies of the daemon's requests (``sugo.protocol.daemon_api``): the
``data`` of a ``Reply`` envelope, one struct per kind. The reply shapes are the
``--json`` contract of CLI.md; ``daemon_api.DAEMON_REPLIES`` says which reply
each request gets.

Field order is the order on the wire. Unknown fields are ignored (an older
client reads a newer daemon's replies); fields added later need defaults.
"""

from typing import Any

import msgspec

# -- daemon ----------------------------------------------------------------------------


class Ack(msgspec.Struct):
    """The reply of a request that is only acknowledged: ``{"ok": true}``."""

    ok: bool = True


class PingInfo(msgspec.Struct):
    pid: int
    port: int
    version: str
    appdir: str
    # The largest request the daemon reads ([daemon] max_message_bytes); None
    # from a daemon that does not say.
    max_message_bytes: int | None = None


class StopReply(msgspec.Struct):
    """``stop``: sent once the daemon is about to exit."""

    stopped: bool
    cancelled: list[int]  # the jobs it cancelled first (stop --force)
    pid: int


class ReloadReply(msgspec.Struct):
    """``reload``: what changed."""

    drivers_added: list[str] = []
    drivers_removed: list[str] = []
    drivers_restarted: list[str] = []
    components_removed: list[str] = []
    pipelines: list[str] = []  # every pipeline after the reload


# -- status ----------------------------------------------------------------------------


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


# -- jobs ------------------------------------------------------------------------------


class TaskInfo(msgspec.Struct):
    """One task of a job: where it is in the payload's method and how it went."""

    index: int  # position in the payload's method
    role: str
    technique: str
    state: str  # a TaskState: pending, running, completed, cancelled, error
    started_at: float | None = None
    ended_at: float | None = None
    points: int = 0  # data points taken
    error: str | None = None


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
    output_dir: str = ""  # where its results file goes
    prefix: str | None = None  # the results file's name without suffix (None: results.<id>)
    runner_pid: int | None = None  # its job runner, while it runs
    runner_started: float | None = None  # the runner process's start time (pid reuse check)
    unlock_when_done: bool = False  # the pipeline is marked ready again when it ends
    tasks: list[TaskInfo] = []
    waiting: str | None = None  # why a queued job cannot start yet, in one line
    #: Why a queued job waits, per pipeline that could run it (pipeline -> reason).
    waiting_for: dict[str, str] = {}
    payload: dict[str, Any] | None = None  # only when asked for (Jobs.payload)


class JobsInfo(msgspec.Struct):
    jobs: list[JobInfo]


class CancelReply(msgspec.Struct):
    cancelled: list[int]


class SnapshotReply(msgspec.Struct):
    """``snapshot``: sent once the runner has written the snapshot file."""

    jobid: int
    snappath: str | None


class DriverLogInfo(msgspec.Struct):
    """A driver log, and the texts that pick a job's lines from it."""

    driver: str
    path: str
    match: list[str]


class JobLogInfo(msgspec.Struct):
    """``job_log``: where a job's log lines are."""

    jobid: int
    status: str
    job_log: str  # its runner's log
    driver_logs: list[DriverLogInfo]
    started_at: float | None
    completed_at: float | None


class PruneReply(msgspec.Struct):
    pruned: list[int]  # the jobs whose records and job folders were deleted
    days: int | float  # as asked, or settings jobs.retention_days (an int)


# -- the instrument registry -----------------------------------------------------------


class EventInfo(msgspec.Struct):
    """One entry of the event log."""

    id: int
    time: float  # unix time
    kind: str  # e.g. "job.queued"
    subject: str  # e.g. "job 3"
    data: dict[str, Any]


class EventsReply(msgspec.Struct):
    events: list[EventInfo]


class MaintenanceItemInfo(msgspec.Struct):
    """One maintenance item of `sugo maintenance status`."""

    device: str
    label: str
    trigger: str  # "task_hours", "jobs" or "days"
    threshold: float
    used: float
    remaining: float
    due: bool
    blocking: bool
    message: str
    since: float  # unix time of the last reset


class MaintenanceReply(msgspec.Struct):
    items: list[MaintenanceItemInfo]


class MaintenanceDoneReply(msgspec.Struct):
    device: str
    label: str


class ComponentRestartReply(msgspec.Struct):
    """``component_restart``: the component is registered again."""

    name: str
    capabilities: list[str]


# -- driver hosts and job runners ------------------------------------------------------


class HostHelloReply(msgspec.Struct):
    """``host_hello``: the driver's ``[drivers.NAME]`` settings."""

    settings: dict[str, Any]


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


class JobControlReply(msgspec.Struct, kw_only=True):
    """``job_control``: what the runner is asked to do (none when the hold ran out)."""

    actions: list[str] = []


class PipelineVerdict(msgspec.Struct):
    """One pipeline in a dry run of submit: whether it can run the payload,
    why not, and what it holds now (a job starts once its sample is loaded and
    the pipeline marked ready)."""

    name: str
    can_run: bool
    reason: str | None  # None: it can
    ready: bool = False
    sample: str | None = None


class DryRunReply(msgspec.Struct):
    """``submit_check``: every check a submit makes, nothing queued."""

    dry_run: bool
    pipelines: list[PipelineVerdict]


class JobWriteReply(msgspec.Struct):
    """``job_write``: sent once the file is written."""

    respath: str
