"""DriverHost: serves the verbs of one driver's ModelInterface over a ServerLoop.

Each component gets its own single-thread worker, so verbs about one component
run in order while a slow or hung verb never delays another component. Only
the loop thread touches the socket; ``ping`` is answered on the loop itself,
so a host is alive exactly when its loop runs. The process around it (command
line, hello to the daemon) is `sugo.driverinterface.host`.
"""

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from sugo import __version__
from sugo.driverinterface.chunk_buffer import ChunkBuffer
from sugo.driverinterface.jsonable import jsonable
from sugo.errors import DriverError, SugoError
from sugo.protocol import host_api
from sugo.protocol.server import DEFERRED, Call, Result, ServerLoop
from sugo.protocol.wire import Request, to_builtins

log = logging.getLogger("sugo.host")

# Shutdown waits this long for the teardowns: less than the daemon's 2 s
# shutdown request timeout, so the reply still arrives in time.
TEARDOWN_TIMEOUT = 1.5

Key = tuple[str, str]
# Verbs that change state: a retried request with a seen id gets the first reply.
_NON_IDEMPOTENT = (
    host_api.TaskStart,
    host_api.TaskStop,
    host_api.DevReset,
    host_api.DevSetAttr,
    host_api.DevRegister,
    host_api.DevTeardown,
)


class DriverHost:
    """Serves the verbs of one ModelInterface over a ServerLoop."""

    def __init__(
        self, driver_name: str, bind: str, interface: Any = None, curve: Any = None
    ) -> None:
        self.driver_name = driver_name
        # Set before the loop runs; None only between binding and the daemon's hello reply.
        self.interface = interface
        # On an agent's PC (docs/network.md): CURVE, the allow-list guarding it before the bind.
        self._guard = _guard() if curve is not None else None
        self.loop = ServerLoop(f"driver {driver_name}", self._registry(), bind=bind, curve=curve)
        self._workers: dict[Key, ThreadPoolExecutor] = {}
        self._general = ThreadPoolExecutor(max_workers=4, thread_name_prefix="host-general")
        self._buffers: dict[Key, ChunkBuffer] = {}
        self._recent: OrderedDict[str, Any] = OrderedDict()
        self._plain_kinds: dict[tuple[type, type], bool] = {}  # see _plain_data_path
        self._busy: dict[Key, tuple[str, float]] = {}  # verb each worker runs, since when
        self._lock = threading.Lock()

    def _registry(self) -> dict[type[Request], Any]:
        reg: dict[type[Request], Any] = {
            host_api.HostPing: self._ping,
            host_api.HostHealth: self._health,
            host_api.HostStatus: self._general_verb,
            host_api.HostReset: self._general_verb,
            host_api.HostShutdown: self._shutdown,
        }
        for verb in host_api.COMPONENT_VERBS.values():
            reg[verb] = self._component_verb
        return reg

    # -- handlers (loop thread) ----------------------------------------------------

    def _ping(self, req: host_api.HostPing, call: Call) -> Any:
        return to_builtins(
            host_api.HostPingReply(
                driver=self.driver_name,
                pid=os.getpid(),
                version=__version__,
                components=len(self.interface.devmap) if self.interface else 0,
            )
        )

    def _shutdown(self, req: host_api.HostShutdown, call: Call) -> Any:
        def work() -> None:
            self.teardown_all()
            call.reply({"stopped": True})
            self.loop.stop()

        threading.Thread(target=work, name="host-shutdown", daemon=True).start()
        return DEFERRED

    def _general_verb(self, req: Request, call: Call) -> Any:
        def work() -> None:
            verb = "status" if isinstance(req, host_api.HostStatus) else "reset"
            self._answer(call, req, lambda: self._invoke(verb, {}))

        self._general.submit(work)
        return DEFERRED

    def _component_verb(self, req: host_api.ComponentRequest, call: Call) -> Any:
        if isinstance(req, host_api.TaskValidate):
            # A pure check of a payload against the component's declarations: it
            # must not wait behind a slow reset of the component the daemon
            # happened to pick for validating a submit.
            self._general.submit(self._answer, call, req, lambda: self._run_component_verb(req))
            return DEFERRED
        if isinstance(req, host_api.TaskData) and self._task_data_inline(call, req):
            return DEFERRED
        key = (req.address, req.channel)
        worker = self._worker(key)
        worker.submit(
            self._busy_with, key, call.cmd, self._answer, call, req,
            lambda: self._run_component_verb(req),
        )  # fmt: skip
        return DEFERRED

    def _busy_with(self, key: Key, verb: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the component's worker, noting what keeps it busy."""
        self._busy[key] = (verb, time.monotonic())
        try:
            return fn(*args)
        finally:
            self._busy.pop(key, None)

    def _worker(self, key: Key) -> ThreadPoolExecutor:
        """The component's own thread: its verbs run in order, apart from the others'."""
        with self._lock:
            worker = self._workers.get(key)
            if worker is None:
                worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"dev-{key}")
                self._workers[key] = worker
        return worker

    def _health(self, req: host_api.HostHealth, call: Call) -> Any:
        """Ping every component asked for on its own worker (a hung one only
        times out itself); one reply for all, within the timeout."""
        pings = [
            (address, channel, self._worker((address, channel)).submit(
                self._busy_with, (address, channel), "dev_ping",
                self._invoke, "dev_ping", {"address": address, "channel": channel},
            ))
            for address, channel in req.components
        ]  # fmt: skip

        def gather() -> None:
            wait([f for _, _, f in pings], timeout=req.timeout)
            out: list[host_api.ComponentHealth] = []
            for address, channel, f in pings:
                one = host_api.ComponentHealth(address, channel)
                if f.cancel():  # still queued behind another verb: not pinged at all
                    _, since = self._busy.get((address, channel), ("", time.monotonic()))
                    # Busy for a while (a slow reset) is not silent; for too long, it is.
                    one.busy = time.monotonic() - since < req.busy_limit
                    one.timed_out = not one.busy
                elif not f.done():
                    one.timed_out = True
                elif f.exception() is not None:
                    one.error = str(f.exception())
                else:
                    one.health = f.result().data
                out.append(one)
            call.reply(to_builtins(out))

        self._general.submit(gather)
        return DEFERRED

    def _task_data_inline(self, call: Call, req: host_api.TaskData) -> bool:
        """Answer ``task_data`` on the loop thread, if that cannot block: it is
        by far the most frequent request, and a hand-off to the component's
        worker thread costs more than the answer itself. Only when the driver
        overrides none of the methods it runs (they may talk to the
        instrument; `variable_units` may not, by contract) and nobody holds
        the component's ``datalock`` (a driver may hold it while it reads the
        instrument); else False: the worker answers."""
        dm = self.interface.devmap.get((req.address, req.channel))
        if dm is None or not self._plain_data_path(dm):
            return False
        if not dm.datalock.acquire(blocking=False):
            return False
        try:  # the lock is re-entrant: get_data takes it again
            self._answer(call, req, lambda: self._run_component_verb(req))
        finally:
            dm.datalock.release()
        return True

    def _plain_data_path(self, dm: Any) -> bool:
        kinds = (type(self.interface), type(dm))
        plain = self._plain_kinds.get(kinds)
        if plain is None:
            from sugo.driverinterface.device import DeviceManager
            from sugo.driverinterface.model import ModelInterface

            plain = (
                getattr(kinds[0], "before_verb", None) is ModelInterface.before_verb
                and getattr(kinds[0], "task_status", None) is ModelInterface.task_status
                and getattr(kinds[0], "task_data_columns", None) is ModelInterface.task_data_columns
                and all(
                    getattr(kinds[1], m, None) is getattr(DeviceManager, m)
                    for m in ("task_state", "get_data")
                )
                and hasattr(dm.datalock, "acquire")
            )
            self._plain_kinds[kinds] = plain
        return plain

    # -- worker threads ------------------------------------------------------------

    def _answer(self, call: Call, req: Request, fn: Callable[[], Result]) -> None:
        cached = self._recent.get(req.id) if req.id else None
        if cached is not None:
            log.info("%s: repeated request %s answered from cache", self.driver_name, req.id)
            result = cached
        else:
            try:
                result = fn()
            except SugoError as e:
                call.fail(str(e))
                return
            except Exception as e:
                log.exception("%s: %s failed", self.driver_name, call.cmd)
                call.fail(f"{self.driver_name}: {call.cmd} failed: {e}")
                return
            if isinstance(req, _NON_IDEMPOTENT) and req.id:
                with self._lock:
                    self._recent[req.id] = result
                    while len(self._recent) > 4096:
                        self._recent.popitem(last=False)
        if isinstance(result, Result):
            call.reply(result.data, result.frames)
        else:
            call.fail(str(result))

    def _invoke(self, verb: str, kwargs: dict[str, Any]) -> Result:
        """Call one ModelInterface verb; a failed Reply becomes an error reply."""
        reply = getattr(self.interface, verb)(**kwargs)
        if not reply.success:
            raise DriverError(reply.msg)
        return Result(data=jsonable(reply.data) if reply.data is not None else {"msg": reply.msg})

    def _run_component_verb(self, req: host_api.ComponentRequest) -> Result:
        comp = {"address": req.address, "channel": req.channel}
        name = f"{self.driver_name}:({req.address},{req.channel})"
        match req:
            case host_api.TaskData():
                return self._task_data(req, comp)
            case host_api.TaskStop():
                # The stop hands back the points not yet fetched: keep them in the
                # buffer, so the next task_data delivers them with a sequence number.
                reply = self.interface.task_stop_columns(
                    **comp, force=req.force, timeout=req.timeout
                )
                if not reply.success:
                    raise DriverError(reply.msg)
                self._buffer(req).take(0, reply.data)
                log.info("%s: task stopped", name)
                return Result(data={"msg": reply.msg})
            case host_api.DevRegister():
                result = self._invoke("dev_register", {**comp, **req.kwargs})
                log.info("%s: registered", name)
                return result
            case host_api.DevSetAttr():
                return self._invoke("dev_set_attr", {**comp, "attr": req.attr, "val": req.val})
            case host_api.DevGetAttr():
                return self._invoke("dev_get_attr", {**comp, "attr": req.attr})
            case host_api.DevMeasure():
                return self._invoke("dev_measure", {**comp, "technique": req.technique})
            case host_api.TaskStart() | host_api.TaskValidate():
                verb = str(type(req).__struct_config__.tag)
                args: dict[str, Any] = {**comp, "task": req.task}
                if isinstance(req, host_api.TaskStart) and req.grace is not None:
                    args["grace"] = req.grace
                result = self._invoke(verb, args)
                if isinstance(req, host_api.TaskStart):
                    log.info("%s: task started: %s", name, req.task.get("technique_name"))
                return result
            case host_api.DevReset() | host_api.DevTeardown():
                self._buffer(req).reset()
                verb = str(type(req).__struct_config__.tag)
                log.info("%s: %s", name, verb)
                return self._invoke(verb, comp)
            case _:
                return self._invoke(str(type(req).__struct_config__.tag), comp)

    def _buffer(self, req: host_api.ComponentRequest) -> ChunkBuffer:
        key = (req.address, req.channel)
        with self._lock:
            return self._buffers.setdefault(key, ChunkBuffer())

    def _task_data(self, req: host_api.TaskData, comp: dict[str, str]) -> Result:
        status = self.interface.task_status(**comp)
        if not status.success:
            raise DriverError(status.msg)
        # Read the running flag before taking the data: once it is False, this
        # reply holds everything the task produced.
        running = bool((status.data or {}).get("running", False))
        error = (status.data or {}).get("error")
        got = self.interface.task_data_columns(**comp)
        if not got.success:
            raise DriverError(got.msg)
        pending = self._buffer(req).take(req.ack, got.data)
        headers = [h for h, _ in pending]
        frames = [f for _, fs in pending for f in fs]
        data = host_api.TaskDataReply(chunks=headers, running=running, error=error)
        return Result(data=to_builtins(data), frames=frames)

    def teardown_all(self, timeout: float = TEARDOWN_TIMEOUT) -> None:
        """Tear every component down at once (each may reset slowly); wait at
        most ``timeout`` s, so a hung instrument cannot hold up a shutdown."""
        threads = [
            threading.Thread(
                target=self._teardown_one, args=key, name=f"teardown-{key}", daemon=True
            )
            for key in list(self.interface.devmap)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        left = sum(t.is_alive() for t in threads)
        if left:
            log.warning(
                "%s: %d component(s) still tearing down after %g s", self.driver_name, left, timeout
            )

    def _teardown_one(self, address: str, channel: str) -> None:
        try:
            reply = self.interface.dev_teardown(address=address, channel=channel)
            if not reply.success:
                log.warning("%s: %s", self.driver_name, reply.msg)
        except Exception:
            log.exception("%s: teardown of (%s,%s) failed", self.driver_name, address, channel)

    def close(self) -> None:
        for w in self._workers.values():
            w.shutdown(wait=False, cancel_futures=True)
        self._general.shutdown(wait=False, cancel_futures=True)
        self.loop.close()
        if self._guard is not None:
            self._guard.stop()


def _guard() -> Any:
    import zmq

    from sugo.protocol.curve import Guard
    from sugo.protocol.keys import process_allowed

    return Guard(zmq.Context.instance(), process_allowed)
