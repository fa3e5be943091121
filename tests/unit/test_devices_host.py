"""A device's `host` in the devices file (the agent it hangs off)."""

from pathlib import Path

import pytest

from sugo.config.devices import load_devices
from sugo.errors import ConfigError

TWO_HOSTS = """
[[devices]]
name = "furnace"
driver = "counter"
address = "a"
channels = ["1"]
host = "furnace-pc"

[[devices]]
name = "local"
driver = "psutil"
address = "localhost"
channels = ["0"]
"""


def test_host_is_per_device_and_absent_means_the_daemons_pc(tmp_path: Path) -> None:
    path = tmp_path / "devices.toml"
    path.write_text(TWO_HOSTS)
    devices = load_devices(path)
    assert devices.driver_hosts() == {"counter": "furnace-pc", "psutil": None}


def test_one_drivers_devices_on_two_hosts_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "devices.toml"
    path.write_text(
        TWO_HOSTS + '\n[[devices]]\nname = "c2"\ndriver = "counter"\naddress = "b"\n'
        'channels = ["1"]\nhost = "other-pc"\n'
    )
    with pytest.raises(ConfigError, match=r"devices\[2\]\.host.*'furnace' on 'furnace-pc'"):
        load_devices(path)
