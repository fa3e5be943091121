"""The health a driver keeps about each of its components.

The codes, their labels and the `Health` record live in the protocol layer
(`sugo.protocol.health`), where every process reads them; they are
re-exported here, because drivers import only the driver interface.
`HealthRecorder` is the mutable, thread-safe side a DeviceManager writes to
(through `set_status`, `report_error`, `set_properties`).
"""

import threading
import time
from collections import deque
from typing import Any

from sugo.protocol.health import (
    LABELS,
    SEVERITIES,
    Health,
    HealthError,
    StatusCode,
    check_code,
    label,
    severity,
)

__all__ = [
    "LABELS",
    "MAX_ERRORS",
    "SEVERITIES",
    "Health",
    "HealthError",
    "HealthRecorder",
    "StatusCode",
    "label",
    "severity",
]

MAX_ERRORS = 20


class HealthRecorder:
    """Thread-safe health record of one component."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.code = int(StatusCode.CONNECTED)
        self.text = ""
        self.errors: deque[tuple[float, str]] = deque(maxlen=MAX_ERRORS)
        self.error_count = 0
        self.properties: dict[str, Any] = {}

    def set(self, code: int, text: str = "") -> None:
        code = check_code(code)
        with self._lock:
            self.code, self.text = code, text

    def error(self, message: str) -> None:
        with self._lock:
            self.errors.append((time.time(), message))
            self.error_count += 1

    def update_properties(self, **props: Any) -> None:
        with self._lock:
            self.properties.update(props)

    def read(self, running: bool = False) -> Health:
        """The record now; a healthy running component shows 110."""
        with self._lock:
            code = self.code
            if running and code == StatusCode.CONNECTED:
                code = int(StatusCode.RUNNING)
            return Health(
                code=code,
                label=label(code),
                severity=severity(code),
                text=self.text,
                errors=[HealthError(t, m) for t, m in self.errors],
                error_count=self.error_count,
                properties=dict(self.properties),
            )

    def snapshot(self, running: bool = False) -> dict[str, Any]:
        """The record as JSON-ready data (`Health.to_dict`): what the verbs reply."""
        return self.read(running).to_dict()
