"""The write and finalize modes: a job's results (or snapshot) file written
from its staging store, with the job's record, its components and their
constants, and the RO-Crate its payload may ask for.

The write mode runs for the daemon's writer (`sugo.daemon.jobs.writes`), in a
process forked from a parent that has NetCDF loaded; the finalize mode after a
runner died, or on ``sugo job rebuild``. A runner whose daemon does not answer
writes its file itself (`write_job_file`).
"""

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from sugo import __version__
from sugo.errors import SugoError
from sugo.jobs.folder import PENDING_FILE, load_constants, write_json
from sugo.jobs.progress import DAEMON_TIMEOUT
from sugo.protocol import daemon_api as api
from sugo.protocol.client import Client
from sugo.protocol.states import FINAL
from sugo.protocol.wire import to_builtins

log = logging.getLogger("sugo.job")


def write_job_file(spec: api.JobSpec, path: Path, status: str, error: str | None) -> Path:
    """Write the results (or a snapshot) file from the staging store."""
    from sugo.jobs.writer import GroupInfo, write_results

    record = json.loads(spec.job_json)
    record.update(status=status, error=error)
    if status in FINAL:
        record["completed_at"] = record.get("completed_at") or time.time()
    constants = load_constants(Path(spec.jobdir))
    groups = {
        r.role: GroupInfo(
            attrs={
                "sugo_component": json.dumps(
                    {**to_builtins(r.component), "constants": constants.get(r.role, {})}
                )
            },
            tasks=[
                {
                    "index": t.index,
                    "task_name": t.task.get("task_name") or "",
                    "technique_name": t.task["technique_name"],
                }
                for t in r.tasks
            ],
        )
        for r in spec.roles
    }
    root = {"sugo_version": __version__, "sugo_job": json.dumps(record)}
    path.parent.mkdir(parents=True, exist_ok=True)
    written = write_results(Path(spec.jobdir), path, root_attrs=root, groups=groups)
    if status in FINAL and str(path) == spec.respath:
        _crate_if_asked(record, path)
    return written


def _crate_if_asked(record: dict[str, Any], path: Path) -> None:
    """The RO-Crate of a job whose payload names repositories (tomato 2.2).
    A crate that cannot be made is logged: the results file is written."""
    from sugo.jobs.crate import make_crate, repositories_of

    if not repositories_of(record):
        return
    try:
        make_crate(path)
    except Exception:
        log.exception("job %s: the RO-Crate of %s was not written", record.get("id"), path)


def reason(e: BaseException) -> str:
    """What went wrong in one line, without the temporary file name an OSError
    carries; HDF5's long multi-line reports are cut down to their errno."""
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno)
    text = " ".join(str(e).split())
    found = re.search(r"errno = (\d+)", text)
    if found:
        return os.strerror(int(found[1]))
    return text or type(e).__name__


def write(spec: api.JobSpec, daemon: str, path: Path, status: str, error: str | None) -> int:
    """Write a running job's results or snapshot file for the daemon's writer,
    and tell the daemon how it went (not through a file: the job folder may
    be on a full disk)."""
    problem = None
    try:
        write_job_file(spec, path, status, error)
    except Exception as e:
        log.exception("job %d: %s not written", spec.jobid, path)
        problem = f"cannot write {path}: {reason(e)}"
    try:
        with Client(daemon, timeout=DAEMON_TIMEOUT) as client:
            client.call(api.JobWritten(jobid=spec.jobid, path=str(path), error=problem), retries=2)
    except SugoError as e:
        log.error("job %d: cannot tell the daemon that %s is written: %s", spec.jobid, path, e)
        return 1
    return 0 if problem is None else 1


def finalize(spec: api.JobSpec, report: Path | None) -> int:
    """Write the results file of an ended job from its staging store (after its
    runner died, or on `sugo job rebuild`); ``report`` gets the outcome as JSON."""
    record = json.loads(spec.job_json)
    outcome: dict[str, Any] = {"ok": True, "respath": spec.respath, "error": None}
    try:
        write_job_file(spec, Path(spec.respath), record.get("status", "ce"), record["error"])
        log.info("job %d: results written from the staging store", spec.jobid)
        (Path(spec.jobdir) / PENDING_FILE).unlink(missing_ok=True)
    except Exception as e:
        log.exception("job %d: cannot write the results file", spec.jobid)
        outcome = {
            "ok": False,
            "respath": None,
            "error": f"cannot write {spec.respath}: {reason(e)}",
        }
    if report is not None:
        write_json(report, outcome)
    return 0 if outcome["ok"] else 1
