"""The data a driver host keeps for one component until the job runner
acknowledges it: numbered chunks, sent again until acknowledged, so a lost
reply loses no point."""

import threading
from typing import Any

from sugo.protocol import arrays, host_api


class ChunkBuffer:
    """Data of one component, kept until the job runner acknowledges it."""

    def __init__(self) -> None:
        self.next_seq = 1
        self.pending: list[tuple[host_api.ChunkHeader, list[bytes]]] = []
        # task_data runs on the loop thread, task_stop and reset on the worker.
        self.lock = threading.Lock()

    def take(
        self, ack: int, data: dict[str, Any]
    ) -> list[tuple[host_api.ChunkHeader, list[bytes]]]:
        """Drop what ``ack`` acknowledges, add ``data`` (a `task_data_columns`
        reply's) as a new chunk; return every chunk not acknowledged yet."""
        columns: dict[str, list[Any]] = data.get("columns") or {}
        new = None
        if columns and any(len(v) for v in columns.values()):
            new = {k: arrays.to_array(v, k) for k, v in columns.items()}
        with self.lock:
            self.pending = [c for c in self.pending if c[0].seq > ack]
            if new is not None:
                chunk = arrays.encode_chunk(
                    self.next_seq, new, data.get("units", {}), data.get("dims"), data.get("coords")
                )
                self.pending.append(chunk)
                self.next_seq += 1
            return list(self.pending)

    def reset(self) -> None:
        with self.lock:
            self.pending.clear()
