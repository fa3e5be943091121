"""Hostile input on the daemon's and a driver host's sockets, and bad files
through the CLI: random frames, truncated and oversized messages, valid
envelopes with wrong fields, well-formed requests about things that do not
exist. Every case gets an error reply (one line) or, past the transport
limit, a dropped connection; no process crashes and neither the job queue
nor the pipelines, components or drivers change.
"""

import contextlib
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import psutil
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sugo.protocol import daemon_api as api
from sugo.protocol import host_api
from sugo.protocol.curve import curve_client
from sugo.protocol.keys import ClientKeys, local_client_keys
from sugo.protocol.wire import Request
from tests.integration.harness import DATA, DaemonHarness, wait_for
from tests.integration.test_jobs_lifecycle import payload

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=int(os.environ.get("SUGO_FUZZ_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LIMIT = 16 * 1024 * 1024  # max_message_bytes of the test settings (and of driver hosts)


@dataclass
class Target:
    h: DaemonHarness
    host: str  # the counter driver host's endpoint
    queued: int  # a job that waits for a sample nobody loads
    before: dict[str, Any]
    counts: dict[str, int]


def state(h: DaemonHarness) -> dict[str, Any]:
    """What no bad message may change: jobs, pipelines, components, drivers."""
    status = h.call(api.Status())
    jobs = h.call(api.Jobs())["jobs"]
    return {
        "jobs": [(j["id"], j["status"], [t["state"] for t in j["tasks"]]) for j in jobs],
        "pipelines": status["pipelines"],
        "components": [(c["name"], c["state"]) for c in status["components"]],
        "drivers": [(d["name"], d["pid"], d["state"]) for d in status["drivers"]],
    }


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    h = DaemonHarness(tmp_path_factory.mktemp("fuzz"))
    h.start()
    h.load_ready("pip-counter-1", "loaded")
    queued = h.submit(payload("nobody", ("counter", 1, 0.1)))["id"]
    port = next(d["port"] for d in h.status()["drivers"] if d["name"] == "counter")
    t = Target(h, f"tcp://127.0.0.1:{port}", queued, state(h), {"error": 0, "dropped": 0})
    # Every sugo socket is CURVE: the hostile messages come from a client
    # whose key is allowed (a stranger's get no answer: test_local_auth.py).
    CURVE_KEYS[h.endpoint] = local_client_keys(h.appdir)
    CURVE_KEYS[t.host] = h.family_keys()
    yield t
    print(f"\nfuzz: {json.dumps(t.counts)}")
    h.stop()


def check_unchanged(t: Target) -> None:
    assert state(t.h) == t.before
    assert t.h.proc is not None and t.h.proc.poll() is None


CURVE_KEYS: dict[str, ClientKeys] = {}  # endpoint -> an allowed client's keys


class Raw:
    """A bare DEALER socket: sends any frames, returns the reply frames."""

    def __init__(self, endpoint: str) -> None:
        self.sock: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if endpoint in CURVE_KEYS:
            curve_client(self.sock, CURVE_KEYS[endpoint])
        self.sock.connect(endpoint)

    def exchange(self, frames: list[bytes], timeout: float = 5.0) -> list[bytes] | None:
        self.sock.send_multipart(frames)
        if not self.sock.poll(int(timeout * 1000)):
            return None
        return self.sock.recv_multipart()

    def close(self) -> None:
        self.sock.close(linger=0)


@contextlib.contextmanager
def raw(endpoint: str) -> Iterator[Raw]:
    sock = Raw(endpoint)
    try:
        yield sock
    finally:
        sock.close()


def refused(t: Target, sock: Raw, frames: list[bytes], what: object = "") -> str:
    """Send ``frames``; the reply must be one error line. Returns the error."""
    got = sock.exchange(frames)
    assert got is not None, f"no reply to {what or frames!r}"
    reply = json.loads(got[0])
    assert reply["ok"] is False, f"accepted: {what or frames!r} -> {reply}"
    error = reply["error"]
    assert isinstance(error, str) and error and "\n" not in error, reply
    t.counts["error"] += 1
    return error


# -- random bytes -------------------------------------------------------------------

frames_strategy = st.lists(st.binary(max_size=600), min_size=1, max_size=3)
# Any key, control characters included: error messages quote unknown keys, escaped.
keys = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
json_values = st.recursive(
    scalars | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
TAGS = sorted(
    {str(t.__struct_config__.tag) for t in [*api.DAEMON_REQUESTS, *host_api.HOST_REQUESTS]}
)


@FUZZ
@given(frames=frames_strategy)
def test_random_frames(target: Target, frames: list[bytes]) -> None:
    for endpoint in (target.h.endpoint, target.host):
        with raw(endpoint) as sock:
            refused(target, sock, frames)


@FUZZ
@given(cmd=st.sampled_from(TAGS), fields=st.dictionaries(keys, json_values))
def test_random_envelopes(target: Target, cmd: str, fields: dict[str, Any]) -> None:
    # Always one key no request has: the envelope can never decode into a real
    # (possibly state-changing) request, whatever else was generated.
    doc = {**fields, "cmd": cmd, "fuzz-never-a-field": True}
    for endpoint in (target.h.endpoint, target.host):
        with raw(endpoint) as sock:
            refused(target, sock, [json.dumps(doc).encode()], doc)


def test_control_characters_in_a_key_stay_on_one_line(target: Target) -> None:
    with raw(target.h.endpoint) as sock:
        error = refused(target, sock, [b'{"cmd": "status", "a\\nb\\u2028c": 1}'])
        assert error == "invalid status: Object contains unknown field `a\\nb\\u2028c`"
    with raw(target.host) as sock:
        error = refused(target, sock, [b'{"cmd": "ping", "\\u0000": 1}'])
        assert error == "invalid ping: Object contains unknown field `\\x00`"
    # A handler's error that quotes what the client sent (here the file name):
    bad = api.Submit(payload="", fmt="yaml", source="two\nlines.yml", cwd="/")
    with raw(target.h.endpoint) as sock:
        error = refused(target, sock, [msgspec.json.encode(bad)])
        assert error == "two\\nlines.yml: file is empty", error


# -- valid envelopes, wrong fields ---------------------------------------------------

WRONG_VALUES: list[Any] = ["x", 12345, 1.5, True, [], {}, None, -1, 2**70]
GOOD_VALUES: list[Any] = ["zz", 123456, False, [], {}]


def fits(value: Any, type_: Any) -> bool:
    try:
        msgspec.json.decode(msgspec.json.encode(value), type=type_)
    except msgspec.ValidationError:
        return False
    return True


def wrong_envelopes(types: list[type[Request]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Envelopes that each break one rule of a request type; none can decode."""
    for t in types:
        tag = str(t.__struct_config__.tag)
        fields = {f.name: f for f in msgspec.structs.fields(t)}
        good: dict[str, Any] = {"cmd": tag, "id": "fuzz"}
        for f in fields.values():
            if f.required:
                good[f.name] = next(v for v in GOOD_VALUES if fits(v, f.type))
        yield f"{tag}: unknown field", {**good, "no_such_field": 1}
        yield f"{tag}: protocol version", {**good, "v": 99}
        yield f"{tag}: id not a string", {**good, "id": 7}
        for name, f in fields.items():
            if name in ("id", "v"):
                continue
            if f.required:
                yield f"{tag}: {name} missing", {k: v for k, v in good.items() if k != name}
            wrong = next((v for v in WRONG_VALUES if not fits(v, f.type)), None)
            if wrong is not None:
                yield f"{tag}: {name}={wrong!r}", {**good, name: wrong}
    yield "no cmd", {"id": "x"}
    yield "cmd not a string", {"cmd": 5}
    yield "unknown cmd", {"cmd": "rm_rf"}


def test_wrong_fields_on_the_daemon(target: Target) -> None:
    cases = list(wrong_envelopes(api.DAEMON_REQUESTS))
    assert len(cases) > 100
    with raw(target.h.endpoint) as sock:
        for what, doc in cases:
            refused(target, sock, [json.dumps(doc).encode()], what)
    check_unchanged(target)


def test_wrong_fields_on_a_driver_host(target: Target) -> None:
    cases = list(wrong_envelopes(host_api.HOST_REQUESTS))
    assert len(cases) > 60
    with raw(target.host) as sock:
        for what, doc in cases:
            refused(target, sock, [json.dumps(doc).encode()], what)
    check_unchanged(target)


def test_truncated_messages(target: Target) -> None:
    good = [
        api.Submit(payload=payload("x", ("counter", 1, 0.1)), fmt="toml", source="p", cwd="/tmp"),
        api.PipelineLoad(pipeline="pip-counter-2", sample="x"),
        api.Cancel(ids=[target.queued]),
        api.Stop(force=True),
    ]
    host_good = [host_api.HostShutdown(), host_api.DevReset(address="sim-counter", channel="1")]
    rng = random.Random(3)
    for endpoint, reqs in ((target.h.endpoint, good), (target.host, host_good)):
        with raw(endpoint) as sock:
            for req in reqs:
                frame = msgspec.json.encode(req)
                cuts = sorted({1, len(frame) - 1, *rng.sample(range(1, len(frame)), 12)})
                for cut in cuts:
                    refused(target, sock, [frame[:cut]], f"{frame[:cut]!r}")
    check_unchanged(target)


# -- sizes ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["daemon", "host"])
def test_oversized_messages(target: Target, which: str) -> None:
    endpoint = target.h.endpoint if which == "daemon" else target.host
    with raw(endpoint) as sock:
        big = b'{"cmd": "ping", "id": "big", "pad": "' + b"x" * (LIMIT + 1024) + b'"}'
        error = refused(target, sock, [big])
        assert "exceeds the limit" in error
        # Over the transport limit (twice the message limit) the peer is cut off
        # without a reply, before any of it is parsed.
        assert sock.exchange([b"x" * (2 * LIMIT + 1)], timeout=1.0) is None
        target.counts["dropped"] += 1
    with raw(endpoint) as sock:  # a new connection is served as ever
        got = sock.exchange([msgspec.json.encode(api.Ping(id="after"))])
        assert got is not None and json.loads(got[0]).get("ok", True) is True  # ok is omitted
    check_unchanged(target)


# -- well-formed requests about things that do not exist -------------------------------


def test_requests_about_nothing(target: Target) -> None:
    q, nobody = target.queued, 424242
    daemon_cases: list[tuple[Request, str]] = [
        (api.Jobs(ids=[nobody]), f"no job {nobody}"),
        (api.Cancel(ids=[nobody]), f"no job {nobody}"),
        (api.Snapshot(jobid=q), "not running"),
        (api.JobRebuild(jobid=q), "has not ended"),
        (api.JobRebuild(jobid=nobody), "no job"),
        (api.JobSpecRequest(jobid=q), "has not been started"),
        (api.JobEvent(jobid=q, kind="task_started", task_index=0), "has not started"),
        (api.JobEvent(jobid=q, kind="rm -rf", task_index=0), "unknown job event"),
        (api.JobDone(jobid=q, status="c"), "has not started"),
        (api.JobDone(jobid=q, status="rd"), "not a final status"),
        (api.PipelineLoad(pipeline="pip-counter-1", sample="other"), "already holds"),
        (api.PipelineLoad(pipeline="nope", sample="x"), "no pipeline"),
        (api.PipelineEject(pipeline="nope"), "no pipeline"),
        (api.PipelineReady(pipeline="nope"), "no pipeline"),
        (api.ComponentCall(name="counter:(x,1)", verb="dev_status"), "no component"),
        (api.ComponentCall(name="counter:(sim-counter,2)", verb="shutdown"), "unknown verb"),
        (api.HostHello(driver="counter", port=1, pid=1), "unexpected host pid"),
        (api.HostHello(driver="nope", port=1, pid=1), "not configured"),
        (api.HostFailed(driver="counter", pid=1, error="x"), "unexpected host pid"),
        (api.Submit(payload="\x00\x01", fmt="toml", source="p.toml", cwd="/"), "p.toml"),
        (api.Submit(payload="a = 1", fmt="exe", source="p.exe", cwd="/"), "unknown format"),
        (
            api.Submit(
                payload=payload("x", ("counter", 1, 0.1), output='{ path = "../up" }'),
                fmt="toml",
                source="p.toml",
                cwd=str(target.h.root),
            ),
            "leaves the submit folder",
        ),
    ]
    with raw(target.h.endpoint) as sock:
        for req, expected in daemon_cases:
            error = refused(target, sock, [msgspec.json.encode(req)], req)
            assert expected in error, (req, error)
    host_cases: list[Request] = [
        host_api.TaskData(address="nowhere", channel="9"),
        host_api.DevReset(address="nowhere", channel="9"),
        host_api.DevGetAttr(address="nowhere", channel="9", attr="max"),
        host_api.TaskStart(address="sim-counter", channel="2", task={"technique_name": "nope"}),
        host_api.DevSetAttr(address="sim-counter", channel="2", attr="no_such_attr", val=1),
    ]
    with raw(target.host) as sock:
        for req in host_cases:
            refused(target, sock, [msgspec.json.encode(req)], req)
    check_unchanged(target)


# -- bad files through the CLI ----------------------------------------------------------


def bad_payload_files(folder: Path) -> list[Path]:
    files = [DATA / "malformed" / n for n in ("payload_syntax.yml", "payload_deadlock.toml")]
    bomb = "sample: {identifier: s}\nmethod: [{component_role: counter, technique_name: count,"
    bomb += " max_duration: 1, sampling_interval: 1, task_params: {a0: &a0 [x,x,x,x,x,x,x,x,x]"
    for i in range(1, 9):
        bomb += f", a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]"
    texts = {
        "binary.toml": b"\x89PNG\r\n\x1a\n\x00\x00",
        "latin1.yml": "sample: {identifier: caf\xe9}".encode("latin-1"),
        "empty.json": b"",
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "bomb.yml": (bomb + "}}]\n").encode(),
        "payload.exe": b"sample = 1",
    }
    for name, data in texts.items():
        (folder / name).write_bytes(data)
        files.append(folder / name)
    return [*files, folder / "missing.toml"]


def test_bad_payload_files_through_the_cli(target: Target, tmp_path: Path) -> None:
    for path in bad_payload_files(tmp_path):
        got = target.h.cli("submit", str(path), cwd=tmp_path)
        assert got.returncode == 1, (path.name, got.returncode, got.stdout, got.stderr)
        lines = got.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sugo: "), (path.name, got.stderr)
        assert "internal error" not in lines[0] and "Traceback" not in got.stderr, lines[0]
        print(f"  {path.name}: {lines[0]}")
        target.counts["error"] += 1
    big_id = target.h.cli("jobs", str(2**64))
    assert big_id.returncode == 1 and "<= 9223372036854775807" in big_id.stderr
    check_unchanged(target)


# -- who listens -------------------------------------------------------------------------


def test_job_processes_do_not_listen_and_job_files_are_private(daemon: DaemonHarness) -> None:
    daemon.load_ready("pip-counter-1", "s")
    job = daemon.submit(payload("s", ("counter", 2, 0.1)))
    job = wait_for(lambda: (j := daemon.job(job["id"]))["runner_pid"] and j, 10, "a runner")
    status = daemon.status()
    procs = [psutil.Process(status["pid"]), psutil.Process(job["runner_pid"])]
    procs += psutil.Process(status["pid"]).children(recursive=True)  # the fork server
    procs += [psutil.Process(d["pid"]) for d in status["drivers"]]
    listening: dict[int, list[str]] = {}
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN or conn.type == 2:  # 2: SOCK_DGRAM
                    listening.setdefault(proc.pid, []).append(conn.laddr.ip)
    allowed = {status["pid"], *(d["pid"] for d in status["drivers"])}
    assert set(listening) <= allowed, f"unexpected listeners: {listening}"
    assert all(ip == "127.0.0.1" for ips in listening.values() for ip in ips), listening
    done = daemon.wait_job(job["id"])
    # The job's files are its owner's only (the results file follows the umask).
    jobdir = Path(done["jobdir"])
    private = {
        jobdir: 0o700,
        jobdir / "staging": 0o700,
        jobdir / "job.log": 0o600,
        **{f: 0o600 for f in (jobdir / "staging").iterdir()},
        daemon.appdir / "data" / "jobs": 0o700,
        daemon.appdir / "data" / "sugo.db": 0o600,
    }
    modes = {str(p): oct(p.stat().st_mode & 0o777) for p in private}
    assert modes == {str(p): oct(m) for p, m in private.items()}
