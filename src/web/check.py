"""Whether each pipeline could run a payload, decided as `sugo check` does:
by the daemon, in a dry run of the submit the web API would send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sugo.protocol.wire import to_builtins

if TYPE_CHECKING:
    from sugo.client import SugoClient
    from sugo.protocol.daemon_api import Submit


def verdicts(client: SugoClient, req: Submit) -> list[dict[str, Any]]:
    """Per pipeline: name, can_run, reason, ready and sample."""
    out: list[dict[str, Any]] = to_builtins(client.dry_run(req).pipelines)
    return out
