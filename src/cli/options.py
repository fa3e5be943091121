"""The skeleton of the `sugo` parser: the options every command takes, the
top-level parser (--version, the epilog of exit codes) and the adder that
gives each subcommand the common options and its handler."""

import argparse

from sugo import __version__
from sugo.cli.argtypes import log_level, path, port_number


def common_options(parser_class: type[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    # SUPPRESS as default: an option given before the subcommand is not
    # overwritten by the subcommand's own (absent) copy of it.
    common = parser_class(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument(
        "--port",
        type=port_number,
        default=argparse.SUPPRESS,
        help="daemon port (default: $SUGO_PORT, else 9271)",
    )
    group.add_argument(
        "--appdir",
        type=path,
        default=argparse.SUPPRESS,
        help="folder of settings.toml (default: $SUGO_APPDIR, else the user config folder)",
    )
    group.add_argument(
        "--connect",
        metavar="tcp://HOST:PORT",
        default=argparse.SUPPRESS,
        help="a daemon's [network] listen endpoint (CURVE, with the keys in --appdir)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document on stdout",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more logging (repeat for more)",
    )
    group.add_argument(
        "-q", "--quiet", action="count", default=argparse.SUPPRESS, help="less output"
    )
    group.add_argument(
        "--verbosity",
        type=log_level,
        default=argparse.SUPPRESS,
        metavar="LEVEL",
        help="log level (tomato's option): DEBUG, INFO, WARNING, ERROR or CRITICAL;"
        " for 'start', the daemon's and its driver hosts'",
    )
    return common


COMMON_DEFAULTS = {
    "port": None, "appdir": None, "connect": None, "json": False, "verbose": 0, "quiet": 0,
    "verbosity": None,
}  # fmt: skip


class Adder:
    """Adds subcommands that all carry the common options."""

    def __init__(
        self,
        sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
        common: argparse.ArgumentParser,
    ) -> None:
        self.sub = sub
        self.common = common

    def __call__(
        self, name: str, handler: str | None, help: str, **kw: object
    ) -> argparse.ArgumentParser:
        p = self.sub.add_parser(
            name,
            help=help,
            description=help,
            parents=[self.common],
            **kw,  # type: ignore[arg-type]
        )
        if handler is not None:
            p.set_defaults(handler=handler)
        return p

    def verbs(self, parser: argparse.ArgumentParser) -> "Adder":
        """An adder of the verbs of a command (``sugo pipeline load ...``)."""
        return Adder(parser.add_subparsers(dest="verb", metavar="VERB", required=True), self.common)


def top_parser(
    parser_class: type[argparse.ArgumentParser],
) -> tuple[argparse.ArgumentParser, Adder]:
    common = common_options(parser_class)
    parser = parser_class(
        prog="sugo",
        description="Run jobs on lab instruments through the sugo daemon.",
        parents=[common],
        epilog="exit codes: 0 done, 1 refused or failed, 2 usage error, "
        "3 daemon not reachable, 4 'wait' timed out",
    )
    parser.add_argument("--version", action="version", version=f"sugo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser, Adder(sub, common)
