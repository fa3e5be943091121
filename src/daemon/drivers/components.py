"""`sugo component ...`: one ModelInterface verb forwarded to a driver host.

The call runs in the worker pool, so a slow or hung instrument never blocks
the daemon; its reply is passed back unchanged.
"""

import logging
from typing import TYPE_CHECKING, Any

import msgspec

from sugo.errors import SugoError
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.server import DEFERRED, Call, Deferred

if TYPE_CHECKING:
    from sugo.daemon.events import Events
    from sugo.daemon.runtime import Hosts, Runtime

log = logging.getLogger("sugo.daemon.drivers.components")

# Verbs a user may call; the ones that change a device are refused while a job
# uses it, unless forced.
ALLOWED = {
    "dev_status", "dev_get_attr", "dev_set_attr", "dev_reset", "capabilities", "attrs",
    "task_status", "task_start", "task_stop", "task_data", "task_validate",
    "dev_constants", "dev_last_data", "dev_measure",
}  # fmt: skip
CHANGES_DEVICE = {
    "dev_set_attr", "dev_reset", "task_start", "task_stop", "task_data", "dev_measure",
}  # fmt: skip
FORWARD_TIMEOUT = 10.0


class ComponentCommands:
    def __init__(self, rt: "Runtime", events: "Events", hosts: "Hosts") -> None:
        self.rt = rt
        self.events = events
        self.hosts = hosts

    def handlers(self) -> dict[type, Any]:
        return {api.ComponentCall: self.on_call}

    def on_call(self, req: api.ComponentCall, call: Call[Any]) -> Deferred:
        # (Call[Any]: the driver host's reply is forwarded as it is; its shape is the verb's.)
        comp = self.rt.store.get_component(req.name)
        if comp is None:
            known = ", ".join(c.name for c in self.rt.store.list_components()) or "none"
            raise SugoError(f"no component {req.name!r} (components: {known})")
        if req.verb not in ALLOWED:
            raise SugoError(f"unknown verb {req.verb!r} (verbs: {', '.join(sorted(ALLOWED))})")
        if req.verb in CHANGES_DEVICE and not req.force:
            for p in self.rt.store.list_pipelines():
                if p.jobid is not None and req.name in p.components.values():
                    raise SugoError(
                        f"component {req.name} is used by running job {p.jobid}"
                        f" on {p.name}; use --force to {req.verb} anyway"
                    )
        try:
            msg = msgspec.convert(
                {"cmd": req.verb, "address": comp.address, "channel": comp.channel, **req.args},
                host_api.ComponentRequest | _union(),
            )
        except msgspec.ValidationError as e:
            raise SugoError(f"bad arguments for {req.verb}: {e}") from None
        if req.verb in ("dev_set_attr", "dev_reset"):  # a user's change: in the event log
            self.events.emit(f"component.{req.verb[4:]}", req.name, args=dict(req.args))
        client = self.hosts.client_for(comp.driver, timeout=FORWARD_TIMEOUT)

        def work() -> None:
            try:
                with client as host:
                    reply, frames = host.request(msg)
                if reply.ok:
                    call.reply(reply.data, frames)
                else:
                    call.fail(f"{req.name}: {reply.error}")
            except SugoError as e:
                call.fail(f"{req.name}: {e}")

        self.rt.pool.submit(work)
        return DEFERRED


def _union() -> Any:
    union: Any = None
    for t in host_api.COMPONENT_VERBS.values():
        union = t if union is None else union | t
    return union
