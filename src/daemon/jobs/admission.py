"""Where a new job's files go, checked at submit: never a silent overwrite,
never a setting accepted and then ignored.

A job writes its results file (``output.path``/``output.prefix``, default
``<submit folder>/results.<jobid>.nc``) and, on request or every
``snapshot.interval``, a snapshot file (``snapshot.path``/``snapshot.prefix``,
default ``<results folder>/snapshot.<jobid>.nc``). A submit is refused, with
the reason in one line, when a file the payload names:

- will be written by a queued or running job too (results or snapshot);
- exists already as a results file: an earlier job's data (or anything else:
  sugo never overwrites what it did not write for this job); a snapshot file
  is rewritten on purpose, unless it is some job's results file;
- is a folder, or has a name too long for the file system (the writer's
  temporary name included), so that the job would only fail at its end.

Names with the job id (the defaults) cannot meet another job's, as a payload
may not name its files so (`results.7` would be job 7's file).
"""

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sugo.errors import SugoError

if TYPE_CHECKING:
    from sugo.config.payload import Payload
    from sugo.daemon.store.rows import JobRow

SUFFIX = ".nc"
#: What `sugo.jobs.writer.write_results` adds to a file name for its temporary
#: file: "." + name + "." + pid (up to 7 digits) + "." + 8 hex digits + ".tmp".
TEMP_NAME_EXTRA = 1 + 1 + 7 + 1 + 8 + 4
NAME_MAX_FALLBACK = 255  # where os.pathconf is missing (Windows) or cannot tell
#: The names of the files of a job that names none: `results.<id>` and `snapshot.<id>`.
_DEFAULT_NAME = re.compile(r"(results|snapshot)\.([0-9]+)")


@dataclass(frozen=True)
class Outputs:
    """The folders and prefixes of a job's results and snapshot files."""

    folder: str
    prefix: str | None
    snap_folder: str
    snap_prefix: str | None

    def custom_snapshot(self, jobid: int) -> str | None:
        """The snapshot file the payload asks for; None for the default one."""
        if self.snap_prefix is None and self.snap_folder == self.folder:
            return None
        return str(Path(self.snap_folder) / f"{self.snap_prefix or f'snapshot.{jobid}'}{SUFFIX}")

    def named(self) -> list[tuple[str, Path]]:
        """The files the payload names (its key, the path), without the id-named defaults."""
        out = []
        if self.prefix is not None:
            out.append(("output.prefix", Path(self.folder) / f"{self.prefix}{SUFFIX}"))
        if self.snap_prefix is not None:
            out.append(("snapshot.prefix", Path(self.snap_folder) / f"{self.snap_prefix}{SUFFIX}"))
        return out


def resolve_folder(given: str | None, base: Path, key: str) -> Path:
    """An output folder; a relative one must stay inside the submit folder
    ``base`` (an absolute path writes elsewhere)."""
    if not given:
        return base
    path = Path(given).expanduser()
    folder = path if path.is_absolute() else (base / path).resolve()
    if not path.is_absolute() and not folder.is_relative_to(base):
        raise SugoError(
            f"{key} {given!r} leaves the submit folder {base};"
            " give an absolute path to write elsewhere"
        )
    return folder


def check_prefix(prefix: str | None, key: str) -> None:
    """A prefix is a plain file name: no folder parts."""
    if prefix is not None and (
        prefix in ("", ".", "..") or "/" in prefix or "\\" in prefix or "\0" in prefix
    ):
        raise SugoError(f"{key} {prefix!r} must be a plain file name")
    default = _DEFAULT_NAME.fullmatch(prefix or "")
    if default:
        # Another job's file: job N without a prefix would write over it (or it over N's).
        raise SugoError(
            f"{key} {prefix!r} is the name sugo gives job {default[2]}'s {default[1]} file"
            f" by default; give another {key}"
        )


def outputs_of(payload: "Payload", cwd: str, folder: str, prefix: str | None) -> Outputs:
    """The job's files: the results folder and prefix as resolved by the
    caller, the snapshot's from the payload's `snapshot` settings."""
    snap = payload.settings.snapshot
    snap_folder, snap_prefix = folder, None
    if snap is not None:
        if snap.path:
            snap_folder = str(resolve_folder(snap.path, Path(cwd).resolve(), "snapshot.path"))
        check_prefix(snap.prefix, "snapshot.prefix")
        snap_prefix = snap.prefix
    return Outputs(folder, prefix, snap_folder, snap_prefix)


def planned_files(jobs: Iterable[tuple["JobRow", str, str]]) -> dict[str, str]:
    """What each queued or running job (with its results and snapshot path) will write."""
    planned: dict[str, str] = {}
    for job, results, snapshot in jobs:
        planned[results] = f"job {job.id} ({job.status}) writes its results there"
        planned.setdefault(snapshot, f"job {job.id} ({job.status}) writes its snapshots there")
    return planned


def check_outputs(
    out: Outputs, planned: dict[str, str], owner_of: Callable[[str], int | None]
) -> None:
    """Refuse files that clash with other jobs' or with what is on disk.

    ``planned``: `planned_files` of the queued and running jobs; ``owner_of``:
    the job whose recorded results file a path is (asked only for a file
    that exists)."""
    named = out.named()
    if len(named) == 2 and named[0][1] == named[1][1]:
        raise SugoError(
            f"snapshot.prefix: the snapshot file {named[1][1]} would be the results file;"
            " give it another name"
        )
    for key, path in named:
        other = planned.get(str(path))
        if other is not None:
            raise SugoError(f"{key}: {path}: {other}; give this job another {key}")
        check_name(path, key)
        try:
            is_dir = path.is_dir()
            exists = path.exists() or path.is_symlink()
        except OSError as e:
            raise SugoError(f"{key}: {path}: {e.strerror or e}") from None
        if is_dir:
            raise SugoError(f"{key}: {path} is a folder; give another {key}")
        if not exists:
            continue
        owner = owner_of(str(path))
        if key == "snapshot.prefix" and owner is None:
            continue  # an older snapshot: rewriting it is what snapshots do
        whose = f" (the results of job {owner})" if owner is not None else ""
        raise SugoError(
            f"{key}: {path} already exists{whose}; sugo does not overwrite it:"
            f" give another {key}, or move the file away"
        )


def name_max(folder: Path) -> int:
    """The longest file name (bytes) on the file system of ``folder`` (or of
    its nearest existing parent)."""
    probe = folder
    try:
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        return int(os.pathconf(probe, "PC_NAME_MAX"))
    except (AttributeError, OSError, ValueError):  # no pathconf on Windows
        return NAME_MAX_FALLBACK


def check_name(path: Path, key: str) -> None:
    """Refuse a file name the file system cannot hold, with the writer's temporary name."""
    allowed = name_max(path.parent) - TEMP_NAME_EXTRA - len(SUFFIX)
    length = len(os.fsencode(path.name)) - len(SUFFIX)
    if length > allowed:
        raise SugoError(
            f"{key} is {length} bytes long; at most {allowed} fit in a file name in"
            f" {path.parent} (with {SUFFIX!r} and the writer's temporary name)"
        )


def respath_of(output_dir: str, prefix: str | None, jobid: int) -> str:
    return str(Path(output_dir) / f"{prefix or f'results.{jobid}'}.nc")


def respath_for(job: "JobRow") -> str:
    """The results file of a started job: recorded, or planned from its output settings."""
    return job.respath or respath_of(job.output_dir, job.prefix, job.id)


def snappath_of(job: "JobRow") -> str:
    """The snapshot file: the one the payload asked for (recorded at submit), or the default."""
    return job.snappath or str(Path(job.output_dir) / f"snapshot.{job.id}.nc")


def check_writable(folder: Path) -> None:
    """Refuse an output folder that cannot be written (or created): better
    now than as a failed job at its end."""
    probe = folder
    try:
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        is_dir = probe.is_dir()
    except OSError as e:  # e.g. a parent folder we may not enter
        raise SugoError(f"output folder {folder}: {e.strerror or e}") from None
    if not is_dir:
        raise SugoError(f"output folder {folder}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SugoError(f"output folder {folder} is not writable ({probe}: no write access)")


def resolve_output(payload: "Payload", cwd: str) -> tuple[str, str | None]:
    """Output folder and prefix of a payload; relative paths must stay inside
    the submit folder (give an absolute path to write elsewhere)."""
    out = payload.settings.output
    folder = resolve_folder(out.path, Path(cwd).resolve(), "output.path")
    check_prefix(out.prefix, "output.prefix")
    return str(folder), out.prefix
