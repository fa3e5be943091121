"""Docs that run: every command and Python block of README.md and docs/*.md is
run against a real daemon, and the output it shows is checked (see
tests/integration/docblocks.py for the rules and the markers).

Each page (or chain of pages: one that `continues` another) gets a fresh
folder, app folder and free port. A page that sets up its own daemon (it runs
`sugo init`) starts from an empty app folder; any other page gets a running
daemon with the simulated devices of `sugo init`. New pages are picked up as
they are added.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import docblocks
from tests.integration.docblocks import Block, Page
from tests.integration.harness import DaemonHarness, wait_for

pytestmark = pytest.mark.integration

COMMAND_TIMEOUT = 120.0  # the longest doc job is 20 s; a loaded CI box is slow


def chains() -> list[list[Page]]:
    """Pages in the order they run: a page another one continues runs first,
    in the same test."""
    parsed = {p.name: p for p in map(docblocks.parse, docblocks.pages())}
    continued = {p.continues for p in parsed.values() if p.continues}
    for name in continued:
        assert name in parsed, f"a page continues {name}, which does not exist"
    out = []
    for page in parsed.values():
        if page.name in continued:
            continue  # it runs at the head of the chain of the page that continues it
        chain = [page]
        while chain[0].continues:
            chain.insert(0, parsed[chain[0].continues])
        out.append(chain)
    return out


CHAINS = chains()


def _own_daemon(chain: list[Page]) -> bool:
    return any(
        c.command.lstrip().startswith("sugo init")
        for page in chain
        for b in page.blocks
        if b.lang in docblocks.SHELL and b.skip is None
        for c in docblocks.commands(b)
    )


class DocRun:
    """The folder, environment and daemon one chain of pages runs in."""

    def __init__(self, root: Path, own_daemon: bool) -> None:
        self.cwd = root / "work"
        self.cwd.mkdir()
        self.harness = DaemonHarness(root / "h")
        if own_daemon:  # the page writes the files itself (`sugo init`)
            for f in self.harness.appdir.iterdir():
                f.unlink()
        bindir = str(Path(sys.executable).parent)  # `sugo` and `python` of this venv
        self.env = {
            **os.environ,
            "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            "SUGO_APPDIR": str(self.harness.appdir),
            "SUGO_PORT": str(self.harness.port),
            "NO_COLOR": "1",
            "COLUMNS": "100",
            "MPLBACKEND": "Agg",
            # The pages show the built-in simulated drivers, as the README's
            # install has them; the test extra also installs tomato-psutil,
            # which would otherwise win for `psutil` (its memory is integers).
            "SUGO_BUILTIN_DRIVERS": "psutil",
        }

    def sh(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command], cwd=self.cwd, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=COMMAND_TIMEOUT,
            check=False,
        )  # fmt: skip

    def python(self, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script], cwd=self.cwd, env=self.env, text=True,
            capture_output=True, timeout=COMMAND_TIMEOUT, check=False,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop whatever daemon the pages left running; fail if one survives."""
        if self.harness.proc is not None:
            self.harness.stop()
            return
        from sugo.cli.lifecycle import port_free

        if not port_free(self.harness.port):
            self.sh("sugo stop --force")
        wait_for(lambda: port_free(self.harness.port), 30, "the page's daemon to stop")


@pytest.fixture
def run_in(tmp_path: Path) -> Iterator[type]:
    made: list[DocRun] = []

    def make(own_daemon: bool) -> DocRun:
        made.append(DocRun(tmp_path, own_daemon))
        return made[-1]

    yield make  # type: ignore[misc]
    for r in made:
        r.stop()


# An IPv4 address that is not this machine's loopback (or the wildcard).
FOREIGN_ADDRESS = re.compile(r"\b(?!127\.|0\.0\.0\.0\b)\d{1,3}(?:\.\d{1,3}){3}\b")


def run_block(run: DocRun, block: Block) -> None:
    # A page's example may name another PC; the test must never reach one.
    foreign = FOREIGN_ADDRESS.search(block.text)
    assert foreign is None, (
        f"{block.where}: names {foreign.group()} (another machine): mark the block"
        " `<!-- doc-test: skip REASON -->`, tests talk to this machine only"
    )
    if block.file is not None:
        (run.cwd / block.file).write_text(block.text, encoding="utf-8")
        return
    if block.lang in docblocks.SHELL:
        for c in docblocks.commands(block):
            got = run.sh(c.command)
            where = f"{block.page}:{c.line}: `{c.command}`"
            if c.expected is None:
                assert got.returncode == 0, f"{where} exited {got.returncode}:\n{got.stdout}"
            else:
                assert docblocks.matches(c.expected, got.stdout, run.harness.port), (
                    f"{where} printed:\n{got.stdout}\nbut the page shows:\n{c.expected}"
                )
        return
    script, expected = docblocks.python_script(block)
    got = run.python(script)
    assert got.returncode == 0, f"{block.where}: the Python example failed:\n{got.stderr}"
    assert docblocks.matches(expected, got.stdout), (
        f"{block.where}: the Python example printed:\n{got.stdout}\nbut the page shows:\n{expected}"
    )


@pytest.mark.timeout(600)
@pytest.mark.parametrize("chain", CHAINS, ids=["+".join(p.name for p in c) for c in CHAINS])
def test_the_docs_run_as_written(chain: list[Page], run_in) -> None:
    blocks = [
        b for p in chain for b in p.blocks if b.skip is None and (b.runnable or b.file is not None)
    ]
    if not blocks:
        return  # nothing to run (a page of prose and tables)
    run = run_in(_own_daemon(chain))
    if run.harness.appdir.joinpath("settings.toml").exists():
        run.harness.start()
    for block in blocks:
        run_block(run, block)


def test_every_skipped_block_says_why_and_every_runnable_block_is_known() -> None:
    """A block is run, written to a file, or skipped with a reason: nothing
    runnable is ignored silently, and at least the main pages run."""
    run = skipped = 0
    for chain in CHAINS:
        for page in chain:
            for block in page.blocks:
                if block.skip is not None:
                    assert block.skip.strip(), f"{block.where}: skip without a reason"
                    skipped += 1
                elif block.runnable:
                    run += 1
    # The pages about other PCs (network.md) and long-running servers (web.md)
    # are mostly skipped, each block naming the test that covers it instead;
    # still, most blocks of the docs run as written.
    assert run >= 20 and skipped <= run, (run, skipped)
