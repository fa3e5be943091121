"""sugo's configuration: settings.toml and the devices file, validated once at load."""

from sugo.config.devices import ComponentSpec, DevicesConfig, PipelineSpec, load_devices
from sugo.config.settings import Settings, load_settings

__all__ = [
    "ComponentSpec",
    "DevicesConfig",
    "PipelineSpec",
    "Settings",
    "load_devices",
    "load_settings",
]
