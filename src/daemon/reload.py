"""Applying a (new) settings and devices configuration to the running daemon.

``check`` refuses any change that would touch a running job: its pipeline,
one of its components (address, channel, device, driver) or its driver's
settings. ``check_drivers`` refuses a driver that would not start: not
installed, or refusing its settings (asked of a separate process, as a driver
host would decide, before anything changes). ``apply`` then starts new
drivers, stops removed ones, restarts drivers whose settings changed, and
syncs components and pipelines; ``daemon.reloaded`` on the bus then wakes
the scheduler.
"""

import json
import logging
import subprocess
import sys
from typing import TYPE_CHECKING

from sugo.daemon.bus import RELOADED
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api

if TYPE_CHECKING:
    from sugo.config.devices import DevicesConfig
    from sugo.config.settings import Settings
    from sugo.daemon.drivers import DriverManager
    from sugo.daemon.events import Events
    from sugo.daemon.maintenance import Maintenance
    from sugo.daemon.runtime import Runtime

log = logging.getLogger("sugo.daemon.reload")

PRECHECK_MODULE = "sugo.driverinterface.precheck"
PRECHECK_TIMEOUT = 20.0  # importing a driver; the CLI waits 30 s for the reload's reply


def check(d: "Runtime", settings: "Settings", devices: "DevicesConfig") -> None:
    """Raise SugoError naming the job and the reason if the change hits a running job."""
    if settings.jobs.dbpath != d.settings.jobs.dbpath:
        raise SugoError("reload cannot move the database (jobs.dbpath); restart the daemon")
    if settings.daemon.bind != d.settings.daemon.bind:
        # Its socket stays where it is: hosts and runners started later would miss it.
        raise SugoError("reload cannot change [daemon] bind; restart the daemon")
    new_pipelines = {p.name: p for p in devices.pipelines()}
    old_pipelines = {p.name: p for p in d.devices.pipelines()}
    for p in d.store.list_pipelines():
        if p.jobid is None:
            continue
        old = old_pipelines.get(p.name)
        new = new_pipelines.get(p.name)
        where = f"job {p.jobid} runs on pipeline {p.name}"
        if new is None:
            raise SugoError(f"reload refused: it deletes pipeline {p.name}, but {where}")
        if old is not None and old != new:
            raise SugoError(f"reload refused: it changes pipeline {p.name}, but {where}")
        for comp in new.components.values():
            if d.settings.driver_settings(comp.driver) != settings.driver_settings(comp.driver):
                raise SugoError(
                    f"reload refused: it changes the settings of driver {comp.driver}, but {where}"
                )
            old_devices = {dev.name: dev for dev in d.devices.devices}
            new_devices = {dev.name: dev for dev in devices.devices}
            if old_devices.get(comp.device) != new_devices.get(comp.device):
                raise SugoError(f"reload refused: it changes device {comp.device}, but {where}")


def changed_drivers(
    d: "Runtime", settings: "Settings", devices: "DevicesConfig"
) -> tuple[list[str], list[str], list[str]]:
    """The drivers a reload adds, removes, and restarts (their settings changed)."""
    old_drivers = set(d.devices.drivers())
    new_drivers = set(devices.drivers())
    restarted = sorted(
        n
        for n in old_drivers & new_drivers
        if d.settings.driver_settings(n) != settings.driver_settings(n)
    )
    return sorted(new_drivers - old_drivers), sorted(old_drivers - new_drivers), restarted


def check_drivers(d: "Runtime", settings: "Settings", devices: "DevicesConfig") -> None:
    """Raise SugoError naming the driver and the problem if a driver the
    reload (re)starts would not start. Blocks (a process): not on the loop."""
    added, _, restarted = changed_drivers(d, settings, devices)
    wanted = {name: settings.driver_settings(name) for name in added + restarted}
    if not wanted:
        return
    try:
        done = subprocess.run(
            [sys.executable, "-m", PRECHECK_MODULE],
            input=json.dumps(wanted),
            capture_output=True,
            text=True,
            timeout=PRECHECK_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        names = ", ".join(wanted)
        raise SugoError(
            f"reload refused: checking driver(s) {names} took over {PRECHECK_TIMEOUT:g} s"
        ) from None
    except OSError as e:
        raise SugoError(f"reload refused: cannot check the drivers: {e}") from None
    try:
        problems: dict[str, str | None] = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise SugoError(f"reload refused: checking the drivers failed: {last}") from None
    refused = [text for name in wanted if (text := problems.get(name))]
    if refused:
        raise SugoError("reload refused, nothing changed: " + "; ".join(refused))


def sync_store(d: "Runtime", events: "Events", devices: "DevicesConfig") -> None:
    """Make the store's pipelines match ``devices`` (state of kept ones is kept)."""
    wanted = {p.name: p for p in devices.pipelines()}
    for row in d.store.list_pipelines():
        if row.name not in wanted and row.jobid is None:
            # (also one a rebuild restored from the record of a lost database)
            log.info("pipeline %s removed: not in the devices file", row.name)
            d.store.delete_pipeline(row.name)
            events.emit("pipeline.removed", row.name)
    for name, spec in wanted.items():
        existed = d.store.get_pipeline(name) is not None
        d.store.upsert_pipeline(name, {role: c.name for role, c in spec.components.items()})
        if not existed:
            events.emit("pipeline.added", name)


def apply(
    d: "Runtime",
    events: "Events",
    drivers: "DriverManager",
    maintenance: "Maintenance",
    settings: "Settings",
    devices: "DevicesConfig",
) -> api.ReloadReply:
    old_devices = d.devices
    new_drivers = set(devices.drivers())
    added, removed, restarted = changed_drivers(d, settings, devices)
    old_comps = {c.name: c for c in old_devices.components()}
    new_comps = {c.name: c for c in devices.components()}
    gone = [c for name, c in old_comps.items() if name not in new_comps]
    d.settings, d.devices = settings, devices

    if removed or restarted:
        drivers.stop(removed + restarted)
    for name in removed:
        d.store.delete_driver(name)  # its components go with it
        events.emit("driver.removed", f"driver {name}")
    for comp in gone:
        if comp.driver in new_drivers and comp.driver not in restarted:
            _teardown(drivers, comp.driver, comp.address, comp.channel)
        d.store.delete_component(comp.name)
        events.emit("component.removed", comp.name)
    sync_store(d, events, devices)
    maintenance.start()
    for name in added + restarted:
        drivers.start(name)
    # Kept drivers: register whatever components are new (registering is idempotent).
    changed = {
        c.driver
        for name, c in new_comps.items()
        if old_comps.get(name) != c and c.driver not in added + restarted
    }
    for name in sorted(changed):
        drivers.reregister(name)
    events.bus.publish(RELOADED)
    summary = api.ReloadReply(
        drivers_added=added,
        drivers_removed=removed,
        drivers_restarted=restarted,
        components_removed=sorted(c.name for c in gone),
        pipelines=sorted(p.name for p in devices.pipelines()),
    )
    log.info("reload applied: %s", summary)
    return summary


def _teardown(drivers: "DriverManager", driver: str, address: str, channel: str) -> None:
    try:
        with drivers.client_for(driver, timeout=2.0) as client:
            client.call(host_api.DevTeardown(address=address, channel=channel))
    except SugoError as e:
        log.warning("teardown of %s:(%s,%s) failed: %s", driver, address, channel, e)
