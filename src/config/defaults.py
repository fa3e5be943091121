"""The files `sugo init` writes: a documented settings.toml and a devices
file with the built-in simulated devices.
"""

import json
from pathlib import Path

#: Placeholder folders of the documented default settings (the root settings.toml).
EXAMPLE_APPDIR = Path("~/.config/sugo")
EXAMPLE_DATADIR = Path("~/.local/share/sugo")
EXAMPLE_LOGDIR = Path("~/.local/state/sugo/log")


def _toml_str(value: Path | str) -> str:
    # A JSON string literal is a valid TOML basic string (same escapes).
    return json.dumps(str(value), ensure_ascii=False)


def render_settings(appdir: Path, datadir: Path, logdir: Path) -> str:
    """The text of a settings.toml for these folders, every key commented."""
    return f"""\
# sugo settings, written by `sugo init` for the app folder {appdir}.
# Read by `sugo start` and `sugo reload`. Relative paths are relative to the
# folder of this file; "~" means your home folder.

# Folder of the job database and the job folders.
datadir = {_toml_str(datadir)}
# Folder of the logs of the daemon, the driver hosts and the jobs.
logdir = {_toml_str(logdir)}

[jobs]
# One folder per job: its staging data and its log.
storage = {_toml_str(datadir / "jobs")}
# The SQLite database of jobs, pipelines and components (only the daemon writes it).
dbpath = {_toml_str(datadir / "sugo.db")}
# Every polled chunk is in the job's staging file before the next poll, so a
# crash of any sugo process loses nothing; fsync also flushes it to the disk
# (set to false only on very slow disks).
fsync = true
# Seconds a written chunk may wait for its fsync (0: at every poll): the most
# that a power cut can take.
fsync_interval = 1.0
# Delete the folders of finished jobs after this many days; unset keeps them forever.
# retention_days = 30

[daemon]
# IP address the daemon and the driver hosts listen on; keep 127.0.0.1 unless
# clients on other machines must reach them.
bind = "127.0.0.1"
# Largest message accepted on a socket, in bytes (16 MiB); larger ones are refused.
max_message_bytes = 16777216
# How job processes start and take requests: "auto" (fork servers, pidfds and
# signals where available: Linux), or "portable" (a fresh interpreter per
# process, messages over the socket: what Windows and macOS use). The
# SUGO_PROCESS_MODE environment variable overrides it.
# process_mode = "auto"

[devices]
# The devices file: devices, their channels and the pipelines built from them
# (TOML, YAML or JSON, by suffix).
config = "devices.toml"

# How much the daemon and its driver hosts log (their files are in logdir).
# [logging]
# DEBUG, INFO, WARNING, ERROR or CRITICAL; `sugo start -v` (DEBUG), `-q`
# (WARNING) or `--verbosity LEVEL` override it for one start.
# level = "INFO"

# Repositories that payloads may name in settings.output.repositories (as in
# tomato); a job that names one also gets results.<id>.zip, an RO-Crate of its
# results file. A payload naming a repository not listed here is refused.
# [repositories.default]
# endpoint = "https://repository.example/"

# Settings for one driver, passed to it when it is loaded; one table per driver
# name, with the keys that driver declares, for example:
# [drivers.counter]
# some_key = "value"
# Three keys of such a table are sugo's own, for slow or hanging instruments
# (seconds): verb_timeout = 60 (how long a job waits for a component busy with
# a slow reset or stop), stop_timeout = 10 (a cancelled task still running this
# long is stopped by force), task_grace (how long a task may run past its
# max_duration before the watchdog ends it; default: the driver's, often 30).

# The HTTP API and dashboard (`sugo web`): with a [web] table whose listen is
# "HOST:PORT", the daemon starts it there and restarts it if it dies. Any
# address but 127.0.0.1 and ::1 requires tokens (`sugo web token new NAME`),
# kept in an owner-only file (default: web-tokens.json beside this file).
# [web]
# listen = "127.0.0.1:9280"
# tokens = "web-tokens.json"
"""


_DEVICES = """\
# sugo devices file, written by `sugo init`: the built-in simulated devices.
# A device is one instrument (a driver, an address, its channels); a component
# is one channel of a device, named <driver>:(<address>,<channel>); a pipeline
# gives components roles, and jobs run on pipelines.

# A simulated counter with four channels.
[[devices]]
name = "dev-counter"
driver = "counter"
address = "sim-counter"
channels = ["1", "2", "3", "4"]
pollrate = 0.2  # seconds between a job's data polls

# A second simulated counter, for the demo pipeline.
[[devices]]
name = "dev-demo-counter"
driver = "counter"
address = "sim-demo"
channels = ["1"]
pollrate = 0.2

# This machine's CPU, memory and disk use.
[[devices]]
name = "dev-psutil"
driver = "psutil"
address = "localhost"
channels = ["0"]
pollrate = 0.5

# One pipeline per counter channel: pip-counter-1 ... pip-counter-4.
[[pipelines]]
name = "pip-counter-*"
devices = [{ role = "counter", device = "dev-counter", channel = "each" }]

# Two roles on two drivers, for `sugo demo`.
[[pipelines]]
name = "pip-demo"
devices = [
  { role = "counter", device = "dev-demo-counter", channel = "1" },
  { role = "psutil", device = "dev-psutil", channel = "0" },
]
"""


def render_devices() -> str:
    """The text of a devices.toml with the built-in simulated devices."""
    return _DEVICES
