"""Health of components and drivers: a status code with a label, a free text,
recent errors with their time, and properties the driver reports.

Codes follow severity ranges, as instrument registries do: 1xx fine, 2xx
warning, 3xx a problem with the device, 4xx a problem with the driver, 5xx
unknown. Drivers set 1xx-3xx through their DeviceManager; the daemon sets the
driver-level 4xx codes and maintenance warnings.
"""

import threading
import time
from collections import deque
from enum import IntEnum
from typing import Any

MAX_ERRORS = 20


class StatusCode(IntEnum):
    CONNECTED = 100
    RUNNING = 110
    WARNING = 200
    MAINTENANCE_DUE = 210
    DEVICE_PROBLEM = 300
    NOT_ANSWERING = 310
    DEVICE_ERROR = 320
    TASK_HUNG = 330
    DRIVER_PROBLEM = 400
    REGISTER_FAILED = 410
    HOST_RESTARTING = 420
    DRIVER_NOT_STARTED = 430
    AGENT_LOST = 440  # the agent whose PC runs the host is lost or gone (docs/network.md)
    UNKNOWN = 500


LABELS: dict[int, str] = {
    100: "connected",
    110: "running",
    200: "warning",
    210: "maintenance due",
    300: "device problem",
    310: "not answering",
    320: "device error",
    330: "task hung",
    400: "driver problem",
    410: "failed to register",
    420: "host restarting",
    430: "driver not started",
    440: "agent lost",
    500: "unknown",
}

SEVERITIES = {1: "ok", 2: "warning", 3: "device", 4: "driver", 5: "unknown"}


def label(code: int) -> str:
    """The label of a code; unlisted codes get the label of their range."""
    return LABELS.get(code) or LABELS.get(code // 100 * 100, "unknown")


def severity(code: int) -> str:
    return SEVERITIES.get(code // 100, "unknown")


class Health:
    """Thread-safe health record of one component."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.code = int(StatusCode.CONNECTED)
        self.text = ""
        self.errors: deque[tuple[float, str]] = deque(maxlen=MAX_ERRORS)
        self.error_count = 0
        self.properties: dict[str, Any] = {}

    def set(self, code: int, text: str = "") -> None:
        if not 100 <= int(code) <= 599:
            raise ValueError(f"status code {code} is not in 100..599")
        with self._lock:
            self.code, self.text = int(code), text

    def error(self, message: str) -> None:
        with self._lock:
            self.errors.append((time.time(), message))
            self.error_count += 1

    def update_properties(self, **props: Any) -> None:
        with self._lock:
            self.properties.update(props)

    def snapshot(self, running: bool = False) -> dict[str, Any]:
        """The record as JSON-ready data; a healthy running component shows 110."""
        with self._lock:
            code = self.code
            if running and code == StatusCode.CONNECTED:
                code = int(StatusCode.RUNNING)
            return {
                "code": code,
                "label": label(code),
                "severity": severity(code),
                "text": self.text,
                "errors": [{"time": t, "message": m} for t, m in self.errors],
                "error_count": self.error_count,
                "properties": dict(self.properties),
            }
