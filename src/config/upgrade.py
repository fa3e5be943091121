"""Upgrades of older tomato payloads (0.1, 0.2, 1.0, 2.0, 2.1) to the native 2.2 shape.

Each old version is validated against a model of its own shape first (unknown
keys are errors there too, and error paths use the file's own key names), then
rewritten as a native payload dict for `sugo.config.payload.Payload`.
"""

from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictBool

from sugo.config.files import FrozenModel, LogLevel, Name, Seconds, validate
from sugo.driverinterface.task import Task
from sugo.errors import ConfigError

NATIVE_VERSION: Literal["2.2"] = "2.2"
LEGACY_VERSIONS = ("0.1", "0.2", "1.0", "2.0", "2.1")


class LegacySample(FrozenModel):
    """`sample` before 2.2: identified by `name`."""

    name: Name


class LegacyOutput(FrozenModel):
    """`output` before 2.2: no repositories."""

    path: str | None = None
    prefix: str | None = None


class LegacySnapshot(FrozenModel):
    """`snapshot` before 2.2: `frequency` (seconds) instead of `interval`."""

    path: str | None = None
    prefix: str | None = None
    frequency: Seconds = 3600.0

    def native(self) -> dict[str, Any]:
        return {"path": self.path, "prefix": self.prefix, "interval": self.frequency}


class TomatoSection01(FrozenModel):
    """The top-level `tomato:` section of 0.1 (no snapshots yet)."""

    unlock_when_done: StrictBool = False
    verbosity: LogLevel = "INFO"
    output: LegacyOutput = LegacyOutput()

    def native(self) -> dict[str, Any]:
        return {
            "unlock_when_done": self.unlock_when_done,
            "verbosity": self.verbosity,
            "output": self.output.model_dump(),
        }


class LegacySettings(TomatoSection01):
    """`tomato:` of 0.2, and `settings:` of 1.0 to 2.1."""

    snapshot: LegacySnapshot | None = None

    def native(self) -> dict[str, Any]:
        out = super().native()
        if self.snapshot is not None:
            out["snapshot"] = self.snapshot.native()
        return out


class Method0(FrozenModel):
    """A 0.x method step; keys other than these four are the task's parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)

    device: Name
    technique: Name
    time: Seconds
    delay: Seconds

    def native(self) -> dict[str, Any]:
        return {
            "component_role": self.device,
            "technique_name": self.technique,
            "max_duration": self.time,
            "sampling_interval": self.delay,
            "task_params": dict(self.model_extra or {}),
        }


class Task10(FrozenModel):
    """A 1.0 task: `component_tag` and `technique_params`."""

    component_tag: Name
    technique_name: Name
    max_duration: Seconds
    sampling_interval: Seconds
    polling_interval: Seconds | None = None
    technique_params: dict[str, Any] | None = None

    def native(self) -> dict[str, Any]:
        return {
            "component_role": self.component_tag,
            "technique_name": self.technique_name,
            "max_duration": self.max_duration,
            "sampling_interval": self.sampling_interval,
            "polling_interval": self.polling_interval,
            "task_params": dict(self.technique_params or {}),
        }


class Task20(FrozenModel):
    """A 2.0 task: `component_tag` and `task_params`."""

    component_tag: Name
    technique_name: Name
    max_duration: Seconds
    sampling_interval: Seconds
    polling_interval: Seconds | None = None
    task_params: dict[str, Any] = Field(default_factory=dict)

    def native(self) -> dict[str, Any]:
        out = self.model_dump(exclude={"component_tag"})
        out["component_role"] = self.component_tag
        return out


def _native(
    sample: LegacySample, settings: TomatoSection01, method: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "version": NATIVE_VERSION,
        "sample": {"identifier": sample.name},
        "settings": settings.native(),
        "method": method,
    }


class Payload01(FrozenModel):
    """Payload 0.1: `tomato:` section, `method` steps with `device` and `technique`."""

    version: Literal["0.1"]
    sample: LegacySample
    method: list[Method0] = Field(min_length=1)
    tomato: TomatoSection01 = TomatoSection01()

    def native(self) -> dict[str, Any]:
        return _native(self.sample, self.tomato, [step.native() for step in self.method])


class Payload02(FrozenModel):
    """Payload 0.2: adds `tomato.snapshot`."""

    version: Literal["0.2"]
    sample: LegacySample
    method: list[Method0] = Field(min_length=1)
    tomato: LegacySettings = LegacySettings()

    def native(self) -> dict[str, Any]:
        return _native(self.sample, self.tomato, [step.native() for step in self.method])


class Payload10(FrozenModel):
    """Payload 1.0: a `settings:` section and tasks with `component_tag`."""

    version: Literal["1.0"]
    sample: LegacySample
    settings: LegacySettings = LegacySettings()
    method: list[Task10] = Field(min_length=1)

    def native(self) -> dict[str, Any]:
        return _native(self.sample, self.settings, [task.native() for task in self.method])


class Payload20(FrozenModel):
    """Payload 2.0: `task_params` instead of `technique_params`."""

    version: Literal["2.0"]
    sample: LegacySample
    settings: LegacySettings = LegacySettings()
    method: list[Task20] = Field(min_length=1)

    def native(self) -> dict[str, Any]:
        return _native(self.sample, self.settings, [task.native() for task in self.method])


class Payload21(FrozenModel):
    """Payload 2.1: native tasks (roles, names, triggers); old sample and snapshot."""

    version: Literal["2.1"]
    sample: LegacySample
    settings: LegacySettings = LegacySettings()
    method: list[Task] = Field(min_length=1)

    def native(self) -> dict[str, Any]:
        tasks = [task.model_dump(exclude_none=True) for task in self.method]
        return _native(self.sample, self.settings, tasks)


_SHAPES: dict[str, type[Payload01 | Payload02 | Payload10 | Payload20 | Payload21]] = {
    "0.1": Payload01,
    "0.2": Payload02,
    "1.0": Payload10,
    "2.0": Payload20,
    "2.1": Payload21,
}


def _version(value: Any) -> Any:
    # An unquoted `version: 2.1` in YAML is a float.
    if isinstance(value, float | int) and not isinstance(value, bool):
        return str(value)
    return value


def upgrade(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Return `data` in the native payload shape, upgrading an older version.

    A missing version means native. Validation errors of an old shape are
    raised as `ConfigError` naming `source` and the key path in the file.
    """
    if "version" not in data:
        return data
    version = _version(data["version"])
    if version == NATIVE_VERSION:
        return {**data, "version": version}
    shape = _SHAPES.get(version) if isinstance(version, str) else None
    if shape is None:
        supported = ", ".join((*LEGACY_VERSIONS, NATIVE_VERSION))
        raise ConfigError(
            f"{source}: version: unsupported payload version {data['version']!r} "
            f"(supported: {supported})"
        )
    return validate(shape, {**data, "version": version}, source).native()
