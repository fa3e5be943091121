"""What the CLI prints for people: numbers, names with control or wide
characters, task numbers, and the watch view at 80 columns."""

import re
import time

from sugo.cli.frame import Frame
from sugo.cli.jobs import role_positions
from sugo.cli.lifecycle import daemon_level
from sugo.cli.output import Output, clean, fmt_value, width
from sugo.cli.progress import RoleProgress
from sugo.cli.screen import clip, visible_width
from sugo.protocol import daemon_api as api


def test_values_print_as_people_write_them() -> None:
    assert fmt_value({"value": 26.850000000000023, "units": "degC"}) == "26.85 degC"
    assert fmt_value(0.1 + 0.2) == "0.3" and fmt_value(5.0) == "5.0" and fmt_value(3) == "3"
    assert fmt_value(1e-7) == "1e-07" and fmt_value(123456789.123) == "123456789.123"
    assert fmt_value(float("nan")) == "nan" and fmt_value([1.0000000000001, "a\nb"]) == "1.0, a\\nb"


def test_control_characters_are_escaped_and_wide_ones_measured() -> None:
    assert clean("plain name") == "plain name"
    assert clean("a\nb\r\t") == "a\\nb\\r\\t"
    assert clean("\x1b[2J\x00\x07") == "\\e[2J\\0\\x07"
    assert clean("evil\u202etxt") == "evil\\u202etxt"  # a bidi override
    assert clean("é 🧪 日本") == "é 🧪 日本"
    assert (width("abc"), width("🧪"), width("日本"), width("e\u0301")) == (3, 2, 4, 1)


def test_table_columns_line_up_with_emoji_and_escapes() -> None:
    out = Output()
    lines = out.table_lines(["A", "B"], [["🧪x", "1"], ["a\nb", "2"], ["plain", "3"]])
    assert lines[2] == "a\\nb   2"
    starts = {width(line[: line.rindex(" ") + 1]) for line in lines}
    assert len(starts) == 1, lines


def test_task_numbers_count_from_one_within_the_role() -> None:
    tasks = [
        api.TaskInfo(index=0, role="counter", technique="count", state="pending"),
        api.TaskInfo(index=1, role="psutil", technique="all", state="pending"),
        api.TaskInfo(index=2, role="counter", technique="count", state="pending"),
    ]
    assert role_positions(tasks) == [(1, 2), (1, 1), (2, 2)]


def test_the_watch_keeps_eta_points_and_state_at_80_columns() -> None:
    job = api.JobInfo(
        id=12, jobname="a rather long job name 🧪", status="r", pipeline="pip-demo",
        sample="S-042", user=None, submitted_at=0, started_at=time.time() - 4,
        completed_at=None, respath=None, snappath=None, error=None, jobdir="/x",
    )  # fmt: skip
    progress = [
        RoleProgress("counter", "c", 2, 2, "random (second)", "running", 1.1, 3.0, 1.9, 20,
                     [("value", "4.476")]),
        RoleProgress("psutil", "p", 1, 1, "all_info", "running", 4.1, 50.0, 45.9, 8,
                     [("mem_total", "24105.6 MiB"), ("cpu_usage", "88.9 %")]),
    ]  # fmt: skip
    for columns in (79, 60):
        lines = [clip(line, columns) for line in Frame(Output()).live(job, progress, 1e9, columns)]
        text = "\n".join(lines)
        assert re.search(r"ETA \d+\.\d s", text), text
        assert "20 points  running" in text and "8 points  running" in text, text
        assert all(visible_width(line) <= columns for line in lines[1:]), text


def test_start_levels() -> None:
    assert daemon_level(1) == "DEBUG" and daemon_level(2) == "DEBUG"
    assert daemon_level(0, 1) == "WARNING" and daemon_level() is None
    assert daemon_level(1, 0, "ERROR") == "ERROR"


def test_the_watch_of_a_queued_job_lists_why_it_waits() -> None:
    job = api.JobInfo(
        id=3, jobname=None, status="qw", pipeline=None, sample="S-1", user=None,
        submitted_at=0, started_at=None, completed_at=None, respath=None, snappath=None,
        error=None, jobdir="/x", waiting="pip-a: busy with job 2; pip-b: not ready",
        waiting_for={"pip-a": "busy with job 2", "pip-b": "not ready (sugo pipeline ready pip-b)"},
    )  # fmt: skip
    lines = Frame(Output()).live(job, [], 1e9, 79)
    assert lines == [
        "job 3: queued, waiting for its pipeline (qw), sample S-1",
        "  waiting on pip-a: busy with job 2",
        "  waiting on pip-b: not ready (sugo pipeline ready pip-b)",
    ]
