"""settings.toml: where sugo keeps its data and logs, and how the daemon runs."""

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
)

from sugo.config.files import FrozenModel, load_mapping, validate


def _not_empty(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("path must not be empty")
    return value


def _resolve(value: Path, info: ValidationInfo) -> Path:
    # The loader passes the settings file's folder as context, so that a
    # relative path means the same thing whatever the current directory is.
    value = value.expanduser()
    base = info.context.get("base") if isinstance(info.context, dict) else None
    if base is not None and not value.is_absolute():
        value = Path(os.path.abspath(Path(base) / value))
    return value


#: A path in settings.toml: "~" expanded, relative to the settings file's folder.
ConfigPath = Annotated[Path, BeforeValidator(_not_empty), AfterValidator(_resolve)]


class JobsSettings(FrozenModel):
    """`[jobs]`: where job data goes and how carefully it is written."""

    storage: ConfigPath
    dbpath: ConfigPath
    fsync: StrictBool = True
    fsync_interval: float = Field(default=1.0, ge=0, le=60, allow_inf_nan=False)
    retention_days: int | None = Field(default=None, gt=0)


class DevicesSettings(FrozenModel):
    """`[devices]`: the devices file."""

    config: ConfigPath


class DaemonSettings(FrozenModel):
    """`[daemon]`: how the daemon and driver hosts listen."""

    bind: str = "127.0.0.1"
    max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)

    @field_validator("bind")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None
        return value


class WebSettings(FrozenModel):
    """`[web]`: the HTTP API and dashboard (`sugo web`), started by the daemon
    when ``listen`` is set."""

    listen: str | None = None  # "HOST:PORT"; unset: the daemon starts no web server
    tokens: ConfigPath | None = None  # the tokens file (default: <appdir>/web-tokens.json)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            from sugo.web.auth import parse_listen

            parse_listen(value)  # a ValueError names the problem
        return value


class HookSettings(FrozenModel):
    """`[[hooks]]`: a command run on matching events, the event as JSON on stdin."""

    events: list[str] = Field(min_length=1)  # kinds, with * wildcards: "job.ended", "driver.*"
    command: str | list[str]  # a string is split like a shell would (no shell runs it)
    timeout: float = Field(default=10.0, gt=0)
    where: dict[str, Any] = Field(default_factory=dict)  # event data must have these values


class Settings(FrozenModel):
    """The whole of settings.toml; `[drivers.<name>]` tables are passed
    unchanged to the driver of that name.
    """

    datadir: ConfigPath
    logdir: ConfigPath
    jobs: JobsSettings
    devices: DevicesSettings
    daemon: DaemonSettings = DaemonSettings()
    drivers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    hooks: list[HookSettings] = Field(default_factory=list)
    web: WebSettings = WebSettings()

    def driver_settings(self, driver: str) -> dict[str, Any]:
        """The `[drivers.<driver>]` table, empty if there is none."""
        return dict(self.drivers.get(driver, {}))


def load_settings(path: Path) -> Settings:
    """Load and validate a settings file (TOML, YAML or JSON by suffix).

    Relative paths in it are resolved against the file's folder.
    """
    path = Path(path)
    data = load_mapping(path)
    base = Path(os.path.abspath(path)).parent
    return validate(Settings, data, str(path), context={"base": base})
