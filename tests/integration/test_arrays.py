"""Array data on a real daemon (issue 13, item 5) and units per task (item 12)."""

import contextlib
import json
import re
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from sugo.config.defaults import render_devices
from tests.integration.harness import DaemonHarness
from tests.integration.results import open_results

pytestmark = pytest.mark.integration

SPECTROMETER = """
[[devices]]
name = "dev-spec"
driver = "spectrometer"
address = "sim-spec"
channels = ["1"]
pollrate = 0.2

[[pipelines]]
name = "pip-spec"
devices = [{ role = "spec", device = "dev-spec", channel = "1" }]
"""

# The writer's process is a fork of the daemon's write fork server (numpy,
# h5py, h5netcdf loaded), its peak ~48 MiB here; the old writer's first block
# of 65,536 spectra of 4096 float64 was 2 GiB on its own. The runner: ~21 MiB.
WRITER_PEAK_MIB = 120
RUNNER_PEAK_MIB = 80


def _writer_peaks(jobdir: Path) -> list[float]:
    text = (jobdir / "job.log").read_text()
    return [float(m) for m in re.findall(r"peak memory of this process (\d+) MiB", text)]


def test_a_spectrometer_job_of_4096_point_arrays_keeps_the_writer_small(
    make_daemon: type,
) -> None:
    daemon: DaemonHarness = make_daemon(render_devices() + SPECTROMETER)
    daemon.load_ready("pip-spec", "spectra")
    payload = "\n".join(
        [
            'version = "2.2"',
            'sample = { identifier = "spectra" }',
            "[settings]",
            'verbosity = "INFO"',
            "[[method]]",
            'component_role = "spec"',
            'technique_name = "spectrum"',
            "max_duration = 10",
            "sampling_interval = 0.05",
            "task_params = { length = 4096 }",
        ]
    )
    job = daemon.submit(payload + "\n")
    running = daemon.wait_job(job["id"], ("r",), timeout=20)
    runner_peak = 0.0
    runner = psutil.Process(running["runner_pid"]) if running.get("runner_pid") else None
    while daemon.job(job["id"])["status"] == "r":
        if runner is not None:
            with contextlib.suppress(psutil.Error):
                runner_peak = max(runner_peak, runner.memory_info().rss / 2**20)
        time.sleep(0.1)  # a sampling period, not a wait for a state
    done = daemon.wait_job(job["id"], timeout=60)
    assert done["status"] == "c", done.get("error")
    assert runner is not None and 0 < runner_peak < RUNNER_PEAK_MIB, runner_peak

    peaks = _writer_peaks(Path(done["jobdir"]))
    assert peaks, "the writer did not log its peak memory"
    print(f"runner peak RSS {runner_peak:.0f} MiB, writer peaks {peaks} MiB")
    assert max(peaks) < WRITER_PEAK_MIB, peaks

    tree = open_results(done["respath"])
    try:
        ds = tree["spec"].to_dataset()
        assert ds.spectrum.dims == ("uts", "wavelength")
        assert ds.spectrum.shape == (200, 4096)
        assert ds.spectrum.attrs["units"] == "count"
        assert ds.wavelength.attrs["units"] == "nm"
        np.testing.assert_allclose(ds.wavelength[:2], [200.0, 200.25])
        np.testing.assert_allclose(ds.spectrum.sum("wavelength"), ds.total, rtol=1e-12)
    finally:
        tree.close()


def test_units_belong_to_the_task_that_recorded_them(daemon: DaemonHarness) -> None:
    daemon.load_ready("pip-counter-1", "units")
    method = []
    for technique in ("count", "random"):
        method += [
            "[[method]]",
            'component_role = "counter"',
            f'technique_name = "{technique}"',
            "max_duration = 0.5",
            "sampling_interval = 0.1",
        ]
    text = 'version = "2.2"\nsample = { identifier = "units" }\n' + "\n".join(method) + "\n"
    done = daemon.wait_job(daemon.submit(text)["id"], timeout=30)
    assert done["status"] == "c", done.get("error")
    tree = open_results(done["respath"])
    try:
        value = tree["counter"].to_dataset().value
        # `count` gives whole seconds; `random` a number without units
        assert "units" not in value.attrs
        assert json.loads(value.attrs["task_units"]) == {"0": "s", "1": ""}
        assert tree["counter"].to_dataset().param.attrs["units"] == "s"  # every task: s
    finally:
        tree.close()
