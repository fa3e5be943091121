"""The code blocks of the documentation, as tests/integration/test_docs.py runs them.

A page is README.md or docs/*.md (not the generated docs/reference/). Its
fenced blocks are:

- ``sh`` (``bash``, ``console``, ``shell``): commands. When lines start with
  ``$ ``, each such line is a command and the lines under it its expected
  output (stdout and stderr together); otherwise every line is a command that
  must exit 0 (a ``\\`` at the end of a line continues it, ``#`` lines are
  comments).
- ``python``: a script. Comment lines right under a line with ``print(`` are
  what that print shows. A block whose first line starts with ``>>>`` (or a
  ``pycon`` block) runs like the interactive prompt, each ``>>>`` line
  followed by what it shows.
- anything else (``toml``, output shown as plain text, trees): not run.

Expected output may use ``...`` for any text (times, paths, ids, random
values), as doctest's ELLIPSIS; runs of spaces count as one; the daemon's
port always reads 9271.

Markers are HTML comments on their own line, so readers of the rendered page
never see them:

- ``<!-- doc-test: skip REASON -->`` before a block: it is not run (e.g. the
  install commands); the reason is required, so skipping is deliberate.
- ``<!-- doc-test: file NAME -->`` before a block: its text is written to the
  file NAME in the page's folder (a payload the commands below use).
- ``<!-- doc-test: continues PAGE -->`` anywhere: the page runs after PAGE,
  in the same folder and with the same daemon settings (it reads the files
  PAGE made).
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELL = frozenset({"sh", "bash", "console", "shell"})
PYTHON = frozenset({"python", "py", "pycon"})
DEFAULT_PORT = "9271"

_MARKER = re.compile(r"^\s*<!--\s*doc-test:\s*(\w+)\s*(.*?)\s*-->\s*$")
_FENCE = re.compile(r"^(\s*)(```+)\s*([\w-]*)\s*$")


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    skip: str | None = None  # the reason
    file: str | None = None  # write the text here instead of running it

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.lang in SHELL or self.lang in PYTHON


@dataclass
class Page:
    name: str  # relative to the repository, e.g. docs/jobs.md
    blocks: list[Block] = field(default_factory=list)
    continues: str | None = None


def pages(root: Path = ROOT) -> list[Path]:
    """Every page whose blocks are run: README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def parse(path: Path, root: Path = ROOT) -> Page:
    name = path.relative_to(root).as_posix()
    page = Page(name)
    lines = path.read_text(encoding="utf-8").splitlines()
    pending: dict[str, str] = {}
    i = 0
    while i < len(lines):
        m = _MARKER.match(lines[i])
        fence = _FENCE.match(lines[i])
        if m:
            kind, arg = m.group(1), m.group(2)
            if kind == "continues":
                page.continues = arg
            elif kind in ("skip", "file"):
                if not arg:
                    raise ValueError(f"{name}:{i + 1}: doc-test {kind} needs an argument")
                pending[kind] = arg
            else:
                raise ValueError(f"{name}:{i + 1}: unknown doc-test marker {kind!r}")
        elif fence:
            indent, ticks, lang = fence.groups()
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not re.match(rf"^\s*{ticks}\s*$", lines[j]):
                body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
                j += 1
            text = "\n".join(body) + "\n"
            page.blocks.append(
                Block(name, i + 1, lang.lower(), text, pending.get("skip"), pending.get("file"))
            )
            pending = {}
            i = j
        elif lines[i].strip() and pending:
            raise ValueError(f"{name}:{i + 1}: a doc-test marker must come right before a block")
        i += 1
    return page


# -- shell blocks ------------------------------------------------------------------------


@dataclass
class Command:
    line: int
    command: str
    expected: str | None  # None: only the exit code (0) is checked


def commands(block: Block) -> list[Command]:
    lines = block.text.splitlines()
    out: list[Command] = []
    if any(line.startswith("$ ") for line in lines):
        for n, line in enumerate(lines):
            if line.startswith("$ "):
                out.append(Command(block.line + 1 + n, line[2:], ""))
            elif out:
                out[-1].expected = (out[-1].expected or "") + line + "\n"
        return out
    joined = ""
    for n, line in enumerate(lines):
        if not joined and (not line.strip() or line.lstrip().startswith("#")):
            continue
        joined += line
        if joined.endswith("\\"):
            joined = joined[:-1] + " "
            continue
        out.append(Command(block.line + 1 + n, joined, None))
        joined = ""
    return out


# -- python blocks -----------------------------------------------------------------------


def python_script(block: Block) -> tuple[str, str]:
    """The script to run and the output it should print."""
    lines = block.text.splitlines()
    if block.lang == "pycon" or (lines and lines[0].startswith(">>>")):
        return _prompt_script(lines)
    expected: list[str] = []
    after_print = False
    for line in lines:
        stripped = line.strip()
        if after_print and stripped.startswith("#"):
            expected.append(stripped[1:].removeprefix(" "))
            continue
        after_print = "print(" in line and not stripped.startswith("#")
    return block.text, "\n".join(expected) + ("\n" if expected else "")


def _prompt_script(lines: list[str]) -> tuple[str, str]:
    sources: list[str] = []
    expected: list[str] = []
    for line in lines:
        if line.startswith(">>> "):
            sources.append(line[4:])
        elif line.startswith("... ") and sources:
            sources[-1] += "\n" + line[4:]
        elif line.strip():
            expected.append(line)
    script = (
        "import sys\nns = {}\n"
        f"for src in {sources!r}:\n"
        "    exec(compile(src + '\\n', '<doc>', 'single'), ns)\n"
    )
    return script, "\n".join(expected) + "\n"


# -- comparing output --------------------------------------------------------------------


def _normal(text: str) -> str:
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(lines).strip("\n")


def matches(expected: str, actual: str, port: int | None = None) -> bool:
    """Whether ``actual`` is what ``expected`` shows (``...`` = any text)."""
    if port is not None:
        actual = re.sub(rf"\b{port}\b", DEFAULT_PORT, actual)
    parts = [re.escape(p) for p in _normal(expected).split("...")]
    return re.fullmatch(".*?".join(parts), _normal(actual), re.DOTALL) is not None
