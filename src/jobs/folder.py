"""A job's folder (``<storage>/<id>/``): the one home of its file names.

The daemon, the runner, the writer, the CLI and the web API all read or write
these files; each takes the names from here.
"""

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("sugo.job")

RECORD_FILE = "job.json"  # the daemon's record of the job, rewritten after every change
TASKS_FILE = "tasks.json"  # the daemon's record of the job's tasks, rewritten when one changes
FINAL_FILE = "final.json"  # the runner's own record of how its job ended
PENDING_FILE = "finalize.pending"  # the daemon's note that the job's results are still owed
CONSTANTS_FILE = "constants.json"  # the components' constants, kept at the job's start
JOB_LOG = "job.log"  # the runner's (and a finalize process's) log
STAGING_DIR = "staging"  # the staged records, one file per role
STAGED_SUFFIX = ".rec"  # of a role's file in STAGING_DIR (`sugo.jobs.records.role_file`)
REBUILD_REPORT = "rebuild.json"  # how the last `sugo job rebuild` of the job went
LAST_ID_FILE = "last-id"  # in the storage folder: the highest job id ever given out
PIPELINES_FILE = "pipelines.json"  # in the storage folder: what each pipeline holds


def staging_dir(jobdir: str | Path) -> Path:
    return Path(jobdir) / STAGING_DIR


def staged_files(jobdir: str | Path) -> list[Path]:
    """The job's staging files (one per role), sorted; none without a staging folder."""
    folder = staging_dir(jobdir)
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"*{STAGED_SUFFIX}"))


def job_log(jobdir: str | Path) -> Path:
    return Path(jobdir) / JOB_LOG


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Replace ``path`` with ``record`` at once (a temporary file renamed)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def save_constants(jobdir: Path, constants: dict[str, Any]) -> None:
    """Keep the components' constants beside the staging store, so whoever
    writes the results file (the runner, or the daemon after a crash) has them."""
    try:
        write_json(jobdir / CONSTANTS_FILE, constants)
    except (OSError, TypeError, ValueError) as e:
        log.warning("constants not kept in %s: %s", jobdir, e)


def load_constants(jobdir: Path) -> dict[str, Any]:
    try:
        data = json.loads((jobdir / CONSTANTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
