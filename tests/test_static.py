"""The static checks run with the suite: ruff (lint and format), mypy and the
import-linter layer contracts in pyproject.toml. The README's test command is
just pytest, so a lint, type or layering error fails CI like a failing test."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
CODE = ["src", "tests", "bench"]


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{output}"


def test_ruff_lint() -> None:
    _run([str(BIN / "ruff"), "check", *CODE])


def test_ruff_format() -> None:
    _run([str(BIN / "ruff"), "format", "--check", *CODE])


def test_mypy() -> None:
    # `src/` is the package `sugo`; mypy reads packages from folders, so it is
    # given a folder (in the venv, kept between runs for mypy's cache) that
    # holds a link `sugo -> src`.
    folder = Path(sys.prefix) / "sugo-typecheck"
    folder.mkdir(exist_ok=True)
    link = folder / "sugo"
    if not (link.is_symlink() and link.resolve() == (ROOT / "src").resolve()):
        if link.is_symlink():
            link.unlink()
        link.symlink_to(ROOT / "src", target_is_directory=True)
    env = {**os.environ, "MYPYPATH": str(folder)}
    _run([str(BIN / "mypy")], env=env)


def test_import_layers() -> None:
    _run([str(BIN / "lint-imports"), "--no-cache"])
