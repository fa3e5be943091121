"""Array data (spectra, traces) from the driver to the results file; units per task."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sugo.driverinterface.host import ChunkBuffer
from sugo.jobs.records import encode_wire_chunk
from sugo.jobs.staging import StagingWriter, read_chunks, summarise
from sugo.jobs.writer import write_results
from sugo.protocol import arrays
from sugo.testing import DriverTester

T0 = 1_700_000_000.0


def _pts(start: float, n: int, step: float = 0.5) -> np.ndarray:
    return T0 + start + step * np.arange(n)


def _open(path: Path, group: str) -> xr.Dataset:
    return xr.open_dataset(path, group=group, engine="h5netcdf", decode_times=False)


def _write(jobdir: Path) -> Path:
    return write_results(jobdir, jobdir / "r.nc", root_attrs={}, groups={})


# -- the host's side: points to one array -------------------------------------------


def test_arrays_of_one_length_stack() -> None:
    arr = arrays.to_array([np.ones(3), np.zeros(3)], "s")
    assert arr.shape == (2, 3) and arr.dtype == np.float64


def test_ragged_points_and_gaps_are_padded_with_nan() -> None:
    # a point without the variable holds NaN (the device cache's gap)
    arr = arrays.to_array([[1, 2, 3], float("nan"), [4], None], "s")
    assert arr.shape == (4, 3)
    np.testing.assert_array_equal(arr[0], [1, 2, 3])
    assert np.isnan(arr[1]).all() and np.isnan(arr[3]).all()
    np.testing.assert_array_equal(arr[2], [4, np.nan, np.nan])


def test_a_number_among_arrays_is_left_out_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    arr = arrays.to_array([[1.0, 2.0], 5, [[1.0], [2.0]], [3.0]], "s")
    assert arr.shape == (4, 2)
    assert np.isnan(arr[1]).all() and np.isnan(arr[2]).all()
    np.testing.assert_array_equal(arr[3], [3.0, np.nan])
    assert "'s': 2 of 4 points left out of it" in caplog.text


def test_ragged_text_arrays_are_padded_with_empty_strings() -> None:
    arr = arrays.to_array([["a", "bbb"], ["c"]], "labels")
    assert arr.tolist() == [["a", "bbb"], ["c", ""]]


def test_dims_and_coords_survive_the_wire_and_the_staging_record(tmp_path: Path) -> None:
    buf = ChunkBuffer()
    data = {
        "columns": {"uts": [T0, T0 + 1], "spectrum": [np.ones(4), np.zeros(4)]},
        "units": {"spectrum": "count", "wavelength": "nm"},
        "dims": {"spectrum": ("wavelength",)},
        "coords": {"wavelength": np.arange(4.0) + 500},
    }
    ((header, frames),) = buf.take(0, data)
    assert header.variables[1].dims == ["wavelength"] and header.coords[0].name == "wavelength"
    assert arrays.decode_coords(header, frames)["wavelength"].tolist() == [500, 501, 502, 503]
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append_wire("spec", 0, header, frames)  # the runner's way: frames as they are
        assert encode_wire_chunk("spec", 0, header, frames) is not None
    header.variables[0].dtype = "<i8"  # not a plain uts: the numpy way
    frames[0] = np.array([T0, T0 + 2], dtype=np.int64).tobytes()
    header.seq = 2
    with StagingWriter(tmp_path, fsync=False) as w:  # a restarted runner stages them again
        w.append_wire("spec", 0, header, frames)
    chunks = list(read_chunks(tmp_path, "spec"))
    assert [c.dims for c in chunks] == [{"spectrum": ["wavelength"]}] * 2
    assert all(c.coords["wavelength"].tolist() == [500, 501, 502, 503] for c in chunks)
    assert chunks[1].coord_units == {"wavelength": "nm"}


# -- the results file ---------------------------------------------------------------


def test_declared_dimension_and_coordinate_in_the_results_file(tmp_path: Path) -> None:
    wl = np.linspace(400.0, 700.0, 8)
    with StagingWriter(tmp_path, fsync=False) as w:
        for seq in range(3):
            cols = {"uts": _pts(seq, 2), "spectrum": np.full((2, 8), seq), "dark": np.ones((2, 8))}
            w.append(
                "spec",
                0,
                seq,
                cols,
                {"spectrum": "count"},
                dims={"spectrum": ["wavelength"], "dark": ["wavelength"]},
                coords={"wavelength": wl},
                coord_units={"wavelength": "nm"},
            )
    ds = _open(_write(tmp_path), "spec")
    assert ds.spectrum.dims == ("uts", "wavelength") and ds.dark.dims == ("uts", "wavelength")
    assert ds.spectrum.attrs["units"] == "count"
    np.testing.assert_array_equal(ds.wavelength, wl)
    assert ds.wavelength.attrs["units"] == "nm"
    assert ds.spectrum.sel(wavelength=wl[3]).values.tolist() == [0, 0, 1, 1, 2, 2]
    assert ds.spectrum.encoding["chunksizes"] == (6, 8)  # whole spectra per chunk


def test_undeclared_arrays_get_their_own_dimensions(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append("r", 0, 0, {"uts": _pts(0, 2), "m": np.ones((2, 3, 2)), "v": np.ones((2, 5))}, {})
    ds = _open(_write(tmp_path), "r")
    assert ds.m.dims == ("uts", "m_dim_0", "m_dim_1") and ds.m.shape == (2, 3, 2)
    assert ds.v.dims == ("uts", "v_dim_0")


def test_a_dimension_named_like_a_variable_falls_back_to_the_default(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        cols = {"uts": _pts(0, 2), "s": np.ones((2, 3)), "total": np.ones(2)}
        w.append("r", 0, 0, cols, {}, dims={"s": ["total"]})
    ds = _open(_write(tmp_path), "r")
    assert ds.s.dims == ("uts", "s_dim_0") and ds.total.dims == ("uts",)


def test_a_variable_that_changes_its_number_of_axes_keeps_the_first(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append("r", 0, 0, {"uts": _pts(0, 2), "s": np.ones((2, 3))}, {})
        w.append("r", 1, 1, {"uts": _pts(5, 2), "s": np.ones(2)}, {})
    ds = _open(_write(tmp_path), "r")
    assert ds.s.shape == (4, 3) and np.isnan(ds.s.values[2:]).all()
    assert "2 points left out" in ds.s.attrs["sugo_note"]


def test_straggling_array_points_are_sorted(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        for seq, start in enumerate([4.0, 0.0, 8.0, 2.0]):
            uts = _pts(start, 2, 1.0)
            w.append("r", 0, seq, {"uts": uts, "s": np.repeat(uts[:, None] - T0, 3, 1)}, {})
    ds = _open(_write(tmp_path), "r")
    assert np.all(np.diff(ds.uts.values) > 0)
    np.testing.assert_array_equal(ds.s.values[:, 0], ds.uts.values - T0)
    np.testing.assert_array_equal(ds.s.values[:, 2], ds.uts.values - T0)


def test_units_are_per_task_not_per_role(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append(
            "c", 0, 0, {"uts": _pts(0, 2), "value": np.ones(2), "min": np.ones(2)}, {"value": "s"}
        )
        w.append("c", 1, 1, {"uts": _pts(5, 2), "value": np.ones(2), "min": np.ones(2)}, {})
        w.append("c", 2, 2, {"uts": _pts(9, 1), "value": np.ones(1), "p": np.ones(1)}, {"p": "s"})
    ds = _open(_write(tmp_path), "c")
    assert "units" not in ds.value.attrs
    assert json.loads(ds.value.attrs["task_units"]) == {"0": "s", "1": "", "2": ""}
    assert ds.p.attrs["units"] == "s"  # the one task that recorded it said s
    assert "units" not in ds["min"].attrs and "task_units" not in ds["min"].attrs


# -- the simulated spectrometer, host to file ---------------------------------------


def test_spectrometer_points_reach_the_file_with_wavelength(tmp_path: Path) -> None:
    buf = ChunkBuffer()
    with DriverTester("spectrometer") as driver, StagingWriter(tmp_path, fsync=False) as w:
        dev = driver.register("sim", "1")
        dev.set_attr("length", 64)
        dev.set_attr("ragged", True)
        mi, at = dev.driver, {"address": "sim", "channel": "1"}
        task = {"component_role": "spec", "max_duration": 0.3, "sampling_interval": 0.05}
        assert mi.task_start(task={**task, "technique_name": "spectrum"}, **at).success
        assert mi.devmap[("sim", "1")].wait_idle(10)
        data = mi.task_data_columns(**at).data
        for header, frames in buf.take(0, data):
            w.append_wire("spec", 0, header, frames)
    ds = _open(_write(tmp_path), "spec")
    assert ds.spectrum.dims == ("uts", "wavelength") and ds.sizes["wavelength"] == 64
    assert ds.sizes["uts"] == 6
    assert ds.wavelength.attrs["units"] == "nm" and ds.spectrum.attrs["units"] == "count"
    assert float(ds.wavelength[0]) == 200.0
    np.testing.assert_allclose(ds.spectrum.sum("wavelength", skipna=True), ds.total)


# -- memory ---------------------------------------------------------------------------

_MEASURE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from sugo.jobs.writer import peak_rss_mib, write_results
    before = peak_rss_mib()
    write_results(Path(sys.argv[1]), Path(sys.argv[1]) / "r.nc", root_attrs={}, groups={})
    print(peak_rss_mib() - before)
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="reads the peak from /proc/self/status")
def test_writer_memory_stays_bounded_for_a_500k_value_trace(tmp_path: Path) -> None:
    """24 points of 500,000 float64 each (4 MB a point, 96 MB staged): the old
    writer's 65,536-row block alone would be 262 GB."""
    trace = np.random.default_rng(1).random(500_000)
    with StagingWriter(tmp_path, fsync=False) as w:
        for seq in range(12):
            pts = np.stack([trace + seq, trace - seq])
            w.append("scope", 0, seq, {"uts": _pts(seq, 2), "trace": pts, "n": np.ones(2)}, {})
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path)], capture_output=True, text=True, check=True
    )
    grew_mib = float(done.stdout.strip())
    # a record (2 points, 8 MB) + a block (4 MB) + HDF5's chunk cache, with room to spare
    assert grew_mib < 48, f"the writer grew by {grew_mib:.0f} MiB"
    print(f"writer grew by {grew_mib:.1f} MiB")
    ds = _open(tmp_path / "r.nc", "scope")
    assert ds.trace.shape == (24, 500_000)
    assert ds.trace.encoding["chunksizes"] == (1, 62_500)
    np.testing.assert_array_equal(ds.trace[23].values, trace - 11)
    assert summarise(tmp_path)["scope"].variables["trace"].shape == (500_000,)


def test_a_coordinate_is_staged_again_only_when_it_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    buf = ChunkBuffer()

    def chunk(seq: int, start: float) -> tuple[object, list[bytes]]:
        data = {
            "columns": {"uts": [T0 + seq], "s": [np.ones(4)]},
            "units": {"wavelength": "nm"},
            "dims": {"s": ("wavelength",)},
            "coords": {"wavelength": np.arange(4.0) + start},
        }
        return buf.take(seq - 1, data)[-1]

    with StagingWriter(tmp_path, fsync=False) as w:
        for seq, start in [(1, 500), (2, 500), (3, 500), (4, 600), (5, 600)]:
            header, frames = chunk(seq, start)
            w.append_wire("spec", 0, header, frames)  # type: ignore[arg-type]
    staged = [sorted(c.coords) for c in read_chunks(tmp_path, "spec")]
    assert staged == [["wavelength"], [], [], ["wavelength"], []]
    ds = _open(_write(tmp_path), "spec")
    assert ds.wavelength.values.tolist() == [500, 501, 502, 503]  # the first one
    assert "coordinate 'wavelength' changes in seq 4" in caplog.text


def test_arrays_of_every_kind(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        cols = {
            "uts": _pts(0, 2),
            "labels": np.array([["a", "bb"], ["c", "d"]]),
            "flags": np.array([[True, False], [False, True]]),
            "counts": np.array([[1, 2, 3], [4, 5, 6]]),
        }
        w.append("r", 0, 0, cols, {})
        w.append("r", 0, 1, {"uts": _pts(5, 1), "counts": np.array([[7, 8]])}, {})
    ds = _open(_write(tmp_path), "r")
    assert ds.labels.values.tolist() == [["a", "bb"], ["c", "d"], ["", ""]]
    assert ds.flags.dtype == np.float64  # a gap: float with NaN
    assert ds.counts.dtype == np.float64  # ragged: padded with NaN
    np.testing.assert_array_equal(ds.counts.values[2], [7, 8, np.nan])


def test_the_spectrometer_keeps_the_driver_contract() -> None:
    from sugo.testing import check_contract

    assert set(check_contract("spectrometer")) == {"spectrum", "trace"}
    with DriverTester("spectrometer") as driver:
        dev = driver.register("sim", "2")
        dev.set_attr("length", 16)
        result = dev.run_task("trace", max_duration=0.2, sampling_interval=0.05)
        result.assert_ok()
        result.assert_points(4)
        result.assert_units(trace="V", total="V")
        assert np.asarray(result.column("trace")).shape == (4, 16)


def test_the_xarray_task_data_has_the_same_dimensions() -> None:
    with DriverTester("spectrometer") as driver:
        dev = driver.register("sim", "3")
        dev.set_attr("length", 8)
        mi, at = dev.driver, {"address": "sim", "channel": "3"}
        task = {"component_role": "spec", "max_duration": 0.1, "sampling_interval": 0.05}
        assert mi.task_start(task={**task, "technique_name": "spectrum"}, **at).success
        assert mi.devmap[("sim", "3")].wait_idle(10)
        reply = mi.task_data(**at)
        assert reply.success, reply.msg
        ds = reply.data
        assert ds.spectrum.dims == ("uts", "wavelength") and ds.spectrum.shape == (2, 8)
        assert ds.wavelength.attrs["units"] == "nm" and float(ds.wavelength[1]) == 200.25
