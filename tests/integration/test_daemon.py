"""The daemon as a service: pipelines, reload, components, bad input, stop."""

import json
import os
import socket
import time

import psutil
import pytest
import zmq

from sugo.errors import RequestFailed
from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.curve import curve_client
from sugo.protocol.keys import ClientKeys
from tests.integration.harness import DATA, DaemonHarness, process_alive, wait_for
from tests.integration.test_jobs_lifecycle import payload

pytestmark = pytest.mark.integration
TOMATO = DATA / "tomato"

BASE_DEVICES = json.dumps(
    {
        "devices": [
            {"name": "dev-counter", "driver": "example_counter", "address": "example-addr",
             "channels": ["1"], "pollrate": 1},
        ],
        "pipelines": [
            {"name": "pip-counter",
             "devices": [{"role": "counter", "device": "dev-counter", "channel": "1"}]},
        ],
    }
)  # fmt: skip


def pipelines(h: DaemonHarness) -> dict[str, dict]:
    return {p["name"]: p for p in h.status()["pipelines"]}


def test_wildcard_devices_file_gives_four_pipelines(make_daemon) -> None:
    h = make_daemon((TOMATO / "devices_counter.json").read_text(), "devices.json")
    status = h.status()
    assert sorted(pipelines(h)) == [f"pip-counter-{i}" for i in range(1, 5)]
    assert {c["name"] for c in status["components"]} == {
        f"example_counter:(example-addr,{i})" for i in range(1, 5)
    }
    assert all(c["state"] == "idle" and "count" in c["capabilities"] for c in status["components"])
    assert [d["name"] for d in status["drivers"]] == ["example_counter"]
    # the installed tomato package runs, and status says so
    assert status["drivers"][0]["source"].startswith("tomato package tomato-example-counter")


def test_pipeline_load_ready_eject(daemon: DaemonHarness) -> None:
    name = "pip-counter-1"
    p = daemon.call(api.PipelineLoad(pipeline=name, sample="A"))
    assert (p["sample"], p["ready"]) == ("A", False)
    assert daemon.call(api.PipelineLoad(pipeline=name, sample="A"))["sample"] == "A"
    with pytest.raises(RequestFailed, match="already holds sample 'A'"):
        daemon.call(api.PipelineLoad(pipeline=name, sample="B"))
    assert daemon.call(api.PipelineReady(pipeline=name))["ready"] is True
    assert daemon.call(api.PipelineReady(pipeline=name))["ready"] is True
    p = daemon.call(api.PipelineEject(pipeline=name))
    assert (p["sample"], p["ready"]) == (None, False)
    assert daemon.call(api.PipelineEject(pipeline=name))["sample"] is None
    with pytest.raises(RequestFailed, match="no pipeline 'nope'"):
        daemon.call(api.PipelineLoad(pipeline="nope", sample="A"))
    # While a job runs, the pipeline cannot be ejected or marked ready.
    daemon.load_ready(name, "busy")
    job = daemon.submit(payload("busy", ("counter", 5, 0.1)))
    daemon.wait_job(job["id"], ("r",))
    with pytest.raises(RequestFailed, match=f"job {job['id']} is running"):
        daemon.call(api.PipelineEject(pipeline=name))
    with pytest.raises(RequestFailed, match="is running"):
        daemon.call(api.PipelineReady(pipeline=name))
    daemon.call(api.Cancel(ids=[job["id"]]))
    daemon.wait_job(job["id"])


@pytest.mark.parametrize(
    ("reload_file", "pipeline", "components"),
    [
        (
            "devices_reload_address.json",
            "pip-counter",
            {"counter": "example_counter:(example-addr-new,1)"},
        ),
        (
            "devices_reload_channel.json",
            "pip-counter",
            {"counter": "example_counter:(example-addr,2)"},
        ),
        ("devices_reload_driver.json", "pip-counter", {"counter": "psutil:(example-addr,2)"}),
        (
            "devices_reload_pipdel.json",
            "pip-counter-new",
            {"counter": "example_counter:(example-addr,1)"},
        ),
        (
            "devices_reload_pipmod.json",
            "pip-counter",
            {
                "counter": "example_counter:(example-addr,1)",
                "other": "example_counter:(new-addr,1)",
            },
        ),
    ],
)
def test_reload(make_daemon, reload_file: str, pipeline: str, components: dict) -> None:
    h = make_daemon(BASE_DEVICES, "devices.json")
    h.load_ready("pip-counter", "s")
    job = h.submit(payload("s", ("counter", 30, 0.1)))
    h.wait_job(job["id"], ("r",))
    before = h.status()
    new_text = (TOMATO / reload_file).read_text()
    (h.appdir / "devices.json").write_text(new_text)
    # While a job runs on pip-counter, the change is refused and nothing changes.
    with pytest.raises(RequestFailed, match=f"job {job['id']} runs on pipeline pip-counter"):
        h.call(api.Reload())
    after = h.status()
    assert after["pipelines"] == before["pipelines"]
    assert after["components"] == before["components"]
    h.call(api.Cancel(ids=[job["id"]]))
    h.wait_job(job["id"])
    # Idle, the same reload applies.
    h.call(api.Reload())
    status = h.wait_ready(10)
    got = {p["name"]: p for p in status["pipelines"]}
    assert got[pipeline]["components"] == components
    assert {c["name"] for c in status["components"]} == set(components.values())
    if reload_file == "devices_reload_driver.json":
        assert [d["name"] for d in status["drivers"]] == ["psutil"]
    if reload_file == "devices_reload_pipdel.json":
        assert "pip-counter" not in got
    # Kept pipelines keep their state.
    if pipeline == "pip-counter":
        assert got["pip-counter"]["sample"] == "s"


def test_reload_adds_and_removes_a_driver_and_passes_settings(make_daemon) -> None:
    h = make_daemon(BASE_DEVICES, "devices.json")
    devices = json.loads(BASE_DEVICES)
    devices["devices"].append(
        {"name": "dev-faulty", "driver": "faulty", "address": "f", "channels": ["1"], "pollrate": 1}
    )
    (h.appdir / "devices.json").write_text(json.dumps(devices))
    h.call(api.Reload())
    status = h.wait_ready(10)
    assert sorted(d["name"] for d in status["drivers"]) == ["example_counter", "faulty"]
    comp = "faulty:(f,1)"
    assert h.call(api.ComponentCall(name=comp, verb="dev_get_attr", args={"attr": "hang_seconds"}))
    # A settings change reaches the driver: it is restarted with the new settings.
    settings = h.appdir / "settings.toml"
    settings.write_text(settings.read_text() + "\n[drivers.faulty]\nhang_seconds = 7.5\n")
    h.call(api.Reload())
    h.wait_ready(10)
    got = h.call(api.ComponentCall(name=comp, verb="dev_get_attr", args={"attr": "hang_seconds"}))
    assert got == 7.5
    # Removing the device removes the driver and its host.
    faulty_pid = next(d["pid"] for d in h.status()["drivers"] if d["name"] == "faulty")
    (h.appdir / "devices.json").write_text(BASE_DEVICES)
    h.call(api.Reload())
    status = h.wait_ready(10)
    assert [d["name"] for d in status["drivers"]] == ["example_counter"]
    assert not process_alive(faulty_pid)


def test_component_verbs(daemon: DaemonHarness) -> None:
    comp = "counter:(sim-counter,2)"
    caps = daemon.call(api.ComponentCall(name=comp, verb="capabilities"))
    assert sorted(caps) == ["count", "random"]
    attrs = daemon.call(api.ComponentCall(name=comp, verb="attrs"))
    assert attrs["param"]["units"] == "s" and attrs["param"]["rw"] is True
    daemon.call(api.ComponentCall(name=comp, verb="dev_set_attr", args={"attr": "max", "val": "7"}))
    got = daemon.call(api.ComponentCall(name=comp, verb="dev_get_attr", args={"attr": "max"}))
    assert got == 7.0
    with pytest.raises(RequestFailed, match="choice"):
        daemon.call(
            api.ComponentCall(
                name=comp, verb="dev_set_attr", args={"attr": "choice", "val": "pink"}
            )
        )
    assert daemon.call(api.ComponentCall(name=comp, verb="dev_status"))["running"] is False
    with pytest.raises(RequestFailed, match="no component"):
        daemon.call(api.ComponentCall(name="counter:(x,1)", verb="dev_status"))
    with pytest.raises(RequestFailed, match="unknown verb"):
        daemon.call(api.ComponentCall(name=comp, verb="shutdown"))
    # Refused on a component a job is using, unless forced.
    daemon.load_ready("pip-counter-2", "c")
    job = daemon.submit(payload("c", ("counter", 5, 0.1)))
    daemon.wait_job(job["id"], ("r",))
    set_max = api.ComponentCall(name=comp, verb="dev_set_attr", args={"attr": "max", "val": 3})
    with pytest.raises(RequestFailed, match="--force"):
        daemon.call(set_max)
    daemon.call(api.ComponentCall(name=comp, verb="dev_set_attr", args={"attr": "max", "val": 3},
                                  force=True))  # fmt: skip
    daemon.call(api.Cancel(ids=[job["id"]]))
    daemon.wait_job(job["id"])


def raw_exchange(
    endpoint: str, frames: list[bytes], keys: ClientKeys, timeout: float = 3.0
) -> list[bytes]:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    curve_client(sock, keys)  # every sugo socket is CURVE (docs/network.md)
    sock.connect(endpoint)
    try:
        sock.send_multipart(frames)
        assert sock.poll(int(timeout * 1000)), f"no reply from {endpoint} to {frames!r}"
        return sock.recv_multipart()
    finally:
        sock.close()


@pytest.mark.parametrize(
    "frames",
    [
        [b"\x00\xff garbage"],
        [b'{"cmd": "rm_rf", "id": "1"}'],
        [b'{"cmd": "status", "id": "2", "extra": 1}'],
        [b'{"cmd": "pipeline_load", "id": "3", "pipeline": 5}'],
        [b'{"cmd": "status", "id": "4", "v": 99}'],
        [b"[1, 2, 3]"],
        [b'{"cmd": "submit", "id": "5"}'],
    ],
)
def test_bad_messages_get_error_replies(daemon: DaemonHarness, frames: list[bytes]) -> None:
    counter_port = next(d["port"] for d in daemon.status()["drivers"] if d["name"] == "counter")
    for endpoint in (daemon.endpoint, f"tcp://127.0.0.1:{counter_port}"):
        reply = json.loads(raw_exchange(endpoint, frames, daemon.family_keys())[0])
        assert reply["ok"] is False and reply["error"], reply
    # Both keep serving.
    assert daemon.status()["ready"]
    with daemon.host_client(counter_port, timeout=2) as c:
        assert c.call(host_api.HostPing())["driver"] == "counter"


def test_oversized_message_refused(daemon: DaemonHarness) -> None:
    big = b'{"cmd": "status", "id": "big", "pad": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    reply = json.loads(raw_exchange(daemon.endpoint, [big], daemon.family_keys(), timeout=10)[0])
    assert reply["ok"] is False and "exceeds" in reply["error"]
    assert daemon.status()["ready"]


def test_stop_leaves_nothing_and_frees_the_port(daemon: DaemonHarness) -> None:
    status = daemon.status()
    pids = {status["pid"], *(d["pid"] for d in status["drivers"])}
    children = psutil.Process(status["pid"]).children(recursive=True)
    pids.update(p.pid for p in children)
    t0 = time.monotonic()
    daemon.call(api.Stop())
    wait_for(lambda: not any(process_alive(p) for p in pids), 10, "exit")
    assert time.monotonic() - t0 < 5

    def port_free() -> bool:
        with socket.socket() as s:
            # As any server (and zmq) binds: TIME_WAIT of closed clients must not block.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", daemon.port))
            except OSError:
                return False
            return True

    wait_for(port_free, 2.0, "the port to be free")
    assert daemon.proc is not None
    assert daemon.proc.wait(5) == 0


def test_daemon_binds_loopback_only(daemon: DaemonHarness) -> None:
    pids = {daemon.status()["pid"], *(d["pid"] for d in daemon.status()["drivers"])}
    for pid in pids:
        for conn in psutil.Process(pid).net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN:
                assert conn.laddr.ip == "127.0.0.1", (pid, conn)


def test_status_lists_everything(daemon: DaemonHarness) -> None:
    status = daemon.status()
    assert set(status) >= {"port", "pid", "pipelines", "drivers", "devices", "components"}
    assert status["port"] == daemon.port and status["pid"] != os.getpid()
    assert {d["name"] for d in status["devices"]} == {
        "dev-counter",
        "dev-demo-counter",
        "dev-psutil",
    }
    for p in status["pipelines"]:
        assert set(p) >= {"name", "ready", "sample", "jobid", "components"}
    for d in status["drivers"]:
        assert set(d) >= {"name", "pid", "state", "version"} and d["state"] == "ready"
    for c in status["components"]:
        assert set(c) >= {"name", "driver", "device", "address", "channel", "capabilities", "state"}
