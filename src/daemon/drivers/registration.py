"""Registering a driver host's components: after its hello (or a restart of
one component), each component is registered, asked its capabilities and
pinged, in the worker pool; the loop stores the outcome. Its events
(``component.registered``, ``component.failed``, and ``driver.ready`` on the
bus once a host has registered them all) wake the scheduler."""

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sugo.daemon.bus import DRIVER_READY
from sugo.daemon.drivers.procs import DriverProc, HostTable
from sugo.daemon.drivers.watch import ComponentHealth
from sugo.driverinterface.health import StatusCode
from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.client import Client
from sugo.protocol.server import DEFERRED, Call, Deferred
from sugo.protocol.states import ComponentState, DriverState

if TYPE_CHECKING:
    from sugo.config.devices import ComponentSpec
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Runtime

log = logging.getLogger("sugo.daemon.drivers")

REGISTER_TIMEOUT = 10.0

# (component name, capabilities or None, error or None, health record or None)
Registration = tuple[str, list[str] | None, str | None, dict[str, Any] | None]


class Registrar:
    def __init__(
        self,
        rt: "Runtime",
        events: "Events",
        table: HostTable,
        health: ComponentHealth,
        in_use: Callable[[str], bool],
    ) -> None:
        self.rt = rt
        self.events = events
        self.table = table
        self.health = health
        self.in_use = in_use  # is this component used by a running job?

    def register(self, dp: DriverProc) -> None:
        if dp.failed:
            return
        store = self.rt.store
        ep, gen = dp.endpoint, dp.generation
        specs = self.table.components_of(dp.name)
        for spec in specs:
            old = store.get_component(spec.name)
            store.upsert_component(
                spec.name,
                driver=spec.driver,
                device=spec.device,
                address=spec.address,
                channel=spec.channel,
                pollrate=spec.pollrate,
                capabilities=old.capabilities if old else (),
                state=ComponentState.REGISTERING,
            )
        loop = self.rt.loop

        def work() -> None:
            with Client(ep or "", timeout=REGISTER_TIMEOUT) as client:
                results = [register_one(client, spec) for spec in specs]
            loop.post(lambda: self.registered(dp, gen, results))

        self.rt.pool.submit(work)

    def reregister(self, name: str) -> None:
        """Register the driver's components again (after a reload added some)."""
        dp = self.table.procs.get(name)
        if dp is not None and dp.endpoint:
            self.register(dp)

    def registered(
        self, dp: DriverProc, gen: int, results: list[Registration], restart: bool = False
    ) -> None:
        if gen != dp.generation or self.table.stopping or dp.failed:
            return
        store = self.rt.store
        failed = 0
        for name, caps, error, health in results:
            row = store.get_component(name)
            if row is None:
                continue
            if row.state != ComponentState.REGISTERING:
                # Two registrations overlapped (a restart during a reload) and the
                # other ended first: this one is the newer answer, and a result
                # only ever lands on a component that is registering.
                store.set_component_state(name, ComponentState.REGISTERING)
            if caps is None:
                failed += 1
                log.error("component %s: registration failed: %s", name, error)
                store.upsert_component(
                    name, driver=row.driver, device=row.device, address=row.address,
                    channel=row.channel, pollrate=row.pollrate, state=ComponentState.FAILED,
                )  # fmt: skip
                self.events.emit("component.failed", name, error=error)
                self.health.set_code(name, StatusCode.REGISTER_FAILED, error or "")
                continue
            busy = self.in_use(name)
            store.upsert_component(
                name, driver=row.driver, device=row.device, address=row.address,
                channel=row.channel, pollrate=row.pollrate, capabilities=caps,
                state=ComponentState.BUSY if busy else ComponentState.IDLE,
            )  # fmt: skip
            self.events.emit("component.registered", name, capabilities=caps)
            self.health.replace(name, health or {})
        if restart:
            return
        dp.error = f"{failed} component(s) failed to register" if failed else None
        if dp.ready_since is None:
            dp.ready_since = time.monotonic()
        self.table.set_state(dp, DriverState.READY)
        log.info("driver %s: ready (%d components, %d failed)", dp.name, len(results), failed)
        self.events.bus.publish(DRIVER_READY, f"driver {dp.name}", driver=dp.name)

    def on_component_restart(
        self, req: api.ComponentRestart, call: Call[api.ComponentRestartReply]
    ) -> Deferred:
        store = self.rt.store
        comp = store.get_component(req.name)
        if comp is None:
            raise SugoError(f"no component {req.name!r}")
        if self.in_use(req.name):
            raise SugoError(f"component {req.name} is used by a running job; cancel it first")
        dp = self.table.procs.get(comp.driver)
        if dp is None or dp.endpoint is None or dp.failed:
            raise SugoError(f"driver {comp.driver} is not running")
        store.set_component_state(req.name, ComponentState.REGISTERING)
        spec = next(c for c in self.table.components_of(comp.driver) if c.name == req.name)
        ep, gen = dp.endpoint, dp.generation
        # The teardown resets the instrument first: wait as long as its driver allows.
        wait = max(REGISTER_TIMEOUT, self.rt.settings.driver_timeouts(comp.driver).verb_timeout)
        loop = self.rt.loop

        def work() -> None:
            with Client(ep, timeout=wait) as client:
                try:
                    client.call(host_api.DevTeardown(address=spec.address, channel=spec.channel))
                except SugoError as e:
                    log.warning("component %s: teardown before restart failed: %s", spec.name, e)
                result = register_one(client, spec)
            loop.post(lambda: self.registered(dp, gen, [result], restart=True))
            if result[1] is None:
                call.fail(f"component {spec.name}: restart failed: {result[2]}")
            else:
                call.reply(api.ComponentRestartReply(name=spec.name, capabilities=result[1]))

        self.rt.pool.submit(work)
        self.events.emit("component.restarting", req.name)
        return DEFERRED


def register_one(client: Client, spec: "ComponentSpec") -> Registration:
    try:
        client.call(host_api.DevRegister(address=spec.address, channel=spec.channel))
        caps = client.call(host_api.Capabilities(address=spec.address, channel=spec.channel))
        health = client.call(host_api.DevPing(address=spec.address, channel=spec.channel))
        return (spec.name, sorted(caps or []), None, health)
    except SugoError as e:
        return (spec.name, None, str(e), None)
