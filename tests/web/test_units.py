"""The web process's pieces without a server: job JSON, progress, the stream's
cursor and reader, the data readers."""

import math
from pathlib import Path

import pytest

from sugo.jobs.staging_writer import StagingWriter
from sugo.web.data import StreamReader, decode_cursor, encode_cursor, staged
from sugo.web.jobs import job_json, progress


def _job(status: str, **kw: object) -> dict:
    return {"id": 3, "status": status, "submitted_at": 1.0, "started_at": None,
            "completed_at": None, "sample": "s", "tasks": [], **kw}  # fmt: skip


@pytest.mark.parametrize(
    ("code", "word"),
    [("q", "pending"), ("qw", "pending"), ("r", "running"), ("rd", "running"),
     ("c", "completed"), ("cd", "cancelled"), ("ce", "error")],
)  # fmt: skip
def test_job_status_is_labthings_word_beside_sugos_code(code: str, word: str) -> None:
    doc = job_json(_job(code))
    assert doc["status"] == word and doc["code"] == code
    assert doc["links"]["cancel"] == "/api/v1/jobs/3/cancel"
    assert doc["output"] == ("/api/v1/jobs/3/data?format=netcdf" if code == "c" else None)


def test_progress_follows_the_longest_role() -> None:
    payload = {"method": [
        {"component_role": "a", "max_duration": 10.0},
        {"component_role": "a", "max_duration": 10.0},
        {"component_role": "b", "max_duration": 5.0},
    ]}  # fmt: skip
    tasks = [{"index": 0, "state": "completed"}, {"index": 1, "state": "running",
              "started_at": 100.0}, {"index": 2, "state": "completed"}]  # fmt: skip
    fraction, eta = progress(_job("r", started_at=90.0, tasks=tasks), payload, now=105.0)
    assert eta == pytest.approx(5.0) and fraction == pytest.approx(0.75)
    assert progress(_job("q"), payload) == (0.0, None)
    assert progress(_job("c"), payload) == (1.0, 0.0)
    assert progress(_job("r"), None) == (None, None)


def test_cursor_round_trip_and_garbage() -> None:
    assert decode_cursor(encode_cursor({"counter": 120, "b": 0})) == {"counter": 120, "b": 0}
    for junk in (None, "", "!!!", "bm90IGpzb24", encode_cursor({"x": -5})):
        assert decode_cursor(junk) in ({}, {"x": -5}) and all(
            v >= 0 for v in decode_cursor(junk).values()
        )


def test_stream_reader_sends_each_record_once_from_its_cursor(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append("r", 0, 0, {"uts": [1.0, 2.0], "v": [1.5, math.nan]}, {"v": "V"})
        reader = StreamReader(tmp_path, ["r", "absent"], {})
        assert reader.pending() > 0
        [first] = reader.read()
        assert first["uts"] == [1.0, 2.0] and first["columns"]["v"] == [1.5, None]
        assert first["units"] == {"v": "V"} and reader.pending() == 0 and reader.read() == []
        cursor = reader.cursor()
        w.append("r", 1, 0, {"uts": [3.0], "v": [7.0]}, {"v": "V"})
    again = StreamReader(tmp_path, ["r"], decode_cursor(cursor))
    [second] = again.read()
    assert second["task"] == 1 and second["uts"] == [3.0]
    roles = staged(tmp_path)
    assert roles["r"]["uts"] == [1.0, 2.0, 3.0] and roles["r"]["task"] == [0, 0, 1]
