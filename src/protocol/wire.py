"""Envelope encoding: a request or reply is one JSON frame plus binary frames.

Requests are tagged msgspec Structs (the tag field is ``cmd``); every server
decodes against its own union of request types, so an unknown command or a
malformed field is a decoding error that becomes an error reply.
"""

from typing import Any

import msgspec

from sugo.errors import ProtocolError
from sugo.protocol import PROTOCOL_VERSION


class Request(msgspec.Struct, tag_field="cmd", kw_only=True, forbid_unknown_fields=True):
    """Base of every request. ``id`` lets a retried request be recognised."""

    id: str = ""
    v: int = PROTOCOL_VERSION
    by: str = ""  # who asked, when not the local user (e.g. "web:alice"): events record it


class Reply(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The one reply envelope: ``ok`` with ``data``, or ``error`` with a message."""

    id: str = ""
    ok: bool = True
    error: str | None = None
    data: Any = None


class _Peek(msgspec.Struct):
    """Just enough of a request to answer it even when the rest is malformed."""

    id: str = ""
    cmd: str = ""


_encoder = msgspec.json.Encoder()
_reply_decoder = msgspec.json.Decoder(Reply)
_peek_decoder = msgspec.json.Decoder(_Peek)


def printable(text: str) -> str:
    """`text` with every non-printable character escaped as `repr` would
    (a newline becomes `\\n`): an error that quotes a peer's key or value
    stays one readable line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def encode(obj: msgspec.Struct) -> bytes:
    return _encoder.encode(obj)


def decode_reply(frame: bytes) -> Reply:
    try:
        return _reply_decoder.decode(frame)
    except msgspec.DecodeError as e:
        raise ProtocolError(f"malformed reply: {printable(str(e))}") from None


def peek(frame: bytes) -> tuple[str, str]:
    """Return (id, cmd) of a request frame, or ("", "") when unreadable."""
    try:
        p = _peek_decoder.decode(frame)
    except msgspec.DecodeError:
        return "", ""
    return p.id, p.cmd


class RequestDecoder:
    """Decodes request frames against one server's union of request types."""

    def __init__(self, types: list[type[Request]]) -> None:
        if not types:
            raise ValueError("a server needs at least one request type")
        union: Any = types[0]
        for t in types[1:]:
            union = union | t
        self._decoder = msgspec.json.Decoder(union)
        self.commands = sorted(str(t.__struct_config__.tag) for t in types)

    def decode(self, frame: bytes) -> Request:
        try:
            req: Request = self._decoder.decode(frame)
        except msgspec.ValidationError as e:
            _, cmd = peek(frame)
            text = printable(str(e))  # msgspec quotes an unknown key as it came
            if text.endswith(" - at `$.cmd`"):
                raise ProtocolError(
                    f"unknown command {cmd!r} (known: {', '.join(self.commands)})"
                ) from None
            raise ProtocolError(f"invalid {printable(cmd) or 'request'}: {text}") from None
        except msgspec.DecodeError as e:
            raise ProtocolError(f"malformed request: {printable(str(e))}") from None
        if req.v != PROTOCOL_VERSION:
            raise ProtocolError(
                f"protocol version {req.v} not supported (this side speaks {PROTOCOL_VERSION})"
            )
        return req


def to_builtins(obj: Any) -> Any:
    """Structs, enums, sets and tuples → JSON-ready builtins."""
    return msgspec.to_builtins(obj)


def convert(data: Any, type_: type[Any]) -> Any:
    """Validate reply data into a typed Struct; a mismatch is a ProtocolError."""
    try:
        return msgspec.convert(data, type_)
    except msgspec.ValidationError as e:
        raise ProtocolError(
            f"unexpected reply data for {type_.__name__}: {printable(str(e))}"
        ) from None
