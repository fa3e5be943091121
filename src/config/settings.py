"""settings.toml: where sugo keeps its data and logs, and how the daemon runs."""

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
)

from sugo.config.files import FrozenModel, LogLevel, load_mapping, validate


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
    # How job processes are started and told things (sugo.platform); the
    # SUGO_PROCESS_MODE environment variable overrides it.
    process_mode: Literal["auto", "fast", "portable"] = "auto"

    @field_validator("bind")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None
        return value


class DriverTable(BaseModel):
    """`[drivers.<name>]`: how long sugo waits for that driver's components
    (these keys are sugo's); every other key is passed to the driver, which checks it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    verb_timeout: float = Field(default=60.0, gt=0, le=86400, allow_inf_nan=False)
    stop_timeout: float = Field(default=10.0, gt=0, le=3600, allow_inf_nan=False)
    task_grace: float | None = Field(default=None, ge=0, le=86400, allow_inf_nan=False)

    @property
    def driver_keys(self) -> dict[str, Any]:
        """The keys that are the driver's own (not sugo's timeouts)."""
        return dict(self.model_extra or {})


class NetworkSettings(FrozenModel):
    """`[network]`: the endpoint for agents and remote clients; always CURVE
    with the allow-list in the app folder's keys/ (docs/network.md)."""

    listen: str | None = None  # "tcp://ADDRESS:PORT"

    @field_validator("listen")
    @classmethod
    def _tcp_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sugo.protocol.endpoints import check_endpoint

        return check_endpoint(value)


class WebSettings(FrozenModel):
    """`[web]`: the HTTP API and dashboard (`sugo web`), started by the daemon
    when ``listen`` is set."""

    listen: str | None = None  # "HOST:PORT"; unset: the daemon starts no web server
    tokens: ConfigPath | None = None  # the tokens file (default: <appdir>/web-tokens.json)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            from sugo.protocol.endpoints import parse_listen

            parse_listen(value)  # a ValueError names the problem
        return value


class HookSettings(FrozenModel):
    """`[[hooks]]`: a command run on matching events, the event as JSON on stdin."""

    events: list[str] = Field(min_length=1)  # kinds, with * wildcards: "job.ended", "driver.*"
    command: str | list[str]  # a string is split like a shell would (no shell runs it)
    timeout: float = Field(default=10.0, gt=0)
    where: dict[str, Any] = Field(default_factory=dict)  # event data must have these values


class LoggingSettings(FrozenModel):
    """`[logging]`: how much the daemon and its driver hosts log."""

    # `sugo start -v` (DEBUG), `-q` (WARNING) and `--verbosity` override it.
    level: Annotated[
        LogLevel, BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)
    ] = "INFO"


class Settings(FrozenModel):
    """The whole of settings.toml; `[drivers.<name>]` tables are passed to the
    driver of that name, less sugo's own keys (see `DriverTable`).
    """

    datadir: ConfigPath
    logdir: ConfigPath
    jobs: JobsSettings
    devices: DevicesSettings
    daemon: DaemonSettings = DaemonSettings()
    logging: LoggingSettings = LoggingSettings()
    network: NetworkSettings = NetworkSettings()
    drivers: dict[str, DriverTable] = Field(default_factory=dict)
    hooks: list[HookSettings] = Field(default_factory=list)
    # `[repositories.<name>]` (tomato 2.2): the repositories payloads may name in
    # settings.output.repositories; a job naming one gets an RO-Crate of its results.
    repositories: dict[str, dict[str, Any]] = Field(default_factory=dict)
    web: WebSettings = WebSettings()

    def driver_settings(self, driver: str) -> dict[str, Any]:
        """The driver's own keys of its `[drivers.<driver>]` table (empty if none)."""
        table = self.drivers.get(driver)
        return table.driver_keys if table is not None else {}

    def driver_timeouts(self, driver: str) -> DriverTable:
        """sugo's timeouts for the driver's components (defaults if it has no table)."""
        return self.drivers.get(driver) or DriverTable()


def load_settings(path: Path) -> Settings:
    """Load and validate a settings file (TOML, YAML or JSON by suffix).

    Relative paths in it are resolved against the file's folder.
    """
    path = Path(path)
    data = load_mapping(path)
    base = Path(os.path.abspath(path)).parent
    return validate(Settings, data, str(path), context={"base": base})
