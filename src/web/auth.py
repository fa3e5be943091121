"""Who may use the HTTP API: bearer tokens with roles, kept in an owner-only file.

Bound to loopback (127.0.0.1 or ::1) no token is needed; any other address
requires one. A token is shown once when made; the file keeps only its SHA-256.
Roles: ``viewer`` reads and follows; ``operator`` may also submit, cancel and
change pipelines and components.

Import-light (no FastAPI): the CLI's `sugo web token` commands use it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sugo.errors import SugoError

ROLES = ("viewer", "operator")
TOKENS_FILE = "web-tokens.json"
TOKEN_PREFIX = "sugo_"


@dataclass(frozen=True)
class Identity:
    """Who makes a request: a token's name and role (``loopback`` without one)."""

    name: str
    role: str

    @property
    def can_write(self) -> bool:
        return self.role == "operator"

    @property
    def actor(self) -> str:
        """How events record this caller."""
        return f"web:{self.name}"


LOOPBACK_IDENTITY = Identity("loopback", "operator")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenFile:
    """The tokens file: ``{"tokens": [{"name", "role", "sha256", "created"}]}``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._read: tuple[tuple[int, int], list[dict[str, str]]] | None = None

    def entries(self) -> list[dict[str, str]]:
        """The tokens; read again only when the file changed (a token made or
        removed while the server runs counts at once)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise SugoError(f"{self.path}: cannot read: {e.strerror or e}") from None
        stamp = (st.st_mtime_ns, st.st_size)
        if self._read is not None and self._read[0] == stamp:
            return [dict(e) for e in self._read[1]]
        entries = self._load()
        self._read = (stamp, entries)
        return [dict(e) for e in entries]

    def _load(self) -> list[dict[str, str]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as e:
            raise SugoError(f"{self.path}: cannot read: {e.strerror or e}") from None
        try:
            data = json.loads(text)
            entries = data["tokens"]
            assert isinstance(entries, list)
            for entry in entries:
                if entry["role"] not in ROLES or not isinstance(entry["sha256"], str):
                    raise ValueError(entry)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise SugoError(f"{self.path}: not a sugo tokens file") from None
        return [dict(e) for e in entries]

    def check_private(self) -> None:
        """Refuse a tokens file others may read (it names who may operate the lab)."""
        if os.name == "posix" and self.path.exists() and self.path.stat().st_mode & 0o077:
            raise SugoError(
                f"{self.path}: readable by others (mode {self.path.stat().st_mode & 0o777:o});"
                f" run: chmod 600 {self.path}"
            )

    def lookup(self, token: str) -> Identity | None:
        digest = _digest(token)
        for entry in self.entries():
            if hmac.compare_digest(entry["sha256"], digest):
                return Identity(entry["name"], entry["role"])
        return None

    def new(self, name: str, role: str) -> str:
        """Make a token for ``name``; returns it (shown once, never stored)."""
        if role not in ROLES:
            raise SugoError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
        if not name or not name.isprintable() or len(name) > 64:
            raise SugoError(f"token name {name!r}: 1 to 64 printable characters")
        entries = self.entries()
        if any(e["name"] == name for e in entries):
            raise SugoError(f"a token named {name!r} exists; remove it first")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        entries.append({"name": name, "role": role, "sha256": _digest(token),
                        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})  # fmt: skip
        self._write(entries)
        return token

    def remove(self, name: str) -> None:
        entries = self.entries()
        kept = [e for e in entries if e["name"] != name]
        if len(kept) == len(entries):
            raise SugoError(f"no token named {name!r} in {self.path}")
        self._write(kept)

    def _write(self, entries: list[dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"tokens": entries}, f, indent=2)
            f.write("\n")
        os.replace(tmp, self.path)


def tokens_path(appdir: Path, configured: Path | None) -> Path:
    """The tokens file: ``[web] tokens`` in settings.toml, else <appdir>/web-tokens.json."""
    return Path(configured) if configured is not None else Path(appdir) / TOKENS_FILE
