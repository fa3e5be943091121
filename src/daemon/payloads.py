"""The parsed payloads of queued and running jobs, kept while the job lives
(parsing one is the costly part of a scheduling pass)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sugo.config.payload import Payload
    from sugo.daemon.store import JobRow


class PayloadCache:
    def __init__(self) -> None:
        self._payloads: dict[int, Payload] = {}

    def payload_of(self, job: "JobRow") -> "Payload":
        cached = self._payloads.get(job.id)
        if cached is None:
            from sugo.config.payload import Payload

            cached = Payload.model_validate_json(job.payload)
            self._payloads[job.id] = cached
        return cached

    def forget(self, jobid: int) -> None:
        self._payloads.pop(jobid, None)
