"""Store methods for the pipelines table: roles mapped to components, and
what a pipeline holds (sample, ready, the job on it). A mixin of
`sugo.daemon.store.Store`.

Every change is also saved beside the job folders (`sugo.daemon.store.pipelinerecords`)
when the store knows them, the durable record a lost database is rebuilt from.
"""

import json
from collections.abc import Sequence

from sugo.daemon.store import pipelinerecords
from sugo.daemon.store.base import StoreBase, must, update
from sugo.daemon.store.rows import PIPELINE_COLS, UNSET, PipelineRow, Unset, pipeline_row


class PipelineTables(StoreBase):
    def upsert_pipeline(self, name: str, components: dict[str, str]) -> PipelineRow:
        """Create a pipeline or replace its components, keeping sample/ready/jobid."""
        with self._write(f"pipeline {name}") as conn:
            conn.execute(
                "INSERT INTO pipelines (name, components) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET components = excluded.components",
                (name, json.dumps(dict(components))),
            )
            row = self._pipeline_or_raise(name)
        self._save_pipelines()
        return row

    def get_pipeline(self, name: str) -> PipelineRow | None:
        """The pipeline of that name, or None."""
        return self._one("pipelines", PIPELINE_COLS, "name", name, pipeline_row)

    def _pipeline_or_raise(self, name: str) -> PipelineRow:
        return must(self.get_pipeline(name), f"pipeline {name}")

    def list_pipelines(self) -> list[PipelineRow]:
        """All pipelines, by name."""
        return self._rows(f"SELECT {PIPELINE_COLS} FROM pipelines ORDER BY name", (), pipeline_row)

    def set_pipeline(
        self,
        name: str,
        *,
        sample: str | Unset | None = UNSET,
        ready: bool | Unset = UNSET,
        jobid: int | Unset | None = UNSET,
    ) -> PipelineRow:
        """Change only the given fields of a pipeline (None is a value: it clears)."""
        given = {"sample": sample, "ready": ready, "jobid": jobid}
        changes = {k: v for k, v in given.items() if v is not UNSET}
        if "ready" in changes:
            changes["ready"] = int(bool(changes["ready"]))
        with self._write(f"pipeline {name}") as conn:
            self._pipeline_or_raise(name)
            update(conn, "pipelines", "name", name, changes)
            row = self._pipeline_or_raise(name)
        self._save_pipelines()
        return row

    def delete_pipeline(self, name: str) -> bool:
        """Remove a pipeline; False if there was none."""
        deleted = self._delete("pipelines", name)
        if deleted:
            self._save_pipelines()
        return deleted

    def restore_pipelines(self, rows: Sequence[PipelineRow]) -> None:
        """Put pipelines back as recorded (a rebuild); one transaction. A
        pipeline there already is kept; a job held must be in the jobs table."""
        with self._write("rebuild pipelines") as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO pipelines (name, components, sample, ready, jobid)"
                " VALUES (?, ?, ?, ?, ?)",
                [(p.name, json.dumps(dict(p.components)), p.sample, int(p.ready), p.jobid)
                 for p in rows],
            )  # fmt: skip
        self._save_pipelines()

    def _save_pipelines(self) -> None:
        if self.storage is not None:
            pipelinerecords.save(self.storage, self.list_pipelines(), self.records.write)
