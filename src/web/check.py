"""Whether each pipeline could run a payload, decided as `sugo check` does:
by the daemon, in a dry run of the submit the web API would send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sugo.client import SugoClient
    from sugo.protocol.daemon_api import Submit


def verdicts(client: SugoClient, req: Submit) -> list[dict[str, Any]]:
    status = client.status()
    pipelines = {p.name: p for p in status.pipelines}
    out = []
    for v in client.dry_run(req).pipelines:
        p = pipelines.get(v.name)
        out.append({"name": v.name, "can_run": v.reason is None, "reason": v.reason,
                    "ready": p.ready if p else False,
                    "sample": p.sample if p else None})  # fmt: skip
    return out
