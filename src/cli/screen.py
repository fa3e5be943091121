"""Redrawing a block of lines in place on a terminal, and measuring and
clipping text that carries colour escape codes."""

import re
import shutil
from typing import TextIO

from sugo.cli.output import width

_ESCAPE = re.compile(r"\033\[[0-9;?]*[A-Za-z]")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` terminal columns (escape codes kept intact)."""
    out: list[str] = []
    seen = 0
    pos = 0
    while pos < len(text):
        m = _ESCAPE.match(text, pos)
        if m:
            out.append(m.group())
            pos = m.end()
            continue
        cells = width(text[pos])
        if seen + cells > limit:
            out.append("\033[0m")
            break
        out.append(text[pos])
        seen += cells
        pos += 1
    return "".join(out)


def visible_width(text: str) -> int:
    """Terminal columns of ``text`` without its escape codes."""
    return width(_ESCAPE.sub("", text))


class Screen:
    """Redraws a block of lines in place on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.height = 0

    @staticmethod
    def columns() -> int:
        """Usable width: one less than the terminal's, so no line wraps."""
        return max(20, shutil.get_terminal_size().columns - 1)

    def draw(self, lines: list[str]) -> None:
        width = self.columns()
        parts = [f"\033[{self.height}F"] if self.height else []
        parts += [f"\033[2K{clip(line, width)}\n" for line in lines]
        if len(lines) < self.height:
            parts.append("\033[J")
        self.stream.write("".join(parts))
        self.stream.flush()
        self.height = len(lines)
