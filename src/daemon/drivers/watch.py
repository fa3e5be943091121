"""Watching driver hosts: a thread per host checks its process and pings it,
and reports a dead or hung host to the loop (``on_lost``); every few seconds
it asks the host for the health of all its components, and the loop stores
what changed (``ComponentHealth``: a changed code is a ``component.status``
event, which the scheduler reacts to)."""

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sugo.daemon.drivers.procs import DriverProc, HostTable
from sugo.driverinterface.health import label
from sugo.errors import RequestFailed, RequestTimeout
from sugo.protocol import host_api
from sugo.protocol.client import Client
from sugo.protocol.states import DriverState

if TYPE_CHECKING:
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Runtime

EMPTY_HEALTH: dict[str, Any] = {
    "code": 500, "label": "unknown", "severity": "unknown", "text": "", "errors": [],
    "error_count": 0, "properties": {},
}  # fmt: skip

PING_EVERY = 0.4  # seconds between liveness pings
PING_TIMEOUT = 0.5
MISSES_ALLOWED = 2  # a host missing this many pings in a row is hung (~1.3 s)
HEALTH_EVERY = 2.0  # seconds between dev_ping checks of every component
HEALTH_TIMEOUT = 2.0


class ComponentHealth:
    """Components' health records in the store (loop thread)."""

    def __init__(self, rt: "Runtime", events: "Events") -> None:
        self.rt = rt
        self.events = events

    def set_code(self, name: str, code: int, text: str = "") -> None:
        """Set a component's health from the daemon's side (4xx codes)."""
        old = self.rt.store.get_health(name) or {}
        new = {**EMPTY_HEALTH, **old, "code": int(code), "label": label(code), "text": text}
        self.store(name, old, new)

    def store(self, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        if new == old:
            return
        self.rt.store.set_health(name, new)
        if new.get("code") != old.get("code"):
            # (a job may wait for, or must avoid, this component: the scheduler reacts)
            self.events.emit(
                "component.status", name, code=new["code"], label=new.get("label"),
                text=new.get("text"), was=old.get("code"),
            )  # fmt: skip

    def replace(self, name: str, new: dict[str, Any]) -> None:
        self.store(name, self.rt.store.get_health(name) or {}, new)


def ping(ep: str | None, timeout: float = PING_TIMEOUT) -> bool:
    if not ep:
        return False
    try:
        with Client(ep, timeout=timeout) as client:
            client.call(host_api.HostPing())
        return True
    except (RequestTimeout, RequestFailed):
        return False


class HostWatch:
    def __init__(
        self,
        rt: "Runtime",
        table: HostTable,
        health: ComponentHealth,
        on_lost: Callable[[DriverProc, int, str], None],
    ) -> None:
        self.rt = rt
        self.table = table
        self.health = health
        self.on_lost = on_lost  # (loop thread) the host of this generation is dead or hung

    def watch(self, dp: DriverProc) -> None:
        dp.stop_watch.set()
        dp.stop_watch = stop = threading.Event()
        gen, proc = dp.generation, dp.proc
        loop = self.rt.loop

        def watch() -> None:
            misses = 0
            next_health = time.monotonic() + HEALTH_EVERY
            while not stop.wait(PING_EVERY):
                if proc is None or not proc.alive():
                    loop.post(lambda: self.on_lost(dp, gen, "host process exited"))
                    return
                ep = dp.endpoint
                if ep is None:
                    continue  # not said hello yet; the PID check covers a crash
                if ping(ep):
                    misses = 0
                    if (
                        time.monotonic() >= next_health
                        and dp.state == DriverState.READY
                        and not dp.health_busy.is_set()
                    ):
                        dp.health_busy.set()
                        next_health = time.monotonic() + HEALTH_EVERY
                        # Its own thread: a hung component must not delay liveness pings.
                        self.check_in_thread(dp, gen, ep)
                    continue
                misses += 1
                if misses >= MISSES_ALLOWED:
                    loop.post(lambda: self.on_lost(dp, gen, "host not answering pings"))
                    return

        threading.Thread(target=watch, name=f"watch-{dp.name}", daemon=True).start()

    def check_in_thread(self, dp: DriverProc, gen: int, ep: str) -> None:
        """Check the health of the host's components in a thread of its own
        (``dp.health_busy`` is set by the caller, cleared when done)."""
        threading.Thread(
            target=self._check_health, args=(dp, gen, ep), daemon=True, name=f"health-{dp.name}"
        ).start()

    def _check_health(self, dp: DriverProc, gen: int, ep: str) -> None:
        """Ping every component (own thread); the loop stores what changed."""
        try:
            self._check_health_once(dp, gen, ep)
        finally:
            dp.health_busy.clear()

    def _check_health_once(self, dp: DriverProc, gen: int, ep: str) -> None:
        specs = self.table.components_of(dp.name)
        if not specs:
            return
        silent = {**EMPTY_HEALTH, "code": 310, "label": label(310),
                  "text": f"no answer to ping within {HEALTH_TIMEOUT:g} s"}  # fmt: skip
        # One request for all the host's components: the host pings each on its
        # own worker, so a hung one only times out itself.
        req = host_api.HostHealth(
            components=[(s.address, s.channel) for s in specs],
            timeout=HEALTH_TIMEOUT,
            busy_limit=self.rt.settings.driver_timeouts(dp.name).verb_timeout,
        )
        try:
            with Client(ep, timeout=HEALTH_TIMEOUT + 1.0) as client:
                answers = client.call(req, list[host_api.ComponentHealth])
        except (RequestTimeout, RequestFailed):
            answers = [
                host_api.ComponentHealth(s.address, s.channel, timed_out=True) for s in specs
            ]
        results: list[tuple[str, dict[str, Any]]] = []
        for spec, one in zip(specs, answers, strict=False):
            if one.busy:
                continue  # in a slow verb (a reset): its health is what it was
            if one.health is not None:
                h = one.health
            elif one.error is not None:
                h = {**EMPTY_HEALTH, "code": 320, "label": label(320), "text": one.error}
            else:
                h = silent
            results.append((spec.name, h))

        def store() -> None:
            if gen != dp.generation or self.table.stopping:
                return
            for name, health in results:
                self.health.replace(name, health)

        self.rt.loop.post(store)
