"""The rows of the daemon's store, as frozen msgspec Structs (cheap to build:
listing 10,000 jobs stays fast), and their conversion from SQLite tuples.
What clients see are the protocol's structs (`sugo.protocol.daemon_replies`),
built from these rows where the daemon answers."""

import json
from enum import Enum
from typing import Any

import msgspec

from sugo.protocol.states import FINAL, ComponentState, DriverState, JobStatus


class Unset(Enum):
    UNSET = "unset"


UNSET = Unset.UNSET  # "leave this field alone", so that None can be stored


class JobRow(msgspec.Struct, frozen=True):
    """One job. Paths are strings; ``payload`` is the validated payload as JSON text."""

    id: int
    jobname: str | None
    status: JobStatus
    payload: str
    sample: str
    user: str
    pipeline: str | None
    submitted_at: float
    started_at: float | None
    completed_at: float | None
    output_dir: str
    prefix: str | None
    jobdir: str
    respath: str | None
    snappath: str | None
    error: str | None
    runner_pid: int | None
    runner_started: float | None
    unlock_when_done: bool

    @property
    def is_final(self) -> bool:
        """True once the job has ended (``c``, ``ce`` or ``cd``)."""
        return self.status in FINAL

    def to_json(self) -> dict[str, Any]:
        """The job as plain JSON types, without the (possibly large) payload."""
        out = msgspec.structs.asdict(self)
        del out["payload"]
        out["status"] = self.status.value
        return out


class PipelineRow(msgspec.Struct, frozen=True):
    """One pipeline: roles mapped to component names, and what it holds."""

    name: str
    components: dict[str, str]
    sample: str | None
    ready: bool
    jobid: int | None


class DriverRow(msgspec.Struct, frozen=True):
    """One driver host process."""

    name: str
    pid: int | None
    port: int | None
    state: DriverState
    version: str | None
    settings: dict[str, Any]
    started_at: float | None
    create_time: float | None

    def to_json(self) -> dict[str, Any]:
        """The driver as plain JSON types."""
        out = msgspec.structs.asdict(self)
        out["state"] = self.state.value
        return out


class ComponentRow(msgspec.Struct, frozen=True):
    """One component: a channel of a device, served by a driver."""

    name: str
    driver: str
    device: str
    address: str
    channel: str
    pollrate: float
    capabilities: tuple[str, ...]
    state: ComponentState

    def to_json(self) -> dict[str, Any]:
        """The component as plain JSON types."""
        out = msgspec.structs.asdict(self)
        out["capabilities"] = list(self.capabilities)
        out["state"] = self.state.value
        return out


class TaskRow(msgspec.Struct):
    """One task of a job (``sugo jobs ID``); ``state`` is a `TaskState` value."""

    jobid: int
    index: int
    role: str
    technique: str
    state: str  # pending, running, completed, cancelled, error
    started_at: float | None = None
    ended_at: float | None = None
    points: int = 0
    error: str | None = None


class MaintenanceRow(msgspec.Struct, frozen=True):
    """One maintenance counter of a device (``sugo maintenance``)."""

    device: str
    label: str
    used: float
    since: float
    expired: bool


class EventRow(msgspec.Struct, frozen=True):
    """One entry of the event log (``sugo events``)."""

    id: int
    time: float
    kind: str
    subject: str
    data: dict[str, Any]


def columns_of(row_type: type[msgspec.Struct]) -> str:
    # Built from our own field names (never from input), quoted because "user"
    # is an SQL keyword.
    return ", ".join(f'"{name}"' for name in row_type.__struct_fields__)


JOB_COLS = columns_of(JobRow)
PIPELINE_COLS = columns_of(PipelineRow)
DRIVER_COLS = columns_of(DriverRow)
COMPONENT_COLS = columns_of(ComponentRow)
EVENT_COLS = columns_of(EventRow)
JOB_STATUS = {s.value: s for s in JobStatus}  # a dict lookup is ~10x cheaper than JobStatus(s)
COMPONENT_STATE = {s.value: s for s in ComponentState}
_decode_json = msgspec.json.Decoder().decode
UPDATABLE_JOB_FIELDS = frozenset(
    {"pipeline", "respath", "snappath", "runner_pid", "runner_started", "error"}
)


def json_value(text: str | bytes) -> Any:
    """``json.loads(text)``, ~8x faster on the small documents of our columns
    (a scheduling pass decodes a few hundred); what msgspec refuses and Python's
    json accepts (NaN, 1e400, lone surrogates) goes to json, so the result is
    the same."""
    try:
        return _decode_json(text)
    except msgspec.DecodeError:
        return json.loads(text)


def job_row(r: tuple[Any, ...]) -> JobRow:
    # fmt: off
    return JobRow(
        r[0], r[1], JOB_STATUS[r[2]], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
        r[10], r[11], r[12], r[13], r[14], r[15], r[16], r[17], bool(r[18]),
    )
    # fmt: on


def pipeline_row(r: tuple[Any, ...]) -> PipelineRow:
    return PipelineRow(r[0], json_value(r[1]), r[2], bool(r[3]), r[4])


def driver_row(r: tuple[Any, ...]) -> DriverRow:
    return DriverRow(r[0], r[1], r[2], DriverState(r[3]), r[4], json.loads(r[5]), r[6], r[7])


def component_row(r: tuple[Any, ...]) -> ComponentRow:
    caps = tuple(json_value(r[6]))
    return ComponentRow(
        r[0], r[1], r[2], r[3], r[4], r[5], caps, COMPONENT_STATE.get(r[7]) or ComponentState(r[7])
    )


def event_row(r: tuple[Any, ...]) -> EventRow:
    return EventRow(r[0], r[1], r[2], r[3], json.loads(r[4]))
