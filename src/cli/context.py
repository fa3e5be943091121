"""What every command handler gets: its arguments, the output, and lazily the
port, app folder and a daemon client.

Import-light: every command imports it, `sugo status` included.
"""

import argparse
from typing import TYPE_CHECKING

from sugo.cli.output import Output

if TYPE_CHECKING:
    from pathlib import Path

    from sugo.client import SugoClient

# Exit codes of CLI.md.
OK = 0
FAILED = 1
USAGE = 2
UNREACHABLE = 3
TIMED_OUT = 4
INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class Context:
    def __init__(self, args: argparse.Namespace, out: Output) -> None:
        self.args = args
        self.out = out
        self._clients: list[SugoClient] = []

    @property
    def port(self) -> int:
        from sugo.paths import resolve_port

        return resolve_port(self.args.port)

    @property
    def where(self) -> str:
        """The daemon as error messages name it: its port, or the --connect endpoint."""
        connect = getattr(self.args, "connect", None)
        return f"at {connect}" if connect else f"on port {self.port}"

    @property
    def appdir(self) -> "Path":
        from sugo.paths import resolve_appdir

        return resolve_appdir(self.args.appdir)

    @property
    def verbose(self) -> int:
        return int(self.args.verbose)

    def client(self, timeout: float = 5.0, host: str | None = None) -> "SugoClient":
        """A client of the daemon on this command's port, closed by `close`; at
        ``host``, else where the app folder's daemon listens (its `[daemon] bind`)."""
        from sugo.client import SugoClient

        connect = getattr(self.args, "connect", None)
        client = SugoClient(
            None if connect else self.port, self.args.appdir, timeout, host, connect=connect
        )
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
