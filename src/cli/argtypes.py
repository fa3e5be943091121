"""The value types of `sugo` arguments: each turns one word of a command line
into a value, or says in one line why it cannot (argparse shows it as a usage error)."""

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def path(text: str) -> "Path":
    """A file or folder (``pathlib`` is imported only when one is given)."""
    from pathlib import Path

    return Path(text)


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not between 1 and 65535")
    return port


def job_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a job id: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a job id: {text!r} (ids start at 1)")
    return value


def job_or_file(text: str) -> "int | Path":
    """A job id, or (anything that is not a number) the path of a file."""
    if text.strip().isdigit():
        return job_id(text)
    return path(text)


def count(text: str) -> int:
    """A number of things: 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def pixels(text: str) -> tuple[int, int]:
    """An image size ``WxH`` in pixels, e.g. ``1200x800``."""
    try:
        width, height = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size like 1200x800: {text!r}") from None
    if not (100 <= width <= 20000 and 100 <= height <= 20000):
        raise argparse.ArgumentTypeError(f"size {text!r}: each side must be 100 to 20000 pixels")
    return width, height


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"not a log level: {text!r} (levels: {', '.join(LOG_LEVELS)})"
        )
    return text.upper()
