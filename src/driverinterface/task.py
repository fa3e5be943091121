"""The Task: one step of a payload's method, run by one component."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sugo.driverinterface.units import to_seconds


class Task(BaseModel):
    """What a DeviceManager runs: `technique_name` every `sampling_interval`
    seconds for `max_duration` seconds, after applying `task_params`.

    Durations accept numbers (seconds) or strings with units ("5 min").
    """

    # Its validator is built on first use, not when a driver host imports it
    # (~20 ms of its start-up): hosts validate tasks only once jobs come.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    component_role: str = Field(min_length=1)
    technique_name: str = Field(min_length=1)
    # Finite: a task of endless duration has no number of points, and the
    # runner's and watchdog's deadlines need a number.
    max_duration: float = Field(gt=0, allow_inf_nan=False)
    sampling_interval: float = Field(gt=0, allow_inf_nan=False)
    polling_interval: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    task_params: dict[str, Any] = Field(default_factory=dict)
    task_name: str | None = None
    start_with_task_name: str | None = None
    stop_with_task_name: str | None = None

    @field_validator("max_duration", "sampling_interval", "polling_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            return to_seconds(value)
        return value

    @property
    def n_points(self) -> int:
        """Points the task yields: floor(D/Δ), robust to float rounding."""
        return int(self.max_duration / self.sampling_interval + 1e-9)
