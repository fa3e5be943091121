"""The driver host in-process: verbs over the wire, concurrency, data acknowledgement."""

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest

from sugo.driverinterface.host import DriverHost
from sugo.driverinterface.loader import load_driver
from sugo.errors import RequestFailed
from sugo.protocol import arrays, host_api
from sugo.protocol.client import Client
from sugo.protocol.wire import convert


@contextlib.contextmanager
def serving(driver: str) -> Iterator[DriverHost]:
    """A host of ``driver`` serving from a thread named "host-loop"."""
    host = DriverHost(driver, bind="127.0.0.1", interface=load_driver(driver)({}))
    thread = threading.Thread(target=host.loop.run, daemon=True, name="host-loop")
    thread.start()
    try:
        yield host
    finally:
        host.teardown_all()
        host.loop.stop()
        thread.join(5)
        host.close()


@pytest.fixture
def faulty_host() -> Iterator[DriverHost]:
    with serving("faulty") as host:
        yield host


def client(host: DriverHost, timeout: float = 3.0) -> Client:
    return Client(f"tcp://127.0.0.1:{host.loop.port}", timeout=timeout)


def register(c: Client, channel: str) -> None:
    c.call(host_api.DevRegister(address="a", channel=channel))


TASK = {"component_role": "r", "technique_name": "count", "max_duration": 0.5,
        "sampling_interval": 0.05}  # fmt: skip


def test_data_kept_until_acknowledged(faulty_host: DriverHost) -> None:
    with client(faulty_host) as c:
        register(c, "1")
        c.call(host_api.TaskStart(address="a", channel="1", task=TASK))
        deadline = time.monotonic() + 5
        while True:
            data = convert(
                c.call(host_api.TaskData(address="a", channel="1")), host_api.TaskDataReply
            )
            if not data.running or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        # Nothing was acknowledged (ack=0): every chunk comes again, in order.
        reply, frames = c.request(host_api.TaskData(address="a", channel="1", ack=0))
        data = convert(reply.data, host_api.TaskDataReply)
        seqs = [h.seq for h in data.chunks]
        assert seqs == sorted(seqs) and len(seqs) >= 2
        total = sum(h.points for h in data.chunks)
        assert total == 10
        first = arrays.decode_chunk(data.chunks[0], frames[: len(data.chunks[0].variables)])
        assert "uts" in first
        # Acknowledging the last one drops them all.
        reply, frames = c.request(host_api.TaskData(address="a", channel="1", ack=seqs[-1]))
        assert convert(reply.data, host_api.TaskDataReply).chunks == [] and frames == []


def test_repeated_task_start_runs_once(faulty_host: DriverHost) -> None:
    with client(faulty_host) as c:
        register(c, "2")
        req = host_api.TaskStart(address="a", channel="2", task=TASK, id="same-id")
        c.call(req)
        c.call(req)  # a retry of the same request: answered from the cache
        status = c.call(host_api.TaskStatus(address="a", channel="2"))
        assert status["queued"] == 0


def test_slow_verb_on_one_component_does_not_delay_another(faulty_host: DriverHost) -> None:
    with client(faulty_host) as c:
        register(c, "3")
        register(c, "4")
        c.call(host_api.DevSetAttr(address="a", channel="3", attr="hang_verb", val="dev_status"))
        c.call(host_api.DevSetAttr(address="a", channel="3", attr="hang_seconds", val=4.0))

    def call_hung() -> None:
        with client(faulty_host, timeout=5) as c:
            c.call(host_api.DevStatus(address="a", channel="3"))

    hung = threading.Thread(target=call_hung, daemon=True)
    hung.start()
    time.sleep(0.1)  # the hung verb is now blocking component 3's worker
    t0 = time.monotonic()
    with client(faulty_host) as c:
        c.call(host_api.DevStatus(address="a", channel="4"))
        c.call(host_api.HostPing())
    assert time.monotonic() - t0 < 2.0  # well before the hung verb's 4 s
    hung.join(8)


def test_driver_errors_are_replies(faulty_host: DriverHost) -> None:
    with client(faulty_host) as c:
        with pytest.raises(RequestFailed, match=r"not registered|unknown component"):
            c.call(host_api.DevStatus(address="nope", channel="9"))
        with pytest.raises(RequestFailed):
            c.call(host_api.DevRegister(address="a", channel="5", kwargs={"fail_register": True}))
        assert c.call(host_api.HostPing())["driver"] == "faulty"


@pytest.fixture
def counter_host() -> Iterator[DriverHost]:
    with serving("counter") as host:
        yield host


def test_task_data_is_answered_on_the_loop_unless_a_driver_holds_the_data(
    counter_host: DriverHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = counter_host
    answered_by: list[tuple[str, str]] = []  # (channel, thread)
    real = host._run_component_verb

    def spy(req: host_api.ComponentRequest) -> object:
        if isinstance(req, host_api.TaskData):
            answered_by.append((req.channel, threading.current_thread().name))
        return real(req)

    monkeypatch.setattr(host, "_run_component_verb", spy)
    with client(host) as c:
        register(c, "1")
        register(c, "2")
        c.call(host_api.TaskData(address="a", channel="1"))
        assert answered_by == [("1", "host-loop")]
        # A driver that holds the component's data lock (reading its
        # instrument, say) sends task_data to the component's worker: the
        # loop, and every other component, keep going.
        dm = host.interface.devmap[("a", "1")]
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with dm.datalock:
                held.set()
                release.wait(5)

        threading.Thread(target=hold, daemon=True).start()
        assert held.wait(2)
        done: list[float] = []

        def slow_request() -> None:
            with client(host) as c1:
                c1.call(host_api.TaskData(address="a", channel="1"))
                done.append(time.monotonic())

        waiter = threading.Thread(target=slow_request, daemon=True)
        waiter.start()
        t0 = time.monotonic()
        c.call(host_api.TaskData(address="a", channel="2"))
        c.call(host_api.HostPing())
        assert time.monotonic() - t0 < 1.0 and not done
        # The held request must have reached the worker before the release
        # (else it is answered on the loop, the lock being free again).
        deadline = time.monotonic() + 3
        while host._busy.get(("a", "1"), ("",))[0] != "task_data":
            assert time.monotonic() < deadline, "the held task_data never reached the worker"
            time.sleep(0.005)
        release.set()
        waiter.join(3)
        assert done, "task_data of the held component never answered"
        assert ("2", "host-loop") in answered_by
        held_answer = [t for ch, t in answered_by[1:] if ch == "1"]
        assert len(held_answer) == 1 and held_answer[0] != "host-loop", answered_by


def test_health_of_all_components_in_one_request(faulty_host: DriverHost) -> None:
    with client(faulty_host) as c:
        for ch in ("5", "6", "7"):
            register(c, ch)
        c.call(host_api.DevSetAttr(address="a", channel="6", attr="hang_verb", val="dev_ping"))
        c.call(host_api.DevSetAttr(address="a", channel="6", attr="hang_seconds", val=2.0))
        req = host_api.HostHealth(components=[("a", "5"), ("a", "6"), ("a", "7"), ("a", "x")],
                                  timeout=0.5)  # fmt: skip
        t0 = time.monotonic()
        got = c.call(req, list[host_api.ComponentHealth])
        took = time.monotonic() - t0
    assert 0.4 < took < 1.5  # the hung component only times out itself
    by_channel = {h.channel: h for h in got}
    assert [h.channel for h in got] == ["5", "6", "7", "x"]
    for ch in ("5", "7"):
        assert by_channel[ch].health is not None and by_channel[ch].health["code"] < 200
    assert by_channel["6"].timed_out and by_channel["6"].health is None
    assert by_channel["x"].error is not None and "x" in by_channel["x"].error


def test_health_tells_a_component_busy_in_a_slow_verb_from_a_silent_one(
    faulty_host: DriverHost,
) -> None:
    with client(faulty_host) as c:
        register(c, "8")
        c.call(host_api.DevSetAttr(address="a", channel="8", attr="reset_delay", val=2.0))

    def reset() -> None:
        with client(faulty_host, 5.0) as c:
            c.call(host_api.DevReset(address="a", channel="8"))

    resetting = threading.Thread(target=reset, daemon=True)
    resetting.start()
    deadline = time.monotonic() + 5  # the reset must hold the worker before the pings come
    while faulty_host._busy.get(("a", "8"), ("",))[0] != "dev_reset":
        assert time.monotonic() < deadline, "the reset never started"
        time.sleep(0.01)
    with client(faulty_host) as c:
        busy = c.call(
            host_api.HostHealth(components=[("a", "8")], timeout=0.3),
            list[host_api.ComponentHealth],
        )[0]
        # Busy for longer than the driver's verb_timeout: that is silent.
        silent = c.call(
            host_api.HostHealth(components=[("a", "8")], timeout=0.3, busy_limit=0.1),
            list[host_api.ComponentHealth],
        )[0]
    resetting.join(5)
    assert busy.busy and not busy.timed_out and busy.health is None
    assert silent.timed_out and not silent.busy
