"""The wire protocol in-process: envelopes, registry, timeouts, deferral, limits."""

import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import numpy as np
import pytest
import zmq

from sugo.errors import ProtocolError, RequestFailed, RequestTimeout
from sugo.protocol import arrays, wire
from sugo.protocol.client import Client
from sugo.protocol.server import DEFERRED, Call, Result, ServerLoop


class Echo(wire.Request, tag="echo"):
    text: str


class Slow(wire.Request, tag="slow"):
    pass


class Boom(wire.Request, tag="boom"):
    pass


class Blob(wire.Request, tag="blob"):
    pass


@pytest.fixture
def server() -> Iterator[ServerLoop]:
    def echo(req: Echo, call: Call) -> Any:
        return {"text": req.text}

    def slow(req: Slow, call: Call) -> Any:
        threading.Timer(0.2, lambda: call.reply({"late": True})).start()
        return DEFERRED

    def boom(req: Boom, call: Call) -> Any:
        raise RuntimeError("kaput")

    def blob(req: Blob, call: Call) -> Any:
        return Result(data={"n": len(call.frames)}, frames=[b"x" * 10, *call.frames])

    loop = ServerLoop(
        "test", {Echo: echo, Slow: slow, Boom: boom, Blob: blob}, bind="127.0.0.1", max_bytes=4096
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    yield loop
    loop.stop()
    thread.join(5)
    loop.close()


def client(loop: ServerLoop, timeout: float = 2.0) -> Client:
    return Client(f"tcp://127.0.0.1:{loop.port}", timeout=timeout)


def test_round_trip_and_frames(server: ServerLoop) -> None:
    with client(server) as c:
        assert c.call(Echo(text="hi")) == {"text": "hi"}
        reply, frames = c.request(Blob(), frames=[b"a", b"bc"])
        assert reply.ok and reply.data == {"n": 2}
        assert frames == [b"x" * 10, b"a", b"bc"]


def test_deferred_reply_and_timeout_then_recovery(server: ServerLoop) -> None:
    with client(server, timeout=0.05) as c:
        with pytest.raises(RequestTimeout, match=r"tcp://127\.0\.0\.1:\d+: no reply to 'slow'"):
            c.call(Slow())
        # The late reply to the timed-out request is never taken for the next answer.
        assert c.call(Echo(text="next"), timeout=1.0) == {"text": "next"}
    with client(server) as c:
        assert c.call(Slow()) == {"late": True}


def test_handler_errors_become_error_replies(server: ServerLoop) -> None:
    with client(server) as c:
        with pytest.raises(RequestFailed, match="internal error in 'boom': kaput"):
            c.call(Boom())
        assert c.call(Echo(text="still here")) == {"text": "still here"}


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"not json", "malformed request"),
        (b'{"cmd": "nope", "id": "1"}', "unknown command 'nope' (known: blob, boom, echo, slow)"),
        (b'{"cmd": "echo", "id": "1"}', "invalid echo"),
        (b'{"cmd": "echo", "id": "1", "text": 3}', "Expected `str`"),
        (b'{"cmd": "echo", "id": "1", "text": "a", "x": 1}', "unknown field"),
        (b'{"cmd": "echo", "id": "1", "text": "a", "v": 2}', "protocol version 2"),
    ],
)
def test_bad_requests(server: ServerLoop, frame: bytes, message: str) -> None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{server.port}")
    try:
        sock.send_multipart([frame])
        assert sock.poll(2000)
        reply = wire.decode_reply(sock.recv_multipart()[0])
    finally:
        sock.close()
    assert not reply.ok and message.lower() in (reply.error or "").lower(), reply.error


def test_oversized_request_refused(server: ServerLoop) -> None:
    with client(server) as c:
        reply, _ = c.request(Blob(), frames=[b"y" * 5000])
    assert not reply.ok and "exceeds the limit of 4096" in (reply.error or "")


def test_retry_keeps_the_request_id() -> None:
    seen: list[str] = []

    def echo(req: Echo, call: Call) -> Any:
        seen.append(req.id)
        return DEFERRED if len(seen) == 1 else {"text": req.text}

    loop = ServerLoop("retry", {Echo: echo}, bind="127.0.0.1")
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        with client(loop, timeout=0.1) as c:
            assert c.call(Echo(text="x"), retries=1) == {"text": "x"}
        assert len(seen) == 2 and seen[0] == seen[1] != ""
    finally:
        loop.stop()
        thread.join(5)
        loop.close()


def test_array_chunks_round_trip() -> None:
    cols = {
        "uts": np.array([1.0, 2.0]),
        "n": np.array([1, 2], dtype=np.int64),
        "ok": np.array([True, False]),
        "name": np.array(["a", "bb"]),
    }
    header, frames = arrays.encode_chunk(7, cols, {"uts": "s"})
    header = msgspec.json.decode(msgspec.json.encode(header), type=type(header))
    back = arrays.decode_chunk(header, frames)
    assert header.seq == 7 and header.points == 2
    for k, v in cols.items():
        assert np.array_equal(back[k], v)
    with pytest.raises(ProtocolError, match="frames"):
        arrays.decode_chunk(header, frames[:-1])
    with pytest.raises(ProtocolError, match="cannot go on the wire"):
        arrays.encode_chunk(1, {"o": np.array([object()])}, {})


def test_to_array_turns_none_into_nan() -> None:
    arr = arrays.to_array([1.0, None, 3])
    assert arr.dtype == float and np.isnan(arr[1])
