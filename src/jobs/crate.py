"""RO-Crates of jobs (as tomato 2.2 makes them): `results.<id>.zip` beside
`results.<id>.nc`, holding the NetCDF file with its author, its sample and
sugo's job metadata, conforming to the profile tomato uses.

Everything a crate says is read from the results file itself (its root
`sugo_job` record), so a crate can be made for any finished job, long after
it ran (`sugo job crate ID`). The `rocrate` library is imported only here,
and only when a crate is made.
"""

import json
import logging
import os
from pathlib import Path
from typing import Any

from sugo import __version__
from sugo.errors import SugoError
from sugo.protocol.states import FINAL

log = logging.getLogger(__name__)

#: The RO-Crate profile tomato's crates conform to (tomato 2.2), and its version.
PROFILE_URI = "https://github.com/MADICES/MADICES-2025/discussions/25"
PROFILE_VERSION = "0.2"
NETCDF = "application/netcdf"
ACTION_STATUS = {
    "c": "http://schema.org/CompletedActionStatus",
    "ce": "http://schema.org/FailedActionStatus",
    "cd": "http://schema.org/FailedActionStatus",
}


def crate_path(respath: str | Path) -> Path:
    """Where the crate of a results file goes: the same name, `.zip`."""
    return Path(respath).with_suffix(".zip")


def job_record(respath: str | Path) -> dict[str, Any]:
    """The `sugo_job` record at the root of a results file."""
    import h5py

    try:
        with h5py.File(respath, "r") as f:
            raw = f.attrs.get("sugo_job")
    except OSError as e:
        raise SugoError(f"{respath}: cannot read the results file: {e}") from None
    if raw is None:
        raise SugoError(f"{respath}: not a sugo results file (no sugo_job record)")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(json.loads(text))


def make_crate(respath: str | Path) -> Path:
    """Write the RO-Crate of a finished job's results file; returns its path."""
    try:
        from rocrate.model.contextentity import ContextEntity
        from rocrate.model.person import Person
        from rocrate.rocrate import ROCrate
    except ImportError:
        raise SugoError("RO-Crates need the rocrate library: pip install 'sugo[crate]'") from None

    respath = Path(respath)
    record = job_record(respath)
    if record.get("status") not in FINAL:
        raise SugoError(f"job {record.get('id')} has not ended (status {record.get('status')})")
    payload = record.get("payload") or {}
    sample = payload.get("sample") or {}
    jobid = record.get("id")
    userid = (payload.get("user") or {}).get("identifier") or record.get("user") or "unknown"
    sampleid = sample.get("identifier") or record.get("sample") or "unknown"

    crate = ROCrate()
    profile = crate.add(
        ContextEntity(
            crate, PROFILE_URI, properties={"@type": "Profile", "version": PROFILE_VERSION}
        )
    )
    author = crate.add(Person(crate, userid, properties={"name": userid}))
    parent = crate.add(
        ContextEntity(crate, sampleid, properties={"@type": "RepositoryObject", "name": sampleid})
    )
    target = parent
    if sample.get("sample_is_parent", True):
        # a destructive experiment: the job's data belongs to a child of the sample
        child = crate.add(
            ContextEntity(
                crate,
                f"#{sampleid}/job-{jobid}",
                properties={"@type": "RepositoryObject", "name": f"{sampleid} after job {jobid}"},
            )
        )
        parent["hasPart"] = child
        target = child
    data = crate.add_file(
        str(respath),
        dest_path=respath.name,
        properties={"encodingFormat": NETCDF, "author": author, "name": respath.name},
    )
    root = crate.root_dataset
    root["conformsTo"] = profile
    root["name"] = f"sugo job {jobid}" + (
        f" ({record['jobname']})" if record.get("jobname") else ""
    )
    root["description"] = f"Data of sugo job {jobid} on sample {sampleid}"
    target["hasPart"] = root
    crate.add(_job_action(crate, ContextEntity, record, author, target, data))

    out = crate_path(respath)
    tmp = out.with_name(f".{out.stem}.tmp.zip")
    crate.write_zip(str(tmp))
    os.replace(tmp, out)
    log.info("job %s: RO-Crate written to %s", jobid, out)
    return out


def _job_action(
    crate: Any, entity: Any, record: dict[str, Any], author: Any, sample: Any, data: Any
) -> Any:
    """sugo's job metadata: the job as a CreateAction that made the file."""
    props: dict[str, Any] = {
        "@type": "CreateAction",
        "name": f"sugo job {record.get('id')}",
        "agent": author,
        "object": sample,
        "result": data,
        "actionStatus": ACTION_STATUS.get(str(record.get("status")), ""),
        "instrument": f"sugo {__version__}, pipeline {record.get('pipeline')}",
        "sugo_job": json.dumps({k: v for k, v in record.items() if k != "payload"}),
    }
    for key, field in (("startTime", "started_at"), ("endTime", "completed_at")):
        if record.get(field):
            props[key] = _iso(record[field])
    if record.get("error"):
        props["error"] = record["error"]
    return entity(crate, f"#sugo-job-{record.get('id')}", properties=props)


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(float(ts), tz=UTC).isoformat()


def repositories_of(record_or_payload: dict[str, Any]) -> list[str]:
    """The repositories a payload names (`settings.output.repositories`)."""
    payload = record_or_payload.get("payload", record_or_payload)
    output = ((payload.get("settings") or {}).get("output")) or {}
    return [str(r) for r in output.get("repositories") or []]
