"""What the pipelines hold, kept beside the job folders
(``<storage>/pipelines.json``): the durable record of the pipelines table, as
the job folders are of the jobs table (`sugo.daemon.store.jobrecords`).

Which sample is loaded where and whether it is marked ready is the lab's
word, said once (`sugo pipeline load/ready`); a lost database must not lose
it, or the queued jobs for those samples never start. The store rewrites the
file after every pipeline change it commits (a load, an eject, a ready mark, a
job taking or freeing a pipeline: none at submit). A rebuild reads it back
(`restorable`) when the pipelines table is empty; the daemon's start then
makes the pipelines match the devices file (`sugo.daemon.reload.sync_store`).
"""

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from sugo.daemon.store.jobrecords import write_record
from sugo.daemon.store.rows import JobRow, PipelineRow
from sugo.jobs.folder import PIPELINES_FILE
from sugo.protocol.states import RUNNING, JobStatus

log = logging.getLogger(__name__)


def path_in(storage: Path) -> Path:
    return Path(storage) / PIPELINES_FILE


def save(
    storage: Path,
    rows: Sequence[PipelineRow],
    write: Callable[[Path, bytes], None] = write_record,
) -> None:
    """Write every pipeline's record (through ``write``: the store's
    `RecordWriter`; a reader sees the old or the new file)."""
    path = path_in(storage)
    if not path.parent.is_dir():
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            log.warning("cannot write %s: %s", path, e)
            return
    write(path, msgspec.json.encode(list(rows)))


def load(storage: Path) -> list[PipelineRow]:
    """The pipelines recorded in ``storage``: FileNotFoundError without a
    record, OSError or ValueError for one that is unusable."""
    try:
        rows = msgspec.json.decode(path_in(storage).read_bytes(), type=list[PipelineRow])
    except msgspec.MsgspecError as e:
        raise ValueError(str(e)) from e
    names = [r.name for r in rows]
    if len(set(names)) != len(names):
        raise ValueError("a pipeline is recorded twice")
    return rows


def worth_restoring(storage: Path) -> bool:
    """True if ``storage`` holds a record of pipelines to restore, or one a
    rebuild must report as unusable."""
    try:
        return bool(load(storage))
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True


def move_aside(storage: Path) -> Path | None:
    """Keep an unusable record for a look (the next pipeline change would
    overwrite it); returns where it went."""
    path = path_in(storage)
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        os.replace(path, aside)
    except OSError as e:
        log.warning("cannot move %s aside: %s", path, e)
        return None
    return aside


def restorable(
    rows: Sequence[PipelineRow], job: Callable[[int], JobRow | None]
) -> tuple[list[PipelineRow], list[str]]:
    """The recorded pipelines as they can be put back, and what was changed.

    A pipeline keeps the job it held only while that job still runs; else it
    is freed as the job's end frees it (ready again only after a completed
    job that asked to unlock its pipeline)."""
    out, changed = [], []
    for p in rows:
        held = None if p.jobid is None else job(p.jobid)
        if p.jobid is None or (held is not None and held.status in RUNNING):
            out.append(p)
            continue
        ready = bool(held and held.unlock_when_done and held.status == JobStatus.C)
        why = f"has ended ({held.status})" if held else "is gone"
        changed.append(f"pipeline {p.name} freed: job {p.jobid} {why}")
        out.append(msgspec.structs.replace(p, jobid=None, ready=ready))
    return out, changed
