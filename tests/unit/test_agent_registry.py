"""The agent registry's states, names and keys (sugo.daemon.agents), on a
fake daemon and a fake clock."""

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from sugo.daemon import agents as registry
from sugo.errors import SugoError
from sugo.protocol import agent_api as api


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


class Loop:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.timers.append((self.clock.now + delay, fn))

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        while due := [t for t in self.timers if t[0] <= self.clock.now]:
            for t in due:
                self.timers.remove(t)
                t[1]()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    clock = Clock()
    monkeypatch.setattr(registry, "time", clock)
    events: list[tuple[str, dict[str, Any]]] = []
    devices = SimpleNamespace(
        devices=[SimpleNamespace(name="furnace", host="pc1")],
        driver_hosts=lambda: {"counter": "pc1", "psutil": None},
    )
    rt = SimpleNamespace(
        loop=Loop(clock),
        devices=devices,
        settings=SimpleNamespace(driver_settings=lambda name: {"x": 1}),
    )
    emitter = SimpleNamespace(emit=lambda kind, subject, **data: events.append((kind, data)))
    reg = registry.AgentRegistry(rt, emitter)  # type: ignore[arg-type]
    reg.hosts = SimpleNamespace(known=lambda name: [], forget=lambda name: None)  # type: ignore[assignment]
    d = rt
    return SimpleNamespace(reg=reg, loop=d.loop, events=events, clock=clock)


def call(key: str | None = "KEY1", address: str = "10.0.0.2") -> Any:
    return SimpleNamespace(peer=key, peer_address=address)


def test_register_heartbeat_lose_and_come_back(fake: Any) -> None:
    reply = fake.reg.on_register(api.AgentRegister(name="pc1", alive_timeout=2.0), call())
    assert reply.name == "pc1" and reply.drivers == [
        api.HostedDriver("counter", settings={"x": 1}, known=False)
    ]
    identity = reply.identity
    for _ in range(10):  # heartbeats within the timeout keep it alive
        fake.loop.advance(1.5)
        fake.reg.on_alive(api.AgentAlive(identity=identity, alive_timeout=2.0), call())
    assert fake.reg.alive("pc1") is not None
    fake.loop.advance(1.99)
    assert fake.reg.alive("pc1") is not None
    fake.loop.advance(0.02)
    assert fake.reg.agents["pc1"].state == "lost"
    fake.reg.on_alive(api.AgentAlive(identity=identity, alive_timeout=2.0), call())
    assert fake.reg.alive("pc1") is not None
    kinds = [k for k, _ in fake.events]
    assert kinds == ["agent.registered", "agent.lost", "agent.alive"]
    [row] = fake.reg.on_agents(api.Agents(), call())
    assert row.devices == ["furnace"] and row.address == "10.0.0.2"


def test_names_keys_and_overwrite(fake: Any) -> None:
    first = fake.reg.on_register(api.AgentRegister(name="pc1"), call("KEY1"))
    with pytest.raises(SugoError, match="in use"):
        fake.reg.on_register(api.AgentRegister(name="pc1"), call("KEY2"))
    with pytest.raises(SugoError, match="in use"):  # even the same key, while alive
        fake.reg.on_register(api.AgentRegister(name="pc1"), call("KEY1"))
    with pytest.raises(SugoError, match="unknown agent identity"):  # another key's identity
        fake.reg.on_alive(api.AgentAlive(identity=first.identity), call("KEY2"))
    with pytest.raises(SugoError, match="listen endpoint only"):
        fake.reg.on_register(api.AgentRegister(name="pc9"), call(None))
    with pytest.raises(SugoError, match="agent name"):
        fake.reg.on_register(api.AgentRegister(name="../x"), call())
    fake.reg.on_register(api.AgentRegister(name="pc1", overwrite=True), call("KEY2"))
    assert fake.reg.agents["pc1"].key == "KEY2"
    assert ("agent.removed", {"identity": first.identity, "reason": "replaced"}) in fake.events
    # The replaced agent's heartbeat is refused: it must register again.
    with pytest.raises(SugoError, match="register again"):
        fake.reg.on_alive(api.AgentAlive(identity=first.identity), call("KEY1"))


def test_the_same_key_takes_a_lost_name_back(fake: Any) -> None:
    fake.reg.on_register(api.AgentRegister(name="pc1", alive_timeout=1.0), call("KEY1"))
    fake.loop.advance(1.01)
    assert fake.reg.agents["pc1"].state == "lost"
    with pytest.raises(SugoError, match="in use"):  # another key: only with --overwrite
        fake.reg.on_register(api.AgentRegister(name="pc1"), call("KEY2"))
    again = fake.reg.on_register(api.AgentRegister(name="pc1", fresh=False), call("KEY1"))
    assert fake.reg.alive("pc1") is not None and again.identity
    assert [row.state for row in fake.reg.on_agents(api.Agents(), call())] == ["alive"]


def test_unregister_keeps_the_agent_listed_as_removed(fake: Any) -> None:
    reply = fake.reg.on_register(api.AgentRegister(name="pc1"), call())
    fake.reg.on_unregister(api.AgentUnregister(identity=reply.identity), call())
    assert "pc1" not in fake.reg.agents
    [row] = fake.reg.on_agents(api.Agents(), call())
    assert row.state == "removed"
    fake.loop.advance(100)  # no loss for a removed agent
    assert [k for k, _ in fake.events] == ["agent.registered", "agent.removed"]
