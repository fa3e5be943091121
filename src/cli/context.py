"""What every command handler gets: its arguments, the output, and lazily the
port, app folder and a daemon client."""

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sugo.cli.output import Output
from sugo.paths import resolve_appdir, resolve_port

if TYPE_CHECKING:
    from sugo.client import SugoClient

# Exit codes of CLI.md.
OK = 0
FAILED = 1
USAGE = 2
UNREACHABLE = 3
TIMED_OUT = 4


@dataclass
class Context:
    args: argparse.Namespace
    out: Output
    _clients: list["SugoClient"] = field(default_factory=list)

    @property
    def port(self) -> int:
        return resolve_port(self.args.port)

    @property
    def appdir(self) -> Path:
        return resolve_appdir(self.args.appdir)

    @property
    def verbose(self) -> int:
        return int(self.args.verbose)

    def client(self, timeout: float = 5.0, host: str = "127.0.0.1") -> "SugoClient":
        """A client of the daemon on this command's port, closed by `close`."""
        from sugo.client import SugoClient

        client = SugoClient(self.port, self.args.appdir, timeout=timeout, host=host)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
