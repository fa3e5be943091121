"""Every reply of a real daemon decodes into the struct the protocol declares
for its request (``DAEMON_REPLIES``, ``AGENT_REPLIES``), and the struct holds
all of it: encoding the struct again gives back everything the daemon sent
(plus the defaults of fields it leaves out), so the handlers can return these
structs without losing anything on the wire."""

import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sugo.protocol import agent_api
from sugo.protocol import daemon_api as api
from sugo.protocol.wire import Request, to_builtins
from tests.integration.harness import DaemonHarness, wait_for
from tests.integration.test_jobs_lifecycle import payload
from tests.integration.test_registry import MAINTENANCE_DEVICES

pytestmark = pytest.mark.integration


def covers(encoded: Any, raw: Any, where: str) -> None:
    """Everything in ``raw`` is in ``encoded`` with the same value."""
    if isinstance(raw, dict):
        assert isinstance(encoded, dict), where
        for key, value in raw.items():
            assert key in encoded, f"{where}.{key} is lost"
            covers(encoded[key], value, f"{where}.{key}")
    elif isinstance(raw, list):
        assert isinstance(encoded, list) and len(encoded) == len(raw), where
        for i, (e, r) in enumerate(zip(encoded, raw, strict=True)):
            covers(e, r, f"{where}[{i}]")
    else:  # (the same type too: 7 and 7.0 print differently in --json)
        assert type(encoded) is type(raw) and encoded == raw, where


def ask(h: DaemonHarness, req: Request, seen: set[type], timeout: float = 10.0) -> Any:
    """Send ``req``; check its reply against the declared type; return the struct."""
    raw = h.call(req, timeout=timeout)
    kind = type(req)
    reply_type = {**api.DAEMON_REPLIES, **agent_api.AGENT_REPLIES}[kind]
    decoded = msgspec.convert(raw, reply_type)
    covers(to_builtins(decoded), raw, kind.__name__)
    seen.add(kind)
    return decoded


def test_every_reply_decodes_into_its_struct(make_daemon, tmp_path: Path) -> None:
    h: DaemonHarness = make_daemon(MAINTENANCE_DEVICES)
    seen: set[type] = set()
    ask(h, api.Ping(), seen)
    ask(h, api.Status(), seen)
    ask(h, api.PipelineLoad(pipeline="pip-counter", sample="r1"), seen)
    ask(h, api.PipelineEject(pipeline="pip-counter"), seen)
    ask(h, api.PipelineLoad(pipeline="pip-counter", sample="r1"), seen)
    ask(h, api.PipelineReady(pipeline="pip-counter"), seen)
    text = payload("r1", ("counter", 30, 0.1))
    req = api.Submit(payload=text, fmt="toml", source="p.toml", cwd=str(tmp_path), jobname="rr")
    ask(h, api.SubmitCheck(**msgspec.structs.asdict(req)), seen, timeout=30.0)
    job = ask(h, req, seen, timeout=30.0)
    wait_for(lambda: h.job(job.id)["tasks"][0]["state"] == "running", 15, "the task to run")
    ask(h, api.Jobs(ids=[job.id]), seen)
    ask(h, api.Jobs(recent=5), seen)
    ask(h, api.Search(text="rr"), seen)
    ask(h, api.JobSpecRequest(jobid=job.id), seen)
    ask(h, api.ComponentCall(name="counter:(sim,1)", verb="task_status"), seen)
    time.sleep(0.3)  # some points to write
    ask(h, api.Snapshot(jobid=job.id), seen, timeout=40.0)
    ask(h, api.Cancel(ids=[job.id]), seen)
    h.wait_job(job.id, timeout=20)
    ask(h, api.JobLog(jobid=job.id), seen)
    ask(h, api.JobRebuild(jobid=job.id), seen, timeout=60.0)
    ask(h, api.Events(after=0), seen)
    ask(h, api.MaintenanceStatus(), seen)
    ask(h, api.MaintenanceDone(device="dev-counter", label="clean"), seen)
    ask(h, api.ComponentRestart(name="counter:(sim,1)"), seen, timeout=20.0)
    ask(h, api.Reload(), seen, timeout=30.0)
    ask(h, api.JobPrune(days=0), seen)
    ask(h, agent_api.Agents(), seen)
    ask(h, api.Stop(), seen, timeout=30.0)
    assert h.proc is not None
    h.proc.wait(20)
    # The requests of driver hosts and job runners (host_hello, job_event, ...)
    # are made by those processes in every job above; the CLI's are all here.
    runners = {
        api.HostHello, api.HostFailed, api.JobEvent, api.JobDone, api.JobControl,
        api.JobWrite, api.JobWritten,
    }  # fmt: skip
    agents = {agent_api.AgentRegister, agent_api.AgentAlive, agent_api.AgentUnregister}
    assert set(api.DAEMON_REPLIES) - seen == runners
    assert set(agent_api.AGENT_REPLIES) - seen == agents
