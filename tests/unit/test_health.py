"""Health records, dev_ping and declared driver settings, in-process."""

import pytest

from sugo.driverinterface.health import Health, HealthRecorder, StatusCode, label, severity
from sugo.driverinterface.loader import load_driver
from sugo.driverinterface.settings import Setting, check_settings
from sugo.errors import DriverError


def test_labels_and_severities() -> None:
    assert label(100) == "connected" and severity(100) == "ok"
    assert label(215) == "warning" and severity(215) == "warning"
    assert label(310) == "not answering" and severity(310) == "device"
    assert severity(430) == "driver" and severity(599) == "unknown"


def test_health_record() -> None:
    h = HealthRecorder()
    assert h.snapshot(running=True)["code"] == StatusCode.RUNNING
    h.set(StatusCode.DEVICE_ERROR, "overheated")
    h.error("first")
    h.error("second")
    snap = h.snapshot(running=True)
    assert (snap["code"], snap["text"], snap["error_count"]) == (320, "overheated", 2)
    assert [e["message"] for e in snap["errors"]] == ["first", "second"]
    with pytest.raises(ValueError, match=r"not in 100\.\.599"):
        h.set(42)


# The wire and store format: the daemon, the CLI and the web read these keys.
WIRE_KEYS = ["code", "label", "severity", "text", "errors", "error_count", "properties"]


def test_the_health_struct_keeps_the_wire_format() -> None:
    h = HealthRecorder()
    h.set(StatusCode.NOT_ANSWERING, "unplugged")
    h.error("ping failed")
    h.update_properties(model="X-1")
    snap = h.snapshot()
    assert list(snap) == WIRE_KEYS
    assert (snap["code"], snap["label"], snap["severity"]) == (310, "not answering", "device")
    assert list(snap["errors"][0]) == ["time", "message"]
    assert snap["properties"] == {"model": "X-1"}
    record = h.read()
    assert isinstance(record, Health) and record.to_dict() == snap
    assert Health.from_dict(snap) == record
    # what the daemon writes before a component's first check
    assert Health().to_dict() == {
        "code": 500, "label": "unknown", "severity": "unknown", "text": "", "errors": [],
        "error_count": 0, "properties": {},
    }  # fmt: skip
    assert Health.of(StatusCode.DEVICE_ERROR, "hot").to_dict() == {
        **Health().to_dict(), "code": 320, "label": "device error", "severity": "device",
        "text": "hot",
    }  # fmt: skip
    with pytest.raises(ValueError, match=r"not in 100\.\.599"):
        Health.of(700)


def test_drivers_and_every_process_share_one_health_home() -> None:
    from sugo.driverinterface import health as driver_side
    from sugo.protocol import health as protocol_side

    assert driver_side.Health is protocol_side.Health
    assert driver_side.StatusCode is protocol_side.StatusCode


def test_dev_ping_and_task_errors_reach_health() -> None:
    drv = load_driver("faulty")({})
    try:
        assert drv.dev_register(address="a", channel="1").success
        ping = drv.dev_ping(address="a", channel="1")
        assert ping.success and ping.data["properties"]["model"] == "FLT-1"
        drv.dev_set_attr(attr="unplugged", val=True, address="a", channel="1")
        ping = drv.dev_ping(address="a", channel="1")
        assert ping.data["code"] == 310 and ping.data["error_count"] == 1
        drv.dev_set_attr(attr="unplugged", val=False, address="a", channel="1")
        assert drv.dev_ping(address="a", channel="1").data["code"] == 100
        drv.dev_set_attr(attr="fail_after", val=1, address="a", channel="1")
        task = {"component_role": "r", "technique_name": "count", "max_duration": 0.2,
                "sampling_interval": 0.05}  # fmt: skip
        assert drv.task_start(task=task, address="a", channel="1").success
        assert drv.devmap[("a", "1")].wait_idle(5)
        health = drv.dev_status(address="a", channel="1").data["health"]
        assert health["error_count"] == 2 and "simulated failure" in health["errors"][-1]["message"]
    finally:
        drv.reset()
        for key in list(drv.devmap):
            drv.dev_teardown(address=key[0], channel=key[1])


def test_check_settings() -> None:
    spec = {"port": Setting(str, required=True, description="serial port"),
            "baud": Setting(int, 9600), "gain": Setting(float, 1.0)}  # fmt: skip
    assert check_settings("d", spec, {"port": "/dev/x", "gain": 2}) == {
        "port": "/dev/x", "baud": 9600, "gain": 2.0,
    }  # fmt: skip
    with pytest.raises(DriverError, match=r"required setting 'port' missing \(serial port\)"):
        check_settings("d", spec, {})
    with pytest.raises(DriverError, match="unknown setting"):
        check_settings("d", spec, {"port": "x", "parity": "N"})
    with pytest.raises(DriverError, match="'baud' must be int, not str"):
        check_settings("d", spec, {"port": "x", "baud": "fast"})
    assert check_settings("d", {}, {"anything": 1}) == {"anything": 1}
