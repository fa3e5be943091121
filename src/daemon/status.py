"""The daemon's answer to `sugo status`: pipelines, drivers, devices, components."""

import os
import time
from typing import TYPE_CHECKING

import msgspec

from sugo import __version__
from sugo.driverinterface.health import StatusCode, label
from sugo.protocol import daemon_api as api
from sugo.protocol.states import ComponentState, DriverState

if TYPE_CHECKING:
    from sugo.daemon.drivers.procs import DriverProc
    from sugo.daemon.runtime import Runtime
    from sugo.daemon.store.rows import ComponentRow, PipelineRow


def component_info(comp: "ComponentRow") -> api.ComponentInfo:
    """A component as `sugo status` and `sugo jobs ID` show it (health aside)."""
    return api.ComponentInfo(
        name=comp.name,
        driver=comp.driver,
        device=comp.device,
        address=comp.address,
        channel=comp.channel,
        capabilities=list(comp.capabilities),
        state=str(comp.state),
        pollrate=comp.pollrate,
    )


def status_info(
    d: "Runtime",
    procs: "dict[str, DriverProc]",
    overlay: dict[str, str],
    notices: list[str],
    web: str | None,
) -> api.StatusInfo:
    """``procs``: the driver hosts; ``overlay``: device -> maintenance due;
    ``notices``: what start-up repaired; ``web``: the web server's URL."""
    store = d.store
    drivers = []
    for row in store.list_drivers():
        dp = procs.get(row.name)
        drivers.append(
            api.DriverInfo(
                name=row.name,
                pid=row.pid,
                port=row.port,
                state=str(row.state),
                version=row.version or "",
                error=dp.error if dp else None,
                code=dp.code if dp else int(StatusCode.UNKNOWN),
                label=label(dp.code if dp else int(StatusCode.UNKNOWN)),
                source=dp.source if dp else "",
            )
        )
    health = store.all_health()
    components = []
    for c in store.list_components():
        h = health.get(c.name, {})
        code, text = int(h.get("code", StatusCode.UNKNOWN)), str(h.get("text", ""))
        due = overlay.get(c.device)
        if due and code < 200:  # a healthy component shows that maintenance is due
            code, text = int(StatusCode.MAINTENANCE_DUE), due
        if c.state == ComponentState.BUSY and code == StatusCode.CONNECTED:
            code = int(StatusCode.RUNNING)
        components.append(
            msgspec.structs.replace(
                component_info(c),
                code=code,
                label=label(code),
                text=text,
                error_count=int(h.get("error_count", 0)),
                errors=list(h.get("errors", [])),
                properties=dict(h.get("properties", {})),
            )
        )
    pipelines = [pipeline_info(p) for p in store.list_pipelines()]
    devices = [
        api.DeviceInfo(
            name=dev.name,
            driver=dev.driver,
            address=dev.address,
            channels=list(dev.channels),
            pollrate=dev.pollrate,
        )
        for dev in d.devices.devices
    ]
    # Ready = everything settled: a driver that cannot start counts as settled
    # (its error is shown), so `sugo start` can report it instead of waiting.
    settled = (DriverState.READY, DriverState.FAILED)
    # Components of an absent agent (4xx) do not hold the daemon up: it starts
    # without waiting for agents (docs/network.md).
    away = {n for n, h in health.items() if h.get("code") == StatusCode.AGENT_LOST}
    remote = {n for n, dp in procs.items() if dp.agent is not None}
    ready = all(r.state in settled or r.name in remote for r in store.list_drivers()) and all(
        c.state != ComponentState.REGISTERING or c.name in away for c in store.list_components()
    )
    notices = list(notices)
    if store.write_problem is not None:
        error, since = store.write_problem
        notices.append(
            f"the database {store.path} refuses writes since"
            f" {time.strftime('%H:%M:%S', time.localtime(since))} ({error}); changes are"
            " retried until recorded (free space or fix the file system)"
        )
    return api.StatusInfo(
        port=d.port,
        pid=os.getpid(),
        version=__version__,
        appdir=str(d.appdir),
        pipelines=pipelines,
        drivers=drivers,
        devices=devices,
        components=components,
        ready=ready and not d.stopping,
        notices=notices,
        web=web,
    )


def pipeline_info(p: "PipelineRow") -> api.PipelineInfo:
    """A pipeline row as the protocol's PipelineInfo."""
    return api.PipelineInfo(
        name=p.name, ready=p.ready, sample=p.sample, jobid=p.jobid, components=dict(p.components)
    )
