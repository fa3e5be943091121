"""Render a terminal capture with ANSI colours (``tmux capture-pane -p -e``) to a PNG.

    tmux capture-pane -p -e -t SESSION > watch.ansi
    python docs/images/render_terminal.py watch.ansi docs/images/watch.png

Used for the `sugo job watch` screenshot of the docs; needs Pillow and uses
matplotlib's DejaVu Sans Mono font (both come with ``sugo[plot]``).
"""

import re
import sys
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (30, 30, 36)
FOREGROUND = (220, 220, 220)
#: The 8 basic ANSI colours, and their bright variants.
COLOURS = [
    (40, 40, 40), (224, 108, 117), (152, 195, 121), (229, 192, 123),
    (97, 175, 239), (198, 120, 221), (86, 182, 194), (220, 220, 220),
]  # fmt: skip
SGR = re.compile(r"\033\[([0-9;]*)m")
OTHER_ESCAPES = re.compile(r"\033\[[0-9;?]*[A-La-ln-zN-Z]")


def _fonts(size: int) -> tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont]:
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return (
        ImageFont.truetype(str(folder / "DejaVuSansMono.ttf"), size),
        ImageFont.truetype(str(folder / "DejaVuSansMono-Bold.ttf"), size),
    )


def _runs(line: str) -> list[tuple[str, tuple[int, int, int], bool]]:
    """(text, colour, bold) pieces of one line."""
    line = OTHER_ESCAPES.sub("", line)
    colour, bold, dim = FOREGROUND, False, False
    runs = []
    pos = 0
    for m in SGR.finditer(line):
        if m.start() > pos:
            runs.append((line[pos : m.start()], _shade(colour, dim), bold))
        pos = m.end()
        for code in [int(c) for c in m.group(1).split(";") if c] or [0]:
            if code == 0:
                colour, bold, dim = FOREGROUND, False, False
            elif code == 1:
                bold = True
            elif code == 2:
                dim = True
            elif code == 22:
                bold = dim = False
            elif 30 <= code <= 37:
                colour = COLOURS[code - 30]
            elif 90 <= code <= 97:
                colour = COLOURS[code - 90]
            elif code == 39:
                colour = FOREGROUND
    if pos < len(line):
        runs.append((line[pos:], _shade(colour, dim), bold))
    return runs


def _shade(colour: tuple[int, int, int], dim: bool) -> tuple[int, int, int]:
    if not dim:
        return colour
    r, g, b = colour
    return (r * 3 // 5, g * 3 // 5, b * 3 // 5)


def render(text: str, path: Path, size: int = 15, pad: int = 14) -> Path:
    lines = text.rstrip("\n").split("\n")
    while lines and not SGR.sub("", lines[-1]).strip():
        lines.pop()
    regular, bold = _fonts(size)
    cell_w = round(regular.getlength("M"))
    cell_h = round(size * 1.35)
    columns = max((len(SGR.sub("", OTHER_ESCAPES.sub("", ln))) for ln in lines), default=1)
    image = Image.new(
        "RGB", (2 * pad + cell_w * columns, 2 * pad + cell_h * len(lines)), BACKGROUND
    )
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        x = pad
        for piece, colour, strong in _runs(line):
            font = bold if strong else regular
            for ch in piece:  # cell by cell, so every glyph sits on the grid
                draw.text((x, pad + row * cell_h), ch, font=font, fill=colour)
                x += cell_w
    image.save(path)
    return path


if __name__ == "__main__":
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    print(render(source.read_text(encoding="utf-8"), target))
