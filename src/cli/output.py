"""What the CLI prints: one JSON document with ``--json``, compact human text
otherwise (aligned tables, colour only on a terminal), errors as one line.
"""

import os
import sys
import time
import unicodedata
from collections.abc import Sequence
from typing import Any, TextIO

#: A table cell: its text, or (text, style) with a style name of STYLES.
Cell = str | tuple[str, str]

STYLES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "cyan": "36",
}

#: Job status → style, so the eye finds failures at once.
STATUS_STYLES = {
    "q": "dim",
    "qw": "cyan",
    "r": "blue",
    "rd": "yellow",
    "c": "green",
    "ce": "red",
    "cd": "yellow",
}


class CliError(Exception):
    """End the command with ``code`` and a one-line ``message``; ``extra``
    keys go into the ``--json`` error document."""

    def __init__(self, message: str, code: int = 1, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.extra = extra


#: Control characters with a readable escape: a newline in a job name shows as ``\n``.
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e", "\x00": "\\0"}


def clean(text: str) -> str:
    """``text`` safe to print on a terminal: control and format characters
    (newlines, NUL, ESC of terminal escape sequences, bidi overrides) shown as
    visible escapes, so that a job name or sample id can neither break a row
    nor act on the terminal. Printable text, wide characters included, is kept."""
    if text.isprintable():
        return text  # the common case, in C
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif ch in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[ch])
        elif unicodedata.category(ch) in ("Mn", "Me") or ch in "\u200d\ufe0f":
            out.append(ch)  # combining marks and emoji joiners print fine
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def width(text: str) -> int:
    """How many terminal columns ``text`` takes (escape codes excluded): wide
    East Asian characters and most emoji take two, combining marks none."""
    if text.isascii():
        return len(text)
    n = 0
    for ch in text:
        if unicodedata.combining(ch) or ch in "\u200b\u200d\ufe0e\ufe0f":
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


def pad(text: str, columns: int) -> str:
    """``text`` padded with spaces to ``columns`` terminal columns."""
    return text + " " * max(0, columns - width(text))


def fmt_time(t: float | None) -> str:
    """Seconds since the epoch → local ``YYYY-MM-DD HH:MM:SS``; ``-`` for none."""
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def fmt_value(value: Any) -> str:
    """A value from a driver: quantities (``{"value", "units"}``) as ``1.5 s``."""
    if isinstance(value, dict) and set(value) == {"value", "units"}:
        units = value["units"]
        number = fmt_value(value["value"])
        return f"{number} {clean(str(units))}" if units else number
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(fmt_value(v) for v in value)
    if isinstance(value, float):
        return fmt_float(value)
    return clean(str(value))


def fmt_float(value: float) -> str:
    """A float as people write it: ``26.85``, not ``26.850000000000023``
    (12 significant digits drop the binary noise and keep any real precision)."""
    return repr(float(f"{value:.12g}"))  # nan and inf stay as they are


def to_json_text(obj: Any) -> str:
    """``obj`` (Structs included) as indented JSON text."""
    import msgspec

    return msgspec.json.format(msgspec.json.encode(obj), indent=2).decode()


class Output:
    """Where and how one command prints."""

    def __init__(
        self,
        json_mode: bool = False,
        quiet: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.colour = _wants_colour(self.out) and not json_mode

    # -- streams --------------------------------------------------------------

    def line(self, text: str = "") -> None:
        """A line of human output on stdout (never in ``--json`` mode)."""
        if not self.json_mode:
            print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        """Chatter on stderr (progress, hints); silenced by ``-q``."""
        if not self.quiet:
            print(clean(text), file=self.err, flush=True)

    def json(self, obj: Any) -> None:
        """The one JSON document of a ``--json`` command."""
        print(to_json_text(obj), file=self.out, flush=True)

    def error(self, message: str, **extra: Any) -> None:
        """The reason a command failed: one line on stderr, and the JSON error
        document on stdout with ``--json``."""
        one_line = self.reason(message)
        if self.json_mode:
            self.json({"error": one_line, **extra})

    def reason(self, message: str) -> str:
        """Why a command failed, as one ``sugo: ...`` line on stderr only
        (for commands whose JSON document already says it)."""
        one_line = clean(" ".join(message.split()))
        print(f"sugo: {one_line}", file=self.err, flush=True)
        return one_line

    # -- formatting -----------------------------------------------------------

    def paint(self, text: str, style: str | None) -> str:
        if not self.colour or not style:
            return text
        return f"\033[{STYLES[style]}m{text}\033[0m"

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        """Print rows under headers, columns aligned; ``(none)`` when empty."""
        for text in self.table_lines(headers, rows):
            self.line(text)

    def table_lines(self, headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> list[str]:
        # Every cell cleaned (a name may hold a newline or an escape sequence)
        # and measured in terminal columns (an emoji takes two).
        cells = [
            [(clean(c), None) if isinstance(c, str) else (clean(c[0]), c[1]) for c in row]
            for row in rows
        ]
        widths = [width(h) for h in headers]
        for row in cells:
            for i, (text, _) in enumerate(row):
                widths[i] = max(widths[i], width(text))
        last = len(headers) - 1

        def render(row: Sequence[tuple[str, str | None]]) -> str:
            # Pad before painting, so escape codes never break the alignment.
            parts = [
                self.paint(text if i == last else pad(text, widths[i]), style)
                for i, (text, style) in enumerate(row)
            ]
            return "  ".join(parts).rstrip()

        lines = [render([(h, "bold") for h in headers])]
        lines += [render(row) for row in cells]
        if not cells:
            lines.append(self.paint("(none)", "dim"))
        return lines


def _wants_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
