"""Moved to `sugo.platform.procs` (kept for the branches that still import it)."""

from sugo.platform.procs import (
    Tracked,
    discard_early,
    on_termination,
    spawn_early,
    spawn_python,
)

__all__ = ["Tracked", "discard_early", "on_termination", "spawn_early", "spawn_python"]
