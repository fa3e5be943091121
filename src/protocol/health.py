"""Health of components and drivers: a status code with a label, a free text,
recent errors with their time, and properties the driver reports.

Codes follow severity ranges, as instrument registries do: 1xx fine, 2xx
warning, 3xx a problem with the device, 4xx a problem with the driver, 5xx
unknown. Drivers set 1xx-3xx through their DeviceManager; the daemon sets the
driver-level 4xx codes and maintenance warnings.

`Health` is the record every process reads (driver hosts produce it, the
daemon stores it, the CLI and the web show it). On the wire and in the store
it travels as the plain dict `Health.to_dict` gives; those keys are the
format, and `Health.from_dict` reads it back.
"""

from enum import IntEnum
from typing import Any

import msgspec


class StatusCode(IntEnum):
    """The named health codes; any code in 100..599 is valid (see `label`)."""

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


def check_code(code: int) -> int:
    """``code`` as an int; ValueError if it is outside 100..599."""
    if not 100 <= int(code) <= 599:
        raise ValueError(f"status code {code} is not in 100..599")
    return int(code)


class HealthError(msgspec.Struct):
    """One recorded error: when (unix seconds) and what."""

    time: float
    message: str


class Health(msgspec.Struct, kw_only=True):
    """A component's health at one moment. The defaults are "unknown": what
    the daemon shows before the first check."""

    code: int = int(StatusCode.UNKNOWN)
    label: str = "unknown"
    severity: str = "unknown"
    text: str = ""
    errors: list[HealthError] = []
    error_count: int = 0
    properties: dict[str, Any] = {}

    @classmethod
    def of(cls, code: int, text: str = "", **fields: Any) -> "Health":
        """A record with ``code``, its label and severity, and ``text``."""
        code = check_code(code)
        return cls(code=code, label=label(code), severity=severity(code), text=text, **fields)

    def to_dict(self) -> dict[str, Any]:
        """The wire and store format. Properties are passed as the driver set
        them (the driver host makes them JSON-ready with everything else)."""
        return {
            "code": self.code,
            "label": self.label,
            "severity": self.severity,
            "text": self.text,
            "errors": [{"time": e.time, "message": e.message} for e in self.errors],
            "error_count": self.error_count,
            "properties": dict(self.properties),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Health":
        """Read a record in the wire format back; missing keys take the defaults.
        Raises msgspec.ValidationError naming a field of the wrong type."""
        return msgspec.convert(data, cls)
