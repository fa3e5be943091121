"""Whether each pipeline could run a payload, decided as `sugo check` does:
roles and techniques against the daemon's status, then each task validated by
the pipeline's drivers (the daemon's read-only ``task_validate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sugo.errors import RequestFailed

if TYPE_CHECKING:
    from sugo.client import SugoClient
    from sugo.config.payload import Payload


def verdicts(client: SugoClient, payload: Payload) -> list[dict[str, Any]]:
    from sugo.daemon.scheduler import can_run  # the rule the daemon applies at submit

    status = client.status()
    components = {c.name: c for c in status.components}
    out = []
    for p in status.pipelines:
        reason = can_run(payload, p, components)  # type: ignore[arg-type]
        if reason is None:
            reason = _refused_task(client, payload, p.components)
        out.append({"name": p.name, "can_run": reason is None, "reason": reason,
                    "ready": p.ready, "sample": p.sample})  # fmt: skip
    return out


def _refused_task(client: SugoClient, payload: Payload, roles: dict[str, str]) -> str | None:
    for role in payload.roles():
        for i, task in payload.tasks_of(role):
            try:
                client.component(roles[role], "task_validate", task=task.model_dump(mode="json"))
            except RequestFailed as e:
                return f"method[{i}] ({role}): {e}"
    return None
