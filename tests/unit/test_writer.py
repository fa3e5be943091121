"""The results NetCDF writer: layout, gaps, ordering, atomicity, snapshots, speed."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sugo.jobs import writer
from sugo.jobs.staging import RoleSummary, StagingWriter, role_file
from sugo.jobs.writer import GroupInfo, strictly_increasing, write_results

T0 = 1.7e9
ROOT = {"sugo_job": json.dumps({"id": 1, "status": "c"})}


def _pts(start: float, n: int, step: float = 0.5) -> np.ndarray:
    return T0 + start + step * np.arange(n)


def _open(path: Path, role: str) -> xr.Dataset:
    return xr.open_dataset(path, group=role, engine="h5netcdf", decode_times=False)


def _two_role_job(jobdir: Path) -> dict[str, GroupInfo]:
    with StagingWriter(jobdir, fsync=False) as w:
        # counter-1: task 0 records x (int) and s (str); task 2 records x and y
        w.append(
            "counter-1",
            0,
            0,
            {"uts": _pts(0, 3), "x": np.arange(3), "s": np.array(["a", "bb", "é"])},
            {"x": "V"},
        )
        w.append("counter-1", 0, 1, {"uts": _pts(1.5, 2), "x": np.arange(3, 5)}, {"x": "V"})
        w.append(
            "counter-1",
            2,
            2,
            {"uts": _pts(10, 4), "x": np.arange(4), "y": np.ones(4)},
            {"x": "V", "y": "K"},
        )
        # psu/1 (a role with a slash): one task, a bool without gaps
        w.append(
            "psu/1", 1, 0, {"uts": _pts(0.2, 5, 1.0), "on": np.array([1, 0, 1, 1, 0], bool)}, {}
        )
    return {
        "counter-1": GroupInfo(
            attrs={"sugo_component": json.dumps({"name": "counter:(a,1)"})},
            tasks=[
                {"index": 0, "task_name": "warmup", "technique_name": "random"},
                {"index": 2, "task_name": None, "technique_name": "count"},
            ],
        ),
        "psu/1": GroupInfo(tasks=[{"index": 1, "task_name": "p", "technique_name": "read"}]),
        "idle": GroupInfo(attrs={"sugo_component": "{}"}),
    }


def test_round_trip_layout(tmp_path: Path) -> None:
    groups = _two_role_job(tmp_path)
    out = write_results(tmp_path, tmp_path / "results.1.nc", root_attrs=ROOT, groups=groups)
    tree = xr.open_datatree(out, engine="h5netcdf")
    assert tree.attrs["sugo_job"] == ROOT["sugo_job"]
    assert "sugo_version" in tree.attrs
    assert set(tree.children) == {"counter-1", "psu%2F1", "idle"}

    c = _open(out, "counter-1")
    assert c.attrs["role"] == "counter-1"
    assert json.loads(c.attrs["sugo_component"]) == {"name": "counter:(a,1)"}
    assert c.sizes["uts"] == 9
    assert c.uts.dtype == np.float64 and np.all(np.diff(c.uts.values) > 0)
    np.testing.assert_array_equal(c.uts, np.concatenate([_pts(0, 3), _pts(1.5, 2), _pts(10, 4)]))
    assert c.uts.attrs["units"] == "seconds since 1970-01-01T00:00:00Z"
    assert c.uts.attrs["calendar"] == "standard"
    assert c.task.values.tolist() == [0] * 5 + [2] * 4
    assert json.loads(c.task.attrs["task_indices"]) == [0, 2]
    assert json.loads(c.task.attrs["task_names"]) == ["warmup", None]
    assert json.loads(c.task.attrs["techniques"]) == ["random", "count"]
    assert c.x.dtype == np.int64 and c.x.values.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3]
    assert c.x.attrs["units"] == "V" and c.y.attrs["units"] == "K"
    np.testing.assert_array_equal(c.y, [np.nan] * 5 + [1.0] * 4)
    assert c.s.values.tolist() == ["a", "bb", "é"] + [""] * 6

    p = _open(out, "psu%2F1")
    assert p.attrs["role"] == "psu/1"
    assert p.on.dtype == bool and p.on.values.tolist() == [True, False, True, True, False]
    assert p.task.values.tolist() == [1] * 5

    idle = _open(out, "idle")
    assert idle.sizes["uts"] == 0 and idle.attrs["role"] == "idle"


def test_results_file_mode_follows_the_umask(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        out = write_results(tmp_path, tmp_path / "r.nc", root_attrs={}, groups={})
    finally:
        os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o644


def test_default_open_decodes_uts_as_datetimes(tmp_path: Path) -> None:
    groups = _two_role_job(tmp_path)
    out = write_results(tmp_path, tmp_path / "r.nc", root_attrs={}, groups=groups)
    tree = xr.open_datatree(out, engine="h5netcdf")
    uts = tree["counter-1"].uts.values
    assert uts.dtype == np.dtype("datetime64[ns]")
    assert uts[0] == np.datetime64(int(T0), "s")
    ds = xr.open_dataset(out, group="counter-1", engine="h5netcdf")
    assert ds.uts.values[-1] == uts[-1]


def test_gaps_promote_ints_and_bools_to_float(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append(
            "r", 0, 0, {"uts": _pts(0, 2), "n": np.array([3, 4]), "b": np.array([True, False])}, {}
        )
        w.append("r", 1, 1, {"uts": _pts(5, 1)}, {})
    out = write_results(tmp_path, tmp_path / "r.nc", root_attrs={}, groups={})
    ds = _open(out, "r")
    np.testing.assert_array_equal(ds.n, [3.0, 4.0, np.nan])
    np.testing.assert_array_equal(ds.b, [1.0, 0.0, np.nan])


def test_gaps_across_block_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "BLOCK_ROWS", 4)
    with StagingWriter(tmp_path, fsync=False) as w:
        for seq in range(6):
            extra = {"x": np.full(3, float(seq))} if seq % 2 == 0 else {}
            w.append("r", seq // 3, seq, {"uts": _pts(3 * seq, 3, 1.0), **extra}, {})
    out = write_results(tmp_path, tmp_path / "r.nc", root_attrs={}, groups={})
    ds = _open(out, "r")
    expected = np.concatenate(
        [np.full(3, float(s)) if s % 2 == 0 else np.full(3, np.nan) for s in range(6)]
    )
    np.testing.assert_array_equal(ds.x, expected)
    np.testing.assert_array_equal(ds.uts, _pts(0, 18, 1.0))
    assert ds.task.values.tolist() == [0] * 9 + [1] * 9


def test_torn_tail_and_duplicates(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        for seq in [0, 1, 1, 2, 0]:
            w.append("r", 0, seq, {"uts": _pts(10 * seq, 4), "x": np.full(4, seq)}, {})
    with role_file(tmp_path, "r").open("ab") as f:
        f.write(b"SGS1\x10\x00")  # a crash mid-append
    out = write_results(tmp_path, tmp_path / "r.nc", root_attrs={}, groups={})
    ds = _open(out, "r")
    assert ds.x.values.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_stragglers_are_sorted_and_ties_made_strict(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append("r", 0, 0, {"uts": T0 + np.array([5.0, 6.0]), "s": np.array(["e", "f"])}, {})
        w.append("r", 0, 1, {"uts": T0 + np.array([1.0, 2.0]), "s": np.array(["a", "b"])}, {})
        w.append("r", 1, 2, {"uts": T0 + np.array([6.0, 9.0]), "s": np.array(["g", "h"])}, {})
    out = write_results(tmp_path, tmp_path / "r.nc", root_attrs={}, groups={})
    ds = _open(out, "r")
    assert ds.s.values.tolist() == ["a", "b", "e", "f", "g", "h"]
    assert ds.task.values.tolist() == [0, 0, 0, 0, 1, 1]
    uts = ds.uts.values
    assert np.all(np.diff(uts) > 0)
    assert uts[3] == T0 + 6.0 and uts[4] == np.nextafter(T0 + 6.0, np.inf)


def test_ties_in_order_are_made_strict_without_sorting(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append("r", 0, 0, {"uts": T0 + np.array([1.0, 2.0, 2.0])}, {})
        w.append("r", 0, 1, {"uts": T0 + np.array([2.0, 3.0])}, {})
    ds = _open(write_results(tmp_path, tmp_path / "r.nc", root_attrs={}, groups={}), "r")
    assert ds.sizes["uts"] == 5 and np.all(np.diff(ds.uts.values) > 0)


def test_strictly_increasing() -> None:
    u = np.array([1.0, 1.0, 1.0, np.nextafter(1.0, 2.0), 3.0, 3.0])
    out = strictly_increasing(u, 0.5)
    assert np.all(np.diff(out) > 0) and out[0] == 1.0 and out[4] == 3.0
    assert out[3] == np.nextafter(out[2], 2.0)
    assert strictly_increasing(np.array([2.0, 3.0]), 2.0)[0] == np.nextafter(2.0, 3.0)
    same = np.array([1.0, 2.0])
    assert strictly_increasing(same, -np.inf) is same


def test_empty_job_is_a_valid_file(tmp_path: Path) -> None:
    out = write_results(
        tmp_path, tmp_path / "out" / "r.nc", root_attrs=ROOT, groups={"a/b": GroupInfo()}
    )
    tree = xr.open_datatree(out, engine="h5netcdf")
    ds = tree["a%2Fb"].to_dataset()
    assert ds.sizes["uts"] == 0 and "task" in ds and ds.attrs["role"] == "a/b"


def test_arrays_of_varying_length_are_padded_with_nan(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append("r", 0, 0, {"uts": _pts(0, 2), "m": np.ones((2, 3))}, {})
        w.append("r", 0, 1, {"uts": _pts(5, 2), "m": np.ones((2, 4))}, {})
    ds = _open(write_results(tmp_path, tmp_path / "r.nc", root_attrs={}, groups={}), "r")
    assert ds.m.dims == ("uts", "m_dim_0") and ds.m.shape == (4, 4)
    np.testing.assert_array_equal(ds.m.values[:2, 3], [np.nan, np.nan])
    assert np.all(ds.m.values[:2, :3] == 1) and np.all(ds.m.values[2:] == 1)
    assert "padded" in ds.m.attrs["sugo_padding"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = _two_role_job(tmp_path)
    target = tmp_path / "results.nc"
    write_results(tmp_path, target, root_attrs={"sugo_job": "old"}, groups=groups)
    before = target.read_bytes()

    def boom(self: object) -> None:
        raise RuntimeError("disk full")

    with StagingWriter(tmp_path, fsync=False) as w:
        w.append("counter-1", 2, 3, {"uts": _pts(20, 2)}, {})
    monkeypatch.setattr(writer._Block, "flush", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_results(tmp_path, target, root_attrs={"sugo_job": "new"}, groups=groups)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.nc", "staging"]
    assert xr.open_datatree(target, engine="h5netcdf").attrs["sugo_job"] == "old"


def test_snapshot_while_appending_holds_a_prefix(tmp_path: Path) -> None:
    rows = 10
    enough = threading.Event()
    stop = threading.Event()
    produced = []

    def produce() -> None:
        with StagingWriter(tmp_path, fsync=False) as w:
            for seq in range(5_000):  # bounded, usually stopped earlier
                if stop.is_set():
                    break
                w.append(
                    "r", 0, seq, {"uts": _pts(seq * rows, rows, 1.0), "x": np.full(rows, seq)}, {}
                )
                produced.append(seq)
                if seq == 20:
                    enough.set()

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        assert enough.wait(timeout=30)
        sizes = []
        for i in range(3):
            out = write_results(tmp_path, tmp_path / f"snap{i}.nc", root_attrs={}, groups={})
            ds = _open(out, "r")
            n = ds.sizes["uts"]
            assert n % rows == 0 and n >= 21 * rows
            np.testing.assert_array_equal(ds.uts, _pts(0, n, 1.0))
            np.testing.assert_array_equal(ds.x, np.repeat(np.arange(n // rows), rows))
            sizes.append(n)
        assert sizes == sorted(sizes)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert sizes[-1] <= len(produced) * rows


def test_records_appended_between_passes_are_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = StagingWriter(tmp_path, fsync=False)
    w.append("r", 0, 0, {"uts": _pts(0, 3), "x": np.ones(3)}, {})
    real = writer.summarise

    def summarise_then_append(jobdir: Path) -> dict[str, RoleSummary]:
        found = real(jobdir)
        w.append("r", 0, 1, {"uts": _pts(10, 3), "x": np.ones(3), "y": np.ones(3)}, {})
        w.append("new", 0, 0, {"uts": _pts(10, 3)}, {})
        return found

    monkeypatch.setattr(writer, "summarise", summarise_then_append)
    with w:
        out = write_results(tmp_path, tmp_path / "snap.nc", root_attrs={}, groups={})
    tree = xr.open_datatree(out, engine="h5netcdf", decode_times=False)
    assert set(tree.children) == {"r"}
    assert tree["r"].sizes["uts"] == 3 and set(tree["r"].data_vars) == {"task", "x"}


def test_100k_points_append_and_write_quickly(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    with StagingWriter(tmp_path, fsync=False) as w:
        for seq in range(100):
            cols = {"uts": _pts(seq * 1000, 1000, 0.001)}
            cols.update({f"v{i}": np.random.default_rng(seq).random(1000) for i in range(5)})
            w.append("r", 0, seq, cols, {"v0": "V"})
    t1 = time.perf_counter()
    out = write_results(tmp_path, tmp_path / "r.nc", root_attrs={}, groups={})
    t2 = time.perf_counter()
    ds = _open(out, "r")
    assert ds.sizes["uts"] == 100_000 and set(ds.data_vars) == {
        "task",
        "v0",
        "v1",
        "v2",
        "v3",
        "v4",
    }
    # ~0.1 s each on an idle core; generous for a shared 2-core machine
    assert t1 - t0 < 5.0 and t2 - t1 < 5.0, (t1 - t0, t2 - t1)
