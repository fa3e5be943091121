"""Registration results in the daemon (sugo.daemon.drivers.registration): a result
lands on a component through its lifecycle table, even when two
registrations of one component overlapped and the other ended first."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sugo.daemon.bus import Bus
from sugo.daemon.drivers.procs import DriverProc, HostTable
from sugo.daemon.drivers.registration import Registrar
from sugo.daemon.drivers.watch import ComponentHealth
from sugo.daemon.events import Events
from sugo.daemon.store import Store
from sugo.protocol.states import ComponentState

NAME = "counter:(addr,1)"


class Loop:
    def post(self, fn: Any) -> None:
        fn()

    def call_later(self, delay: float, fn: Any) -> None:
        fn()


@pytest.fixture
def registrar(tmp_path: Path) -> Any:
    with Store(tmp_path / "db.sqlite") as store:
        rt: Any = SimpleNamespace(
            store=store, loop=Loop(), settings=SimpleNamespace(hooks=[]), pool=None,
            stopping=False, devices=SimpleNamespace(components=lambda: []),
        )  # fmt: skip
        events = Events(rt, Bus())
        store.upsert_driver("counter")
        store.upsert_component(
            NAME, driver="counter", device="dev", address="addr", channel="1",
            pollrate=1.0, capabilities=(), state=ComponentState.REGISTERING,
        )  # fmt: skip
        reg = Registrar(rt, events, HostTable(rt), ComponentHealth(rt, events), lambda n: False)
        yield SimpleNamespace(reg=reg, store=store, dp=DriverProc(name="counter"))


def test_a_result_moves_a_registering_component(registrar: Any) -> None:
    registrar.reg.registered(registrar.dp, 0, [(NAME, ["count"], None, {})], restart=True)
    row = registrar.store.get_component(NAME)
    assert row.state == ComponentState.IDLE and list(row.capabilities) == ["count"]


@pytest.mark.parametrize("settled", [ComponentState.FAILED, ComponentState.IDLE])
def test_the_later_of_two_overlapping_registrations_wins(registrar: Any, settled: str) -> None:
    # The other registration ended first and settled the component.
    registrar.store.set_component_state(NAME, settled)
    ok = (NAME, ["count"], None, {})
    failed = (NAME, None, "no answer", None)
    later = ok if settled == ComponentState.FAILED else failed
    registrar.reg.registered(registrar.dp, 0, [later], restart=True)
    row = registrar.store.get_component(NAME)
    want = ComponentState.IDLE if later is ok else ComponentState.FAILED
    assert row.state == want
    kinds = [e.kind for e in registrar.store.list_events()]
    assert ("component.registered" if later is ok else "component.failed") in kinds
