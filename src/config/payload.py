"""The payload: what a job runs (tomato's Payload 2.2 field set).

Older tomato payload versions are upgraded on load (see `sugo.config.upgrade`),
so everything past the loader sees one native model.
"""

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, StrictBool, model_validator

from sugo.config.files import (
    FrozenModel,
    LogLevel,
    Name,
    Seconds,
    format_of,
    parse_mapping,
    problem,
    read_text,
    validate,
)
from sugo.config.upgrade import NATIVE_VERSION, upgrade
from sugo.driverinterface.task import Task


class PayloadUser(FrozenModel):
    """Who submitted the job; the daemon fills in the OS user when unset."""

    identifier: Name | None = None


class PayloadSample(FrozenModel):
    """The sample; it must equal the sample loaded in the pipeline."""

    identifier: Name
    # tomato 2.2: a job changes its sample (the default), so its RO-Crate puts
    # the data on a child of the sample; false puts it on the sample itself.
    sample_is_parent: bool = True


class OutputSettings(FrozenModel):
    """Where the results file goes (default: submit's cwd, `results.<jobid>.nc`)."""

    path: str | None = None
    prefix: str | None = None
    repositories: list[str] = Field(default_factory=list)


class SnapshotSettings(FrozenModel):
    """Periodic snapshot files while the job runs: `<path>/<prefix>.nc`, by
    default `snapshot.<jobid>.nc` in the results folder."""

    interval: Seconds = 3600.0
    path: str | None = None
    prefix: str | None = None


class PayloadSettings(FrozenModel):
    """How the job is run and where its output goes."""

    unlock_when_done: StrictBool = False
    verbosity: LogLevel = "INFO"
    output: OutputSettings = OutputSettings()
    snapshot: SnapshotSettings | None = None


class Payload(FrozenModel):
    """A job's payload: sample, settings and the method, a list of tasks."""

    version: Literal["2.2"] = NATIVE_VERSION
    user: PayloadUser = PayloadUser()
    sample: PayloadSample
    settings: PayloadSettings = PayloadSettings()
    method: list[Task] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_task_names(self) -> "Payload":
        names: dict[str, int] = {}
        for i, task in enumerate(self.method):
            if task.task_name is None:
                continue
            if task.task_name in names:
                first = names[task.task_name]
                raise problem(
                    ("method", i, "task_name"),
                    f"duplicate task name {task.task_name!r} (also method[{first}])",
                )
            names[task.task_name] = i
        known = ", ".join(names) or "none"
        for i, task in enumerate(self.method):
            for key in ("start_with_task_name", "stop_with_task_name"):
                wanted = getattr(task, key)
                if wanted is None:
                    continue
                if wanted == task.task_name:
                    raise problem(("method", i, key), "a task cannot trigger itself")
                if wanted not in names:
                    raise problem(
                        ("method", i, key), f"no task named {wanted!r} (task names: {known})"
                    )
        self._check_can_start(names)
        return self

    def _check_can_start(self, names: dict[str, int]) -> None:
        # A task starts once the previous task of its role is done and, with
        # start_with_task_name, once the named task has started. Find the tasks
        # that can start; the first one that cannot waits on a cycle.
        previous: dict[str, int] = {}
        waits: list[list[int]] = []
        for i, task in enumerate(self.method):
            deps = [previous[task.component_role]] if task.component_role in previous else []
            if task.start_with_task_name is not None:
                deps.append(names[task.start_with_task_name])
            waits.append(deps)
            previous[task.component_role] = i
        started: set[int] = set()
        progress = True
        while progress:
            progress = False
            for i, deps in enumerate(waits):
                if i not in started and all(d in started for d in deps):
                    started.add(i)
                    progress = True
        stuck = [i for i in range(len(self.method)) if i not in started]
        if stuck:
            # The lowest stuck task's role predecessor did start, so its own
            # start trigger is what can never fire.
            i = stuck[0]
            raise problem(
                ("method", i, "start_with_task_name"),
                f"task {self.method[i].start_with_task_name!r} can never start before this "
                "one (the tasks wait on each other)",
            )

    def roles(self) -> list[str]:
        """The distinct component roles of the method, in method order."""
        return list(dict.fromkeys(task.component_role for task in self.method))

    def tasks_of(self, role: str) -> list[tuple[int, Task]]:
        """The tasks of one role, each with its index in the method."""
        return [(i, task) for i, task in enumerate(self.method) if task.component_role == role]

    def with_user(self, identifier: str) -> "Payload":
        """A copy with `user.identifier` set (the daemon uses the OS user)."""
        return self.model_copy(update={"user": PayloadUser(identifier=identifier)})


def parse_payload(text: str, fmt: str, source: str) -> Payload:
    """Parse payload text in `fmt` ("toml", "yaml"/"yml", "json"); `source`
    names it in errors. Older tomato versions are upgraded to the native model.
    """
    data: dict[str, Any] = parse_mapping(text, fmt, source)
    return validate(Payload, upgrade(data, source), source)


def load_payload(path: Path) -> Payload:
    """Load a payload file, its format chosen by its suffix."""
    path = Path(path)
    fmt = format_of(path)
    return parse_payload(read_text(path), fmt, str(path))
