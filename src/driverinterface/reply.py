"""Reply: what every ModelInterface verb returns instead of raising."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    """The outcome of a verb: `success`, a one-line `msg`, optional `data`."""

    success: bool
    msg: str
    data: Any = None
