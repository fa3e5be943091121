"""Requests from a job runner to a driver host: the timeouts, and the patient
request for component verbs that may queue behind a slow one."""

import logging
import time

import msgspec

from sugo.errors import RequestTimeout, SugoError
from sugo.protocol import host_api
from sugo.protocol.client import Client, request_id
from sugo.protocol.wire import Reply, Request

log = logging.getLogger("sugo.job")

HOST_TIMEOUT = 1.0  # per request to a driver host; one retry with the same id
HOST_RETRIES = 1
# Verbs that may queue behind a slow one on the component's worker (a reset, a
# stop) wait while the host answers pings, up to the driver's verb_timeout; the
# request is repeated (same id: done once) after 1, 2, 4, 5, 5... s.
PATIENT_SLICE_MAX = 5.0
PING_TIMEOUT = 0.5


def patient_request(
    client: Client, req: Request, host: str, bound: float
) -> tuple[Reply, list[bytes]]:
    """Send a component verb that may wait behind a slow one on the component's
    worker (a 20 s reset before a task_start): wait for its reply while the host
    answers pings, up to ``bound`` s. The request is repeated with the same id,
    which the host answers once. RequestTimeout if the host stops answering or
    the bound passes."""
    if not req.id:
        req = msgspec.structs.replace(req, id=request_id())
    cmd = type(req).__struct_config__.tag
    t0 = time.monotonic()
    wait = HOST_TIMEOUT
    while True:
        left = t0 + bound - time.monotonic()
        try:
            reply, frames = client.request(req, timeout=max(0.05, min(wait, left)))
            return reply, list(frames)
        except RequestTimeout:
            waited = time.monotonic() - t0
            if waited >= bound:
                raise RequestTimeout(
                    f"{host}: {cmd!r} not answered within {bound:g} s: the component is still"
                    " busy (a slower instrument needs a larger verb_timeout in [drivers.<name>])"
                ) from None
            if not _host_answers(host):
                raise RequestTimeout(
                    f"{host}: no reply to {cmd!r} after {waited:.1f} s, and the host does not"
                    " answer pings"
                ) from None
            log.info("%s: %r waits for the component (%.1f s so far)", host, cmd, waited)
            wait = min(wait * 2, PATIENT_SLICE_MAX)


def _host_answers(host: str) -> bool:
    try:
        with Client(host, timeout=PING_TIMEOUT) as client:
            client.call(host_api.HostPing(), retries=1)
        return True
    except SugoError:
        return False
