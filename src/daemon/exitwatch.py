"""Moved to `sugo.platform.exits` (kept for the branches that still import it)."""

from sugo.platform.exits import ExitWatch

__all__ = ["ExitWatch"]
