"""StopFlag: the event a component's sampling loop waits on between points."""

import threading


class StopFlag:
    """A threading.Event for the sampling loop: ``wait`` is one lock acquire
    with a timeout (Event.wait builds a Condition waiter every call, a fifth
    of the CPU of a point at 10 Hz on 64 components). The gate lock is held
    while the flag is clear and released while it is set."""

    def __init__(self) -> None:
        self._flag = False
        self._gate = threading.Lock()
        self._gate.acquire()
        self._mutex = threading.Lock()

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        with self._mutex:
            if not self._flag:
                self._flag = True
                self._gate.release()

    def clear(self) -> None:
        with self._mutex:
            if self._flag:
                self._flag = False
                self._gate.acquire()  # a waiter holds it only for an instant

    def wait(self, timeout: float | None = None) -> bool:
        """Until set or ``timeout`` s passed; True if set."""
        if self._flag:
            return True
        if self._gate.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            self._gate.release()  # open for the other waiters
            return True
        return self._flag
