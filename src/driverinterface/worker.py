"""ComponentWorker: the thread that runs one component's tasks.

It takes tasks off the queue in order, samples each on an absolute schedule,
gives up a task stuck in the driver (the watchdog), and stops, drains and
ends on request. `DeviceManager` (sugo.driverinterface.device) is a
ComponentWorker plus the driver contract; drivers subclass DeviceManager.
"""

import math
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from sugo.driverinterface.health import HealthRecorder, StatusCode
from sugo.driverinterface.stop_flag import StopFlag
from sugo.driverinterface.task import Task

if TYPE_CHECKING:
    import logging


class ComponentWorker:
    """The task queue, worker thread and task bookkeeping of one component."""

    # Provided by DeviceManager (sugo.driverinterface.device), which sets them
    # before `_start_worker`.
    key: tuple[str, str]
    data: dict[str, list[Any]]
    datalock: threading.RLock
    health: HealthRecorder
    log: "logging.LoggerAdapter[logging.Logger]"
    stop_timeout: float
    task_grace: float

    if TYPE_CHECKING:

        @property
        def name(self) -> str: ...

        def do_task(
            self, task: Task, t_start: float, t_now: float, **kwargs: Any
        ) -> dict[str, Any] | None: ...

        def prepare_task(self, task: Task, **kwargs: Any) -> None: ...

    def _start_worker(self) -> None:
        """Set up the task bookkeeping and start the worker thread."""
        self.task_list: queue.Queue[Task | None] = queue.Queue()
        self.running = False
        # _state guards the bookkeeping below; waiters use it as a Condition.
        self._state = threading.Condition()
        self._stop = StopFlag()
        self._shutdown = threading.Event()
        self._submitted = 0  # tasks submitted so far: the seq of the newest one
        self._started = 0  # tasks taken off the queue (run or drained)
        self._finished = 0  # seq of the last task that ended
        self._stop_seq = 0  # seq of the task a stop_task() was aimed at
        self._seq = 0  # seq of the running task
        self._task: Task | None = None
        self._technique: str | None = None
        self._points = 0
        self._started_at: float | None = None
        self._error: str | None = None
        self._graces: dict[int, float | None] = {}  # watchdog grace of each queued task, by seq
        self._t0 = 0.0  # monotonic time the running task started
        self._deadline: float | None = None  # ...and when it is overdue (see task_grace)
        self._hung = 0  # seq of a task given up as hung whose call into the driver still runs
        self.thread = threading.Thread(
            target=self.task_runner, daemon=True, name=f"sugo-dm-{self.key[0]}-{self.key[1]}"
        )
        self.thread.start()

    # ----- queueing and running tasks ----------------------------------------------

    def submit(self, task: Task, grace: float | None = None) -> int:
        """Queue `task`; returns its sequence number on this component.
        ``grace`` overrides `task_grace` for this task. Raises ValueError while
        the component is hung (a task behind a stuck one would never start)."""
        with self._state:
            if self._hung:
                raise ValueError(
                    f"component {self.name} takes no task: {self.health.text or 'a task hangs'};"
                    " it does once the stuck call returns, or after `sugo component restart`"
                )
            self._submitted += 1
            self._graces[self._submitted] = grace
            self.running = True
            self.task_list.put(task)
            return self._submitted

    def run(self) -> None:
        """Start the worker thread (the seed interface's `run`). It is started
        when the component is created, so this only restarts one that ended."""
        if self.thread.is_alive() or self._shutdown.is_set():
            return
        self.thread = threading.Thread(target=self.task_runner, daemon=True, name=self.thread.name)
        self.thread.start()

    def _worker_loop(self) -> None:
        """Run queued tasks in order until teardown."""
        while not self._shutdown.is_set():
            try:
                task = self.task_list.get(timeout=1.0)
            except queue.Empty:
                continue
            try:
                if task is not None:  # None only wakes the loop for teardown
                    self.task_runner(task)
            finally:
                self.task_list.task_done()

    def task_runner(self, task: Task | None = None) -> None:
        """The target of `self.thread` (seed interface): without a task, the
        worker loop; with one, run that task (prepare, sample, record its end)."""
        if task is None:
            self._worker_loop()
            return
        with self._state:
            self._started += 1
            self._submitted = max(self._submitted, self._started)
            seq = self._seq = self._started
            if self._stop_seq == seq:
                self._stop.set()  # stopped while still queued
            else:
                self._stop.clear()
            self._task = task
            self._technique = task.technique_name
            self._points = 0
            self._error = None
            self._started_at = time.time()
            self.running = True
            grace = self._graces.pop(seq, None)
            grace = self.task_grace if grace is None else grace
            self._t0 = time.monotonic()
            self._deadline = self._t0 + task.n_points * task.sampling_interval + grace
        label = task.task_name or task.technique_name
        try:
            if not self._stop.is_set():
                self.log.info("task %r started", label)
                self.prepare_task(task)
                self._sample(task)
                self.log.info("task %r ended after %d points", label, self._points)
        except Exception as e:
            self._error = f"{type(e).__name__}: {e}"
            self.health.error(f"task {label!r}: {self._error}")
            self.log.exception("task %r failed after %d points", label, self._points)
        finally:
            with self._state:
                self._task = None
                self._deadline = None
                self._finished = max(self._finished, seq)
                self.running = self._started < self._submitted
                recovered = self._hung == seq
                if recovered:
                    self._hung = 0
                self._state.notify_all()
            if recovered:
                self.log.warning("task %r returned after all: the component answers again", label)
                if self.health.code == StatusCode.TASK_HUNG:
                    self.health.set(StatusCode.CONNECTED)

    def _sample(self, task: Task) -> None:
        # Kept lean: at Δ = 1 ms every microsecond per point counts.
        n = task.n_points
        dt = task.sampling_interval
        stop = self._stop
        mono = time.monotonic
        wall = time.time
        do_task = self.do_task
        t0 = mono()
        wall0 = wall()
        self._started_at = wall0
        for k in range(1, n + 1):
            target = t0 + k * dt
            while (remaining := target - mono()) > 0:
                if stop.wait(remaining):
                    return
            if stop.is_set():
                return
            t_now = wall()
            point = do_task(task, t_start=wall0, t_now=t_now)
            if self._hung:
                return  # the watchdog ended this task while do_task hung: too late for this point
            self._points = k
            if point is not None:
                self._append(point, t_now)

    def _append(self, point: dict[str, Any], t_now: float) -> None:
        with self.datalock:
            data = self.data
            uts = data.get("uts")
            if uts is None:
                uts = data["uts"] = []
            n = len(uts)
            for name, value in point.items():
                col = data.get(name)
                if col is None:
                    # a variable new in this point: earlier points lack it
                    col = data[name] = [math.nan] * n
                col.append(value)
            if "uts" not in point:
                uts.append(t_now)
            if len(data) != len(point) + ("uts" not in point):
                for col in data.values():
                    if len(col) == n:
                        col.append(math.nan)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no task is running or queued; False on timeout."""
        with self._state:
            return self._state.wait_for(lambda: not self.running, timeout)

    def wait_task(self, seq: int, timeout: float | None = None) -> bool:
        """Block until task number `seq` (from `submit`) has ended or was dropped."""
        with self._state:
            return self._state.wait_for(lambda: self._is_done(seq), timeout)

    def _is_done(self, seq: int) -> bool:
        return self._finished >= seq or (self._task is None and self._started >= seq)

    def task_state(self) -> dict[str, Any]:
        """Runtime state of this component; never calls into the instrument."""
        with self._state:
            self._watchdog()
            task = self._task
            return {
                "running": self.running,
                "task": None if task is None else (task.task_name or task.technique_name),
                "technique": None if task is None else task.technique_name,
                "points": self._points,
                "started_at": self._started_at,
                "error": self._error,
                "queued": self._submitted - self._started,
                "finished": self._finished,
                "hung": bool(self._hung),
            }

    # ----- the task watchdog -------------------------------------------------------

    def _is_hung(self) -> bool:
        """Whether a task is stuck in the driver (checking the watchdog first)."""
        with self._state:
            self._watchdog()
            return bool(self._hung)

    def _watchdog(self) -> None:
        """Give the running task up if it is overdue (see `task_grace`); called,
        with ``_state`` held, whenever someone asks how the component is."""
        task, deadline = self._task, self._deadline
        if task is None or deadline is None or self._hung or time.monotonic() < deadline:
            return
        self._mark_hung(
            self._seq,
            f"task {task.task_name or task.technique_name!r} still running"
            f" {time.monotonic() - self._t0:.1f} s after its start (max_duration"
            f" {task.max_duration:g} s): the driver or the instrument hangs",
        )

    def _mark_hung(self, seq: int, reason: str) -> None:
        """The task ``seq`` is stuck inside the driver (``_state`` held): report
        it ended with ``reason``, drop the queued tasks, refuse new ones and
        show 330 until the stuck call returns. Its thread cannot be killed; if
        it ever returns, it stops at once and takes no further point."""
        self._hung = seq
        self._error = reason
        self._stop_seq = seq
        self._stop.set()
        self._finished = max(self._finished, seq)
        self._drain()  # also: not running any more, to everyone who asks
        self.health.set(StatusCode.TASK_HUNG, reason)
        self.health.error(reason)
        self.log.error("%s; task ended, no task taken until the call returns", reason)

    # ----- stopping ----------------------------------------------------------------

    def stop_task(self, timeout: float | None = None, **kwargs: Any) -> bool | None:
        """Stop the current task (the running one, or else the next to start);
        later queued tasks still run. Without `timeout`, return None once asked
        (as the seed interface says); with it, wait that long for the task to
        end and return whether it did."""
        target = self._request_stop()
        if target is not None:
            self.log.info("stopping task %d", target)
        if timeout is None:
            return None
        return True if target is None else self.wait_task(target, timeout)

    def abort_task(self, timeout: float) -> bool:
        """Stop the current task whatever `stop_task` does (a driver may
        override that, or its instrument ignore it): the sampling loop is
        sugo's and ends at its next wait. True if the task ended within
        ``timeout``; if not, the worker is stuck inside the driver, and the
        component is marked hung (see `task_grace`)."""
        target = self._request_stop()
        if target is None:
            return True
        self.log.warning("forcing task %d to stop", target)
        if self.wait_task(target, timeout):
            return True
        with self._state:
            if self._task is not None and self._seq == target and not self._is_done(target):
                self._mark_hung(
                    target,
                    f"task still running {timeout:g} s after a forced stop:"
                    " the driver or the instrument hangs",
                )
        return False

    def _request_stop(self) -> int | None:
        """Aim a stop at the current task; returns its seq, None if there is none."""
        with self._state:
            if self._task is not None:
                target = self._seq
                self._stop.set()
            elif self._started < self._submitted:
                target = self._started + 1
            else:
                return None
            self._stop_seq = target
            return target

    def _clear_error(self) -> None:
        with self._state:
            self._error = None

    def teardown(self, timeout: float | None = None) -> bool:
        """Stop the worker thread; returns whether it ended within `timeout`
        (default `stop_timeout`)."""
        self._shutdown.set()
        self._drain()
        self._request_stop()  # not stop_task(): a driver may override that to refuse
        self.task_list.put(None)
        if timeout is None:
            timeout = 0.1 if self._hung else self.stop_timeout  # a hung call is not waited for
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.log.warning("worker thread did not end on teardown")
            return False
        return True

    def _drain(self) -> None:
        with self._state:
            while True:
                try:
                    task = self.task_list.get_nowait()
                except queue.Empty:
                    break
                self.task_list.task_done()
                if task is not None:
                    self._started += 1
                    self._graces.pop(self._started, None)
            # A hung task no longer counts as running (see _mark_hung).
            self.running = self._task is not None and self._hung != self._seq
            self._state.notify_all()
