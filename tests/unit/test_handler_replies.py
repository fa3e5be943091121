"""Every request handler of the daemon says what it answers, and says the
reply type the protocol declares for its request (``DAEMON_REPLIES``,
``AGENT_REPLIES``): it returns that struct, or ``DEFERRED`` and answers it
later through ``call: Call[<that struct>]``. mypy checks the handlers'
bodies against these annotations; this test checks the annotations against
the protocol. (A daemon started by the tests also refuses to send a reply of
another type: tests/conftest.py.)"""

import importlib
import inspect
import threading
import types
from collections.abc import Iterator
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest

from sugo.errors import RequestFailed
from sugo.protocol import agent_api, wire
from sugo.protocol import daemon_api as api
from sugo.protocol.client import Client
from sugo.protocol.server import DEFERRED, Call, Deferred, ServerLoop
from tests.unit.test_daemon_imports import daemon_modules

REPLIES = {**api.DAEMON_REPLIES, **agent_api.AGENT_REPLIES}


def handlers() -> Iterator[tuple[str, type, dict[str, Any]]]:
    """(name, request type, type hints) of every ``on_*`` method in sugo.daemon
    that takes a request."""
    for module_name in daemon_modules():
        module = importlib.import_module(module_name)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            for name, fn in vars(cls).items():
                if not name.startswith("on_") or not inspect.isfunction(fn):
                    continue
                hints = get_type_hints(fn)
                req = hints.get("req")
                if inspect.isclass(req) and issubclass(req, wire.Request):
                    yield f"{cls.__name__}.{name}", req, hints


def members(hint: Any) -> set[Any]:
    if get_origin(hint) in (Union, types.UnionType):
        return set(get_args(hint))
    return {hint}


def test_every_request_has_a_handler_that_declares_its_reply() -> None:
    seen: set[type] = set()
    for where, req, hints in handlers():
        declared = REPLIES[req]
        returned = members(hints["return"])
        assert Any not in returned, f"{where} returns Any"
        assert returned <= {declared, Deferred}, f"{where} returns {hints['return']}"
        call = hints["call"]
        assert get_origin(call) is Call, f"{where}: call is not a Call[...]"
        assert get_args(call) == (declared,), f"{where} answers {call}, not {declared}"
        seen.add(req)
    assert seen == set(REPLIES), f"no handler for {set(REPLIES) - seen}"


class Hello(wire.Request, tag="hello"):
    pass


class Late(wire.Request, tag="late"):
    pass


@pytest.fixture(params=[True, False], ids=["strict", "lenient"])
def wrong_replies(request: pytest.FixtureRequest) -> Iterator[tuple[ServerLoop, bool]]:
    """A server whose handlers answer with a dict where an Ack is declared."""

    def hello(req: Hello, call: Call[api.Ack]) -> Any:
        return {"ok": True}

    def late(req: Late, call: Call[Any]) -> Deferred:
        threading.Timer(0.05, lambda: call.reply({"ok": True})).start()
        return DEFERRED

    strict: bool = request.param
    loop = ServerLoop(
        "test", {Hello: hello, Late: late}, bind="127.0.0.1",
        replies={Hello: api.Ack, Late: api.Ack}, strict_replies=strict,
    )  # fmt: skip
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    yield loop, strict
    loop.stop()
    thread.join(5)
    loop.close()


def test_a_reply_of_another_type_fails_the_request_when_strict(
    wrong_replies: tuple[ServerLoop, bool], caplog: pytest.LogCaptureFixture
) -> None:
    loop, strict = wrong_replies
    with Client(f"tcp://127.0.0.1:{loop.port}", timeout=2.0) as client:
        for req in (Hello(), Late()):
            if strict:
                with pytest.raises(RequestFailed, match=r"is a dict, not a Ack"):
                    client.call(req)
            else:  # users get the reply; the log says what is wrong
                assert client.call(req) == {"ok": True}
    assert "is a dict, not a Ack" in caplog.text
