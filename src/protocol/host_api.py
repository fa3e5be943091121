"""Requests served by a driver host: the ModelInterface verbs over the wire.

Every component verb names its component by ``address`` and ``channel``.
Replies carry plain JSON data; ``task_data`` carries its arrays as binary
frames described by ``ChunkHeader`` (see ``sugo.protocol.arrays``).
"""

from typing import Annotated, Any

import msgspec

from sugo.protocol.wire import Request


class HostPing(Request, tag="ping"):
    """Liveness check; answered by the host's loop thread, never by a driver."""


class HostStatus(Request, tag="status"):
    """All components of the driver."""


class HostReset(Request, tag="reset"):
    """Reset every component."""


class HostShutdown(Request, tag="shutdown"):
    """Tear down every component and exit."""


class ComponentRequest(Request, kw_only=True):
    address: str
    channel: str


class DevRegister(ComponentRequest, tag="dev_register"):
    kwargs: dict[str, Any] = {}


class DevTeardown(ComponentRequest, tag="dev_teardown"):
    pass


class DevReset(ComponentRequest, tag="dev_reset"):
    pass


class DevStatus(ComponentRequest, tag="dev_status"):
    pass


class DevGetAttr(ComponentRequest, tag="dev_get_attr"):
    attr: str


class DevSetAttr(ComponentRequest, tag="dev_set_attr"):
    attr: str
    val: Any


class DevPing(ComponentRequest, tag="dev_ping"):
    """Check the instrument without a task; the reply is its health record."""


class DevConstants(ComponentRequest, tag="dev_constants"):
    """The driver's and the component's constants (tomato 2.1 `cmp_constants`)."""


class DevLastData(ComponentRequest, tag="dev_last_data"):
    """The last point the component took, also between tasks: columns and units."""


class DevMeasure(ComponentRequest, tag="dev_measure"):
    """One measurement now, outside any task (tomato 2.1 `cmp_measure`); the
    reply is the point. ``technique``: which one, for drivers without a
    measurement of their own (default: the first of their capabilities)."""

    technique: str | None = None


class Capabilities(ComponentRequest, tag="capabilities"):
    pass


class Attrs(ComponentRequest, tag="attrs"):
    pass


class TaskStart(ComponentRequest, tag="task_start"):
    task: dict[str, Any]
    # Seconds the task may run past its max_duration before the host's watchdog
    # ends it (None: the driver's own `DeviceManager.task_grace`).
    grace: float | None = None


class TaskValidate(ComponentRequest, tag="task_validate"):
    task: dict[str, Any]


class TaskStatus(ComponentRequest, tag="task_status"):
    pass


class TaskStop(ComponentRequest, tag="task_stop"):
    # force: stop the sampling loop whatever the driver's stop_task does (a
    # cancel's escalation); a task that still does not end marks the component hung.
    force: bool = False
    # How long the host waits for the task to end before it replies (a forced
    # stop: before it marks the component hung); None: the driver's own
    # `DeviceManager.stop_timeout`. A job runner sends its own escalation's.
    timeout: Annotated[float, msgspec.Meta(ge=0, le=3600)] | None = None


class TaskData(ComponentRequest, tag="task_data"):
    """Fetch cached data. Chunks up to ``ack`` are acknowledged (stored by the
    caller) and dropped; every newer chunk is sent again until acknowledged."""

    ack: int = 0


class HostHealth(Request, tag="health"):
    """`dev_ping` on each of ``components`` ([address, channel] pairs), all at
    once, each on its component's worker; answered within ``timeout`` s with one
    `ComponentHealth` per component, in order."""

    components: list[tuple[str, str]]
    timeout: float = 2.0
    # A component whose worker has been in another verb for less than this is
    # reported busy, not silent (the driver's verb_timeout).
    busy_limit: float = 60.0


class ComponentHealth(msgspec.Struct):
    address: str
    channel: str
    health: dict[str, Any] | None = None  # the health record, when it answered
    error: str | None = None  # the driver's error, when it failed
    timed_out: bool = False  # no answer within the timeout
    # The ping never started: the component's worker was busy with another verb
    # (a slow reset) the whole time. Busy is not "not answering".
    busy: bool = False


HOST_REQUESTS: list[type[Request]] = [
    HostPing,
    HostHealth,
    HostStatus,
    HostReset,
    HostShutdown,
    DevRegister,
    DevTeardown,
    DevReset,
    DevStatus,
    DevGetAttr,
    DevSetAttr,
    DevPing,
    DevConstants,
    DevLastData,
    DevMeasure,
    Capabilities,
    Attrs,
    TaskStart,
    TaskValidate,
    TaskStatus,
    TaskStop,
    TaskData,
]

COMPONENT_VERBS = {
    str(t.__struct_config__.tag): t for t in HOST_REQUESTS if issubclass(t, ComponentRequest)
}


class VarInfo(msgspec.Struct):
    name: str
    dtype: str
    shape: list[int]
    units: str | None = None
    # Names of the array dimensions after the points' one, when the driver
    # declares them (`DeviceManager.variable_dims`); None: the default names.
    dims: list[str] | None = None


class ChunkHeader(msgspec.Struct):
    """One chunk of task data; its variables follow as one binary frame each,
    then its coordinates (1-D values of a declared dimension, one per point
    set rather than per point) as one frame each."""

    seq: int
    points: int
    variables: list[VarInfo]
    coords: list[VarInfo] = msgspec.field(default_factory=list)


class TaskDataReply(msgspec.Struct):
    chunks: list[ChunkHeader]
    running: bool
    error: str | None = None


class HostPingReply(msgspec.Struct):
    driver: str
    pid: int
    version: str
    components: int
