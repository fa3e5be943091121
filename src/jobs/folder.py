"""A job's folder (``<storage>/<id>/``): the one home of its file names.

The daemon, the runner, the writer, the CLI and the web API all read or write
these files; each takes the names from here.
"""

from pathlib import Path

RECORD_FILE = "job.json"  # the daemon's record of the job, rewritten after every change
FINAL_FILE = "final.json"  # the runner's own record of how its job ended
PENDING_FILE = "finalize.pending"  # the daemon's note that the job's results are still owed
CONSTANTS_FILE = "constants.json"  # the components' constants, kept at the job's start
JOB_LOG = "job.log"  # the runner's (and a finalize process's) log
STAGING_DIR = "staging"  # the staged records, one file per role
LAST_ID_FILE = "last-id"  # in the storage folder: the highest job id ever given out


def staging_dir(jobdir: str | Path) -> Path:
    return Path(jobdir) / STAGING_DIR


def job_log(jobdir: str | Path) -> Path:
    return Path(jobdir) / JOB_LOG
