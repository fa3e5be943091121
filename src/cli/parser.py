"""The `sugo` command line: the full parser, and the quick parse of one
command line that builds only the parser of the command it names.

The options live in ``sugo.cli.options``, each command's arguments in
``sugo.cli.commands``, the argument value types in ``sugo.cli.argtypes``.
"""

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from sugo.cli.commands import COMMANDS, COMPONENT_VERBS
from sugo.cli.options import COMMON_DEFAULTS, top_parser

__all__ = ["COMMON_DEFAULTS", "build_parser", "parse_args"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of the `sugo` command, with every subcommand."""
    parser, add = top_parser(argparse.ArgumentParser)
    for define in COMMANDS.values():
        define(add)
    return parser


# -- parsing one command line quickly ----------------------------------------------------
# The full parser costs ~10 ms to build (dozens of subparsers, each asking gettext
# for its strings); `sugo status` takes ~80 ms in all. So a command line is first
# parsed by a parser holding only the command it names. That parser never prints
# or exits: help, --version and every usage error go to the full parser, so what
# the user sees is exactly what the full parser says.


class _Fallback(Exception):
    """The quick parse cannot answer: parse again with the full parser."""


class _FixedWidth(argparse.HelpFormatter):
    # The quick parser never prints, so the terminal width (and `shutil`) is not needed.
    def __init__(self, prog: str, *args: Any, **kw: Any) -> None:
        super().__init__(prog, width=80)


class _QuickParser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kw: Any) -> None:
        kw["formatter_class"] = _FixedWidth
        super().__init__(*args, **kw)

    def _print_message(self, message: str, file: Any = None) -> None:
        raise _Fallback

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _Fallback

    def error(self, message: str) -> NoReturn:
        raise _Fallback


#: Common options that take a value as the next word.
_VALUED = frozenset({"--port", "--appdir", "--connect"})


def _command_at(argv: Sequence[str]) -> int | None:
    """Where the command a command line names is: its first word that is
    neither an option nor an option's value (None when unclear)."""
    skip = False
    for i, word in enumerate(argv):
        if skip:
            skip = False
        elif word == "--":
            return None
        elif word.startswith("-"):
            skip = word in _VALUED
        else:
            return i
    return None


def _verb_first(words: list[str], i: int) -> list[str]:
    """`sugo component NAME VERB ...` (the command at ``i``) as `sugo component
    VERB NAME ...`: a component's name is never a verb, so either order means
    one thing."""
    pair = words[i + 1 : i + 3]
    if len(pair) == 2 and pair[0] not in COMPONENT_VERBS and pair[1] in COMPONENT_VERBS:
        words = [*words[: i + 1], pair[1], pair[0], *words[i + 3 :]]
    return words


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``build_parser().parse_args(argv)``, but building only the parser of the
    command ``argv`` names when that parser can decide alone."""
    words = sys.argv[1:] if argv is None else list(argv)
    at = _command_at(words)
    command = None if at is None else words[at]
    if command == "component" and at is not None:
        words = _verb_first(words, at)
    define = COMMANDS.get(command or "")
    if define is not None:
        parser, add = top_parser(_QuickParser)
        define(add)
        try:
            return parser.parse_args(words)
        except _Fallback:
            pass
    return build_parser().parse_args(words)
