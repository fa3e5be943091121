"""The per-job staging store: framing, round trip, torn tails, crash durability."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sugo.jobs import records, staging, staging_writer
from sugo.jobs.staging import (
    StagingError,
    StagingWriter,
    read_chunks,
    role_file,
    summarise,
)


def _chunk(start: float, n: int, **extra: np.ndarray) -> dict[str, np.ndarray]:
    return {"uts": start + np.arange(n, dtype=np.float64), **extra}


def test_round_trip_keeps_dtypes_shapes_units_and_order(tmp_path: Path) -> None:
    cols = {
        "uts": np.array([1.0, 2.0, 3.0]),
        "f4": np.array([1.5, 2.5, 3.5], dtype=np.float32),
        "i8": np.array([-1, 0, 2**40], dtype=np.int64),
        "u2": np.array([1, 2, 65535], dtype=np.uint16),
        "flag": np.array([True, False, True]),
        "text": np.array(["a", "héllo", ""]),
        "obj": np.array(["x", "yz", "ü"], dtype=object),
        "spectrum": np.arange(6.0).reshape(3, 2),
    }
    with StagingWriter(tmp_path) as w:
        w.append("counter", 0, 7, cols, {"f4": "V", "i8": ""})
        w.append("counter", 1, 8, _chunk(4.0, 2), {})
    first, second = read_chunks(tmp_path, "counter")
    assert (first.role, first.task_index, first.seq) == ("counter", 0, 7)
    assert first.units == {"f4": "V"}  # empty units are dropped
    for name, col in cols.items():
        got = first.columns[name]
        if name == "obj":
            assert got.dtype.kind == "U"
            assert got.tolist() == col.tolist()
        else:
            assert got.dtype == col.dtype
            np.testing.assert_array_equal(got, col)
    assert (second.task_index, second.seq, second.rows) == (1, 8, 2)


def test_file_names_are_safe_and_roles_kept_in_records(tmp_path: Path) -> None:
    roles = ["a/b", "..", "x" * 300, "counter-1", "100%"]
    with StagingWriter(tmp_path, fsync=False) as w:
        for i, role in enumerate(roles):
            w.append(role, 0, i, _chunk(float(i), 1), {})
    files = sorted((tmp_path / "staging").iterdir())
    assert len(files) == len(roles)
    assert all(f.parent == tmp_path / "staging" and len(f.name) < 255 for f in files)
    assert role_file(tmp_path, "counter-1").name == "counter-1.rec"
    assert sorted(c.role for c in read_chunks(tmp_path)) == sorted(roles)
    assert [c.seq for c in read_chunks(tmp_path, "a/b")] == [0]
    assert list(read_chunks(tmp_path, "missing")) == []


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"x": np.ones(2)}, "no 'uts'"),
        ({"uts": np.ones(2), "x": np.ones(3)}, "has 3 points"),
        ({"uts": np.ones(2), "x": np.array([1, "a"], dtype=object)}, "only str"),
        ({"uts": np.ones(2), "x": np.ones(2, dtype=complex)}, "unsupported dtype"),
        ({"uts": np.array(["a", "b"])}, "1-D numeric"),
    ],
)
def test_bad_chunks_are_refused_and_nothing_written(
    tmp_path: Path, columns: dict[str, np.ndarray], message: str
) -> None:
    with StagingWriter(tmp_path, fsync=False) as w, pytest.raises(StagingError, match=message):
        w.append("r", 0, 0, columns, {})
    assert list(read_chunks(tmp_path)) == []


def test_empty_role_and_closed_writer_are_refused(tmp_path: Path) -> None:
    w = StagingWriter(tmp_path, fsync=False)
    with pytest.raises(StagingError, match="non-empty"):
        w.append("", 0, 0, _chunk(0.0, 1), {})
    w.close()
    with pytest.raises(StagingError, match="closed"):
        w.append("r", 0, 0, _chunk(0.0, 1), {})


def _three_records(jobdir: Path) -> Path:
    with StagingWriter(jobdir, fsync=False) as w:
        for seq in range(3):
            w.append("r", 0, seq, _chunk(10.0 * seq, 5, x=np.ones(5)), {})
    return role_file(jobdir, "r")


@pytest.mark.parametrize("cut", [1, 4, 20, 60])
def test_truncated_tail_is_ignored(tmp_path: Path, cut: int) -> None:
    path = _three_records(tmp_path)
    os.truncate(path, path.stat().st_size - cut)
    assert [c.seq for c in read_chunks(tmp_path)] == [0, 1]
    assert summarise(tmp_path)["r"].points == 10


# Fixed bytes (a seeded generator): parallel test workers must collect the same ids.
@pytest.mark.parametrize(
    "garbage",
    [b"\x00", b"SGS1" + b"\xff" * 40, random.Random(114).randbytes(100)],
    ids=["nul", "magic-then-ff", "random"],
)
def test_garbage_after_last_record_is_ignored(tmp_path: Path, garbage: bytes) -> None:
    path = _three_records(tmp_path)
    with path.open("ab") as f:
        f.write(garbage)
    assert [c.seq for c in read_chunks(tmp_path)] == [0, 1, 2]


def test_flipped_byte_in_last_record_fails_its_checksum(tmp_path: Path) -> None:
    path = _three_records(tmp_path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    assert [c.seq for c in read_chunks(tmp_path)] == [0, 1]


def test_reopening_cuts_a_torn_tail_so_new_records_stay_readable(tmp_path: Path) -> None:
    path = _three_records(tmp_path)
    os.truncate(path, path.stat().st_size - 3)
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append("r", 0, 3, _chunk(100.0, 2), {})
    assert [c.seq for c in read_chunks(tmp_path)] == [0, 1, 3]


def test_failed_append_leaves_no_partial_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _three_records(tmp_path)
    size = path.stat().st_size

    def broken_fsync(fd: int) -> None:
        raise OSError("disk gone")

    with StagingWriter(tmp_path, fsync=True) as w:
        monkeypatch.setattr(staging_writer.os, "fsync", broken_fsync)
        with pytest.raises(OSError, match="disk gone"):
            w.append("r", 0, 3, _chunk(100.0, 2), {})
        monkeypatch.undo()
        assert path.stat().st_size == size
        w.append("r", 0, 4, _chunk(200.0, 2), {})
    assert [c.seq for c in read_chunks(tmp_path)] == [0, 1, 2, 4]


def test_summarise_counts_unique_finite_points_per_task(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append("r", 0, 0, _chunk(0.0, 3, x=np.arange(3)), {"x": "V"})
        w.append("r", 0, 0, _chunk(0.0, 3, x=np.arange(3)), {"x": "V"})  # re-sent
        w.append("r", 0, 2, _chunk(5.0, 2, x=np.ones(2)), {"x": "mV"})
        w.append("r", 0, 1, _chunk(3.0, 2, s=np.array(["a", "b"])), {})
        w.append("r", 1, 0, {"uts": np.array([9.0, np.nan]), "x": np.ones(2)}, {})
        w.append("r", 0, 2, _chunk(5.0, 2, x=np.ones(2)), {})  # re-sent, out of order
        w.append("q", 0, 0, _chunk(0.0, 1), {})
    summary = summarise(tmp_path)
    r = summary["r"]
    assert (r.points, r.tasks) == (8, {0: 7, 1: 1})
    assert r.variables["x"].dtype == np.float64  # int64 and float64 chunks
    # units are per task: task 0's first chunk said V, task 1 gave none
    assert (r.variables["x"].task_units, r.variables["x"].points) == ({0: "V", 1: ""}, 6)
    assert r.variables["x"].units is None
    assert r.variables["s"].dtype.kind == "U"
    assert not r.ordered  # seq 1 (uts 3..4) came after seq 2 (uts 5..6)
    assert summary["q"].points == 1
    assert summary["q"].ordered


def test_seq_set_handles_any_order() -> None:
    seen = staging._SeqSet()
    order = [5, 0, 1, 2, 9, 4, 3, 7, 6, 8, 2, 9, 0]
    assert [seen.add(s) for s in order] == [True] * 10 + [False] * 3
    assert (seen._starts, seen._ends) == ([0], [9])


def test_concurrent_appends_from_threads_all_land(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:

        def work(role: str) -> None:
            for seq in range(50):
                w.append(role, 0, seq, _chunk(float(seq), 10, x=np.ones(10)), {})

        threads = [threading.Thread(target=work, args=(f"r{i % 2}-{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    summary = summarise(tmp_path)
    assert sorted(summary) == ["r0-0", "r0-2", "r1-1", "r1-3"]
    assert all(s.points == 500 for s in summary.values())


_CHILD = """
import sys
import numpy as np
from sugo.jobs.staging import StagingWriter
w = StagingWriter(sys.argv[1], fsync=True)
seq = 0
while True:
    w.append("r", 0, seq, {"uts": seq + np.arange(100.0), "x": np.ones(100)}, {})
    print(seq, flush=True)
    seq += 1
"""


def test_everything_acknowledged_survives_a_kill(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    try:
        acked = -1
        while acked < 20:
            line = proc.stdout.readline()
            assert line, "child died early"
            acked = int(line)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
    seqs = [c.seq for c in read_chunks(tmp_path, "r")]
    assert seqs == list(range(len(seqs)))
    assert len(seqs) > acked


# -- the runner's way in: chunks as the driver host sent them ------------------------


def _wire(seq: int, cols: dict[str, np.ndarray], units: dict[str, str]) -> tuple[Any, list[bytes]]:
    from sugo.protocol.arrays import encode_chunk

    return encode_chunk(seq, cols, units)


WIRE_COLUMNS = {
    "uts": np.array([1.0, 2.0, 3.0]),
    "f4": np.array([1.5, 2.5, 3.5], dtype=np.float32),
    "i8": np.array([-1, 0, 2**40], dtype=np.int64),
    "flag": np.array([True, False, True]),
    "text": np.array(["a", "héllo", ""]),
    "spectrum": np.arange(6.0).reshape(3, 2),
}


def test_a_wire_chunk_is_staged_byte_for_byte_as_its_arrays_would_be(tmp_path: Path) -> None:
    header, frames = _wire(4, WIRE_COLUMNS, {"f4": "V"})
    record = records.encode_wire_chunk("r", 2, header, frames)
    assert record is not None
    assert record == staging.encode_record("r", 2, 4, WIRE_COLUMNS, {"f4": "V", "uts": None})
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append_wire("r", 2, header, frames)
    (chunk,) = read_chunks(tmp_path)
    assert (chunk.task_index, chunk.seq, chunk.units) == (2, 4, {"f4": "V"})
    for name, col in WIRE_COLUMNS.items():
        assert chunk.columns[name].dtype == col.dtype
        np.testing.assert_array_equal(chunk.columns[name], col)


@pytest.mark.parametrize(
    "cols",
    [
        {"uts": np.array([1, 2, 3]), "x": np.ones(3)},  # integer uts: made float64
        {"uts": np.array([1.0, 2.0]), "x": np.array([1.0, 2.0], dtype=">f8")},  # big-endian
    ],
)
def test_unusual_wire_chunks_go_through_numpy(tmp_path: Path, cols: dict[str, np.ndarray]) -> None:
    header, frames = _wire(1, cols, {})
    assert records.encode_wire_chunk("r", 0, header, frames) is None
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append_wire("r", 0, header, frames)
    (chunk,) = read_chunks(tmp_path)
    assert chunk.columns["uts"].dtype == np.float64
    np.testing.assert_array_equal(chunk.columns["x"], cols["x"])


def test_a_wire_chunk_that_lies_about_its_frames_is_refused(tmp_path: Path) -> None:
    header, frames = _wire(1, {"uts": np.array([1.0, 2.0]), "x": np.ones(2)}, {})
    with StagingWriter(tmp_path, fsync=False) as w, pytest.raises(Exception, match="x"):
        w.append_wire("r", 0, header, [frames[0], frames[1][:-8]])
    assert list(read_chunks(tmp_path)) == []


def test_fsyncs_are_grouped_by_the_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(staging_writer.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    clock = [100.0]
    monkeypatch.setattr(staging_writer.time, "monotonic", lambda: clock[0])
    w = StagingWriter(tmp_path, fsync=True, fsync_interval=1.0)
    w.append("r", 0, 1, _chunk(0.0, 2), {})  # the new file's name is flushed (the folder)
    after_open = len(synced)
    for seq in range(2, 6):  # within the interval: written, not yet flushed
        clock[0] += 0.2
        w.append("r", 0, seq, _chunk(float(seq), 2), {})
    assert len(synced) == after_open
    w.sync_due()
    assert len(synced) == after_open  # not due yet
    clock[0] += 0.3
    w.sync_due()  # due: one fsync for the five records
    assert len(synced) == after_open + 1
    w.sync_due()  # nothing new
    clock[0] += 5
    w.sync_due()
    assert len(synced) == after_open + 1
    w.append("r", 0, 6, _chunk(6.0, 2), {})  # a second after the last flush: flushed at once
    assert len(synced) == after_open + 2
    clock[0] += 0.1
    w.append("r", 0, 7, _chunk(7.0, 2), {})
    w.close()  # close flushes what is left
    assert len(synced) == after_open + 3
    assert [c.seq for c in read_chunks(tmp_path)] == [1, 2, 3, 4, 5, 6, 7]


def test_fsync_interval_zero_flushes_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(staging_writer.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    with StagingWriter(tmp_path, fsync=True, fsync_interval=0.0) as w:
        w.append("r", 0, 1, _chunk(0.0, 2), {})
        first = len(synced)
        for seq in range(2, 5):
            w.append("r", 0, seq, _chunk(float(seq), 2), {})
        assert len(synced) == first + 3
