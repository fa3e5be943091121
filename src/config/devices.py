"""The devices file: devices, their channels, and the pipelines built from them.

The file is validated as a whole at load (names, references, channels,
wildcards); the expanded views (`components()`, `pipelines()`) are what the
rest of sugo uses.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, StrictBool, model_validator

from sugo.config.files import Channel, FrozenModel, Name, load_mapping, problem, validate

#: The channel of a wildcard pipeline's only entry.
EACH = "each"


class MaintenanceItem(FrozenModel):
    """A maintenance reminder of a device: due once `threshold` of `trigger`
    (hours spent running tasks, jobs run, or calendar days) has passed."""

    label: Name
    trigger: Literal["task_hours", "jobs", "days"]
    threshold: float = Field(gt=0, allow_inf_nan=False)
    message: str = ""
    blocking: StrictBool = False  # when due, no new job starts on the device


class DeviceConfig(FrozenModel):
    """One instrument: a driver, an address and the channels in use."""

    name: Name
    driver: Name
    address: Name
    channels: list[Channel] = Field(min_length=1)
    pollrate: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    maintenance: list[MaintenanceItem] = Field(default_factory=list)
    host: Name | None = None  # the agent (`sugo agent --name`) it hangs off; None: the daemon's PC

    @model_validator(mode="after")
    def _unique_channels(self) -> "DeviceConfig":
        seen: set[str] = set()
        for i, channel in enumerate(self.channels):
            if channel in seen:
                raise problem(("channels", i), f"duplicate channel {channel!r}")
            seen.add(channel)
        labels: set[str] = set()
        for i, item in enumerate(self.maintenance):
            if item.label in labels:
                raise problem(("maintenance", i, "label"), f"duplicate label {item.label!r}")
            labels.add(item.label)
        return self

    def component_name(self, channel: str) -> str:
        """The name of the component at `channel`: `<driver>:(<address>,<channel>)`."""
        return f"{self.driver}:({self.address},{channel})"


class PipelineMember(FrozenModel):
    """One role of a pipeline, played by one channel of one device."""

    role: Name
    device: Name
    channel: Channel


class PipelineConfig(FrozenModel):
    """A pipeline as written; a name ending in `*` is a wildcard."""

    name: Name
    devices: list[PipelineMember] = Field(min_length=1)

    @property
    def is_wildcard(self) -> bool:
        """Whether this entry expands to one pipeline per channel."""
        return self.name.endswith("*")

    @model_validator(mode="after")
    def _check(self) -> "PipelineConfig":
        if "*" in self.name[:-1]:
            raise problem(("name",), "'*' is only allowed at the end of a pipeline name")
        if self.is_wildcard:
            if len(self.devices) != 1:
                raise problem(
                    ("devices",),
                    f"a wildcard pipeline has exactly one entry, not {len(self.devices)}",
                )
            if self.devices[0].channel != EACH:
                raise problem(
                    ("devices", 0, "channel"),
                    f"a wildcard pipeline's channel must be {EACH!r}",
                )
        roles: set[str] = set()
        for i, member in enumerate(self.devices):
            if member.role in roles:
                raise problem(("devices", i, "role"), f"duplicate role {member.role!r}")
            roles.add(member.role)
            if not self.is_wildcard and member.channel == EACH:
                raise problem(
                    ("devices", i, "channel"),
                    f"channel {EACH!r} needs a wildcard pipeline name ending in '*'",
                )
        return self


class ComponentSpec(FrozenModel):
    """One channel of one device, as the daemon and driver hosts see it."""

    name: str
    driver: str
    device: str
    address: str
    channel: str
    pollrate: float


class PipelineSpec(FrozenModel):
    """An expanded pipeline: its components by role."""

    name: str
    components: dict[str, ComponentSpec]


class DevicesConfig(FrozenModel):
    """The whole devices file, checked for consistency."""

    devices: list[DeviceConfig] = Field(default_factory=list)
    # Named `pipelines` in the file; the attribute name leaves `pipelines()`
    # free for the expanded view, which is what callers want.
    pipeline_defs: list[PipelineConfig] = Field(default_factory=list, alias="pipelines")

    @model_validator(mode="after")
    def _check(self) -> "DevicesConfig":
        self._check_devices()
        self._check_pipelines()
        return self

    def _check_devices(self) -> None:
        names: set[str] = set()
        owners: dict[str, str] = {}
        hosts: dict[str, DeviceConfig] = {}
        for i, device in enumerate(self.devices):
            if device.name in names:
                raise problem(("devices", i, "name"), f"duplicate device name {device.name!r}")
            names.add(device.name)
            # One host process per driver: its devices live on one PC.
            first = hosts.setdefault(device.driver, device)
            if first.host != device.host:
                where = repr(first.host) if first.host else "the daemon's PC"
                raise problem(
                    ("devices", i, "host"),
                    f"driver {device.driver!r} already has device {first.name!r} on {where}; "
                    "all devices of one driver must be on the same host",
                )
            # Two devices on one (driver, address) may not claim the same channel.
            for j, channel in enumerate(device.channels):
                component = device.component_name(channel)
                if component in owners:
                    raise problem(
                        ("devices", i, "channels", j),
                        f"component {component} is already a channel of device "
                        f"{owners[component]!r}",
                    )
                owners[component] = device.name

    def _check_pipelines(self) -> None:
        devices = {d.name: d for d in self.devices}
        known = ", ".join(devices) or "none"
        defined: dict[str, int] = {}
        for i, pipeline in enumerate(self.pipeline_defs):
            for j, member in enumerate(pipeline.devices):
                device = devices.get(member.device)
                if device is None:
                    raise problem(
                        ("pipelines", i, "devices", j, "device"),
                        f"unknown device {member.device!r} (known: {known})",
                    )
                if member.channel != EACH and member.channel not in device.channels:
                    raise problem(
                        ("pipelines", i, "devices", j, "channel"),
                        f"device {device.name!r} has no channel {member.channel!r} "
                        f"(channels: {', '.join(device.channels)})",
                    )
            for name in self._names(pipeline, devices):
                if name in defined:
                    raise problem(
                        ("pipelines", i, "name"),
                        f"duplicate pipeline name {name!r} (also pipelines[{defined[name]}])",
                    )
                defined[name] = i

    @staticmethod
    def _names(pipeline: PipelineConfig, devices: dict[str, DeviceConfig]) -> list[str]:
        if not pipeline.is_wildcard:
            return [pipeline.name]
        device = devices[pipeline.devices[0].device]
        return [pipeline.name[:-1] + channel for channel in device.channels]

    def _component(self, device: DeviceConfig, channel: str) -> ComponentSpec:
        return ComponentSpec(
            name=device.component_name(channel),
            driver=device.driver,
            device=device.name,
            address=device.address,
            channel=channel,
            pollrate=device.pollrate,
        )

    def components(self) -> list[ComponentSpec]:
        """Every component: one per device and channel, in file order."""
        return [self._component(d, c) for d in self.devices for c in d.channels]

    def pipelines(self) -> list[PipelineSpec]:
        """Every pipeline with wildcards expanded, in file order."""
        devices = {d.name: d for d in self.devices}
        out: list[PipelineSpec] = []
        for pipeline in self.pipeline_defs:
            if pipeline.is_wildcard:
                member = pipeline.devices[0]
                device = devices[member.device]
                for channel in device.channels:
                    out.append(
                        PipelineSpec(
                            name=pipeline.name[:-1] + channel,
                            components={member.role: self._component(device, channel)},
                        )
                    )
            else:
                components = {
                    m.role: self._component(devices[m.device], m.channel) for m in pipeline.devices
                }
                out.append(PipelineSpec(name=pipeline.name, components=components))
        return out

    def driver_hosts(self) -> dict[str, str | None]:
        """Each driver's host: the agent name its devices are on, None for the daemon's PC."""
        return {d.driver: d.host for d in self.devices}

    def drivers(self) -> list[str]:
        """The distinct driver names, in order of first use."""
        return list(dict.fromkeys(d.driver for d in self.devices))


def load_devices(path: Path) -> DevicesConfig:
    """Load and validate a devices file (TOML, YAML or JSON by suffix)."""
    path = Path(path)
    return validate(DevicesConfig, load_mapping(path), str(path))
