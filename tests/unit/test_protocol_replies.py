"""Every request has a reply type, declared once (``DAEMON_REPLIES``,
``AGENT_REPLIES``), and the client decodes each reply into it. The shapes of
real replies are checked against a real daemon in
tests/integration/test_protocol_replies.py."""

import inspect
from types import ModuleType
from typing import Any, get_args, get_origin

import msgspec
import pytest

from sugo.connection import reply_type
from sugo.errors import ProtocolError
from sugo.protocol import agent_api, wire
from sugo.protocol import daemon_api as api


def requests_of(module: ModuleType) -> set[type]:
    return {
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, wire.Request)
        and obj is not wire.Request
        and obj.__module__ == module.__name__
    }


@pytest.mark.parametrize(
    ("module", "table"),
    [(api, api.DAEMON_REPLIES), (agent_api, agent_api.AGENT_REPLIES)],
    ids=["daemon", "agent"],
)
def test_every_request_has_a_reply_type(module: ModuleType, table: dict[type, Any]) -> None:
    assert set(table) == requests_of(module)
    for req, declared in table.items():
        if req is api.ComponentCall:
            # The driver host's reply, passed on unchanged: its shape is the verb's.
            assert declared is Any
            continue
        struct = get_args(declared)[0] if get_origin(declared) is list else declared
        assert issubclass(struct, msgspec.Struct), req.__name__


def test_the_request_lists_have_reply_types() -> None:
    assert set(api.DAEMON_REQUESTS) <= set(api.DAEMON_REPLIES)
    assert set(agent_api.AGENT_REQUESTS) == set(agent_api.AGENT_REPLIES)


@pytest.mark.parametrize(
    ("req", "data", "expected"),
    [
        (api.JobDone(jobid=1, status="c"), {"ok": True}, api.Ack()),
        (api.HostFailed(driver="d", pid=1, error="e"), {"ok": True}, api.Ack()),
        (
            api.HostHello(driver="d", port=1, pid=2),
            {"settings": {"x": 1}},
            api.HostHelloReply(settings={"x": 1}),
        ),
        (
            api.JobWrite(jobid=1, path="/r.nc", status="c"),
            {"respath": "/r.nc"},
            api.JobWriteReply(respath="/r.nc"),
        ),
        (
            api.JobControl(jobid=1),
            {"actions": ["cancel"]},
            api.JobControlReply(actions=["cancel"]),
        ),
        (api.Cancel(ids=[3]), {"cancelled": [3]}, api.CancelReply(cancelled=[3])),
        (
            api.Stop(),
            {"stopped": True, "cancelled": [], "pid": 9},
            api.StopReply(stopped=True, cancelled=[], pid=9),
        ),
        (
            agent_api.AgentAlive(identity="i"),
            {"state": "alive"},
            agent_api.AgentStateReply(state="alive"),
        ),
        (api.ComponentCall(name="c", verb="dev_get_attr"), 1.5, 1.5),
        # jobs.retention_days is an int: `sugo job prune --json` says 30, not 30.0.
        (api.JobPrune(), {"pruned": [], "days": 30}, api.PruneReply(pruned=[], days=30)),
    ],
)
def test_replies_decode_into_the_declared_type(req: wire.Request, data: Any, expected: Any) -> None:
    decoded = wire.convert(data, reply_type(req))
    assert decoded == expected
    assert msgspec.json.encode(decoded) == msgspec.json.encode(data)  # the wire is unchanged


def test_a_reply_of_the_wrong_shape_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="CancelReply"):
        wire.convert({"cancelled": "all"}, reply_type(api.Cancel(ids=[1])))
    with pytest.raises(ProtocolError, match="StopReply"):
        wire.convert({"stopped": True}, reply_type(api.Stop()))
