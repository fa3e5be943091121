"""Payloads both systems accept (tomato's payload version 1.0, YAML), and the
points recorded in a results file of either system."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parent.parent
TOMATO_DATA = REPO / "tests" / "data" / "tomato"


def counter_payload(
    sample: str,
    duration: float,
    interval: float,
    output: Path,
    unlock: bool = True,
    prefix: str | None = None,
) -> str:
    """One `count` task on role `counter`, as payload 1.0 YAML (JSON is YAML)."""
    out: dict[str, str] = {"path": str(output)}
    if prefix:
        out["prefix"] = prefix
    doc = {
        "version": "1.0",
        "sample": {"name": sample},
        "method": [
            {
                "component_tag": "counter",
                "technique_name": "count",
                "max_duration": duration,
                "sampling_interval": interval,
            }
        ],
        "settings": {"unlock_when_done": unlock, "verbosity": "WARNING", "output": out},
    }
    return json.dumps(doc, indent=1)


def uts_by_group(path: Path) -> dict[str, np.ndarray]:
    """The `uts` values of every group of a results file (sugo's or tomato's)."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        for name, item in f.items():
            if isinstance(item, h5py.Group) and "uts" in item:
                out[name] = np.asarray(item["uts"][()], dtype=float)
    return out


def last_uts(path: Path) -> float | None:
    """The latest timestamp in a results file (None when it has no points)."""
    groups = uts_by_group(path)
    ends = [float(u.max()) for u in groups.values() if u.size]
    return max(ends) if ends else None


def spacing(uts: np.ndarray, interval: float) -> tuple[float, float]:
    """Mean and max |Δuts - interval| in seconds."""
    if uts.size < 2:
        return float("nan"), float("nan")
    err = np.abs(np.diff(np.sort(uts)) - interval)
    return float(err.mean()), float(err.max())
