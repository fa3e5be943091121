"""Maintenance reminders (as in Klipper's maintenance extra).

The devices file gives a device items with a trigger (`task_hours` spent
running tasks, `jobs` run, calendar `days`) and a threshold. Counters live in
the store, so they survive restarts. An item that expires raises a 2xx status
on the device's components and an event; a blocking one keeps new jobs off the
device until `sugo maintenance done DEVICE LABEL`.
"""

import logging
import time
from typing import TYPE_CHECKING, Any

from sugo.daemon.bus import Event
from sugo.daemon.store import JobRow, PipelineRow
from sugo.daemon.store.registry import MaintenanceRow
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol.server import Call

if TYPE_CHECKING:
    from sugo.config.devices import MaintenanceItem
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Runtime

log = logging.getLogger("sugo.daemon.maintenance")

DAY = 86400.0
CHECK_DAYS_EVERY = 600.0  # seconds between checks of calendar-day items


class Maintenance:
    """Counts the jobs that end (``job.ended`` on the bus) on each device."""

    def __init__(self, rt: "Runtime", events: "Events") -> None:
        self.rt = rt
        self.events = events
        events.bus.subscribe("job.ended", self._job_ended)

    def handlers(self) -> dict[type, Any]:
        return {api.MaintenanceStatus: self.on_status, api.MaintenanceDone: self.on_done}

    def configured(self) -> list[tuple[str, "MaintenanceItem"]]:
        return [(dev.name, item) for dev in self.rt.devices.devices for item in dev.maintenance]

    def start(self) -> None:
        """Start counting configured items; check calendar items periodically."""
        for device, item in self.configured():
            self.rt.store.ensure_maintenance(device, item.label)
        self.check()

        def tick() -> None:
            self.check()
            self.rt.loop.call_later(CHECK_DAYS_EVERY, tick)

        self.rt.loop.call_later(CHECK_DAYS_EVERY, tick)

    def _rows(self) -> dict[tuple[str, str], MaintenanceRow]:
        return {(r.device, r.label): r for r in self.rt.store.maintenance_items()}

    @staticmethod
    def used(item: "MaintenanceItem", row: MaintenanceRow, now: float) -> float:
        return (now - row.since) / DAY if item.trigger == "days" else row.used

    def check(self) -> None:
        """Mark items that reached their threshold as due (once each)."""
        rows, now = self._rows(), time.time()
        for device, item in self.configured():
            row = rows.get((device, item.label))
            if row is None or row.expired or self.used(item, row, now) < item.threshold:
                continue
            self.rt.store.set_maintenance_expired(device, item.label, True)
            log.warning("device %s: maintenance %r is due: %s", device, item.label, item.message)
            self.events.emit(
                "maintenance.due", device, label=item.label, message=item.message,
                blocking=item.blocking,
            )  # fmt: skip

    def _job_ended(self, event: Event) -> None:
        job = event.about
        if isinstance(job, JobRow) and job.started_at is not None:
            self.record_job(job)

    def record_job(self, job: JobRow) -> None:
        """Count a job that ran (and the hours its tasks ran) on its devices."""
        p = self.rt.store.get_pipeline(job.pipeline) if job.pipeline else None
        if p is None:
            return
        devices_by_role = {}
        for role, name in p.components.items():
            comp = self.rt.store.get_component(name)
            if comp is not None:
                devices_by_role[role] = comp.device
        hours: dict[str, float] = dict.fromkeys(devices_by_role.values(), 0.0)
        for t in self.rt.store.tasks_of(job.id):
            device = devices_by_role.get(t.role)
            if device is not None and t.started_at and t.ended_at:
                hours[device] += (t.ended_at - t.started_at) / 3600.0
        configured = self.configured()
        for device, spent in hours.items():
            for dev, item in configured:
                if dev != device:
                    continue
                if item.trigger == "jobs":
                    self.rt.store.add_maintenance_use(device, item.label, 1.0)
                elif item.trigger == "task_hours":
                    self.rt.store.add_maintenance_use(device, item.label, spent)
        self.check()

    def due(self) -> list[tuple[str, "MaintenanceItem"]]:
        configured = self.configured()
        if not configured:  # (asked for each free pipeline a job could take)
            return []
        rows = self._rows()
        return [
            (device, item)
            for device, item in configured
            if (r := rows.get((device, item.label))) is not None and r.expired
        ]

    def overlay(self) -> dict[str, str]:
        """Device → a status text, for devices with maintenance due."""
        out: dict[str, str] = {}
        for device, item in self.due():
            text = f"maintenance due: {item.label}" + (f" ({item.message})" if item.message else "")
            out[device] = f"{out[device]}; {text}" if device in out else text
        return out

    def blocking_reason(self, p: PipelineRow) -> str | None:
        """Why no job may start on ``p`` now, or None."""
        blocked = {device: item for device, item in self.due() if item.blocking}
        if not blocked:
            return None
        for name in p.components.values():
            comp = self.rt.store.get_component(name)
            if comp is not None and comp.device in blocked:
                item = blocked[comp.device]
                return (
                    f"maintenance {item.label!r} due on device {comp.device}"
                    f" (sugo maintenance done {comp.device} {item.label})"
                )
        return None

    # -- handlers -------------------------------------------------------------------

    def on_status(
        self, req: api.MaintenanceStatus, call: Call[api.MaintenanceReply]
    ) -> api.MaintenanceReply:
        rows, now, out = self._rows(), time.time(), []
        for device, item in self.configured():
            row = rows.get((device, item.label))
            if row is None:
                continue
            used = self.used(item, row, now)
            out.append(
                api.MaintenanceItemInfo(
                    device=device, label=item.label, trigger=item.trigger,
                    threshold=item.threshold, used=round(used, 6),
                    remaining=round(max(0.0, item.threshold - used), 6),
                    due=row.expired, blocking=item.blocking, message=item.message,
                    since=row.since,
                )
            )  # fmt: skip
        return api.MaintenanceReply(items=out)

    def on_done(
        self, req: api.MaintenanceDone, call: Call[api.MaintenanceDoneReply]
    ) -> api.MaintenanceDoneReply:
        if not any(d == req.device and i.label == req.label for d, i in self.configured()):
            known = ", ".join(f"{d} {i.label}" for d, i in self.configured()) or "none"
            raise SugoError(f"no maintenance item {req.label!r} on device {req.device!r}"
                            f" (items: {known})")  # fmt: skip
        self.rt.store.reset_maintenance(req.device, req.label)
        self.events.emit("maintenance.done", req.device, label=req.label)
        log.info("device %s: maintenance %r done", req.device, req.label)
        return api.MaintenanceDoneReply(device=req.device, label=req.label)
