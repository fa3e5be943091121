"""The rules by which the documentation's blocks are run (tests/integration/docblocks.py)."""

from pathlib import Path

import pytest

from tests.integration.docblocks import commands, matches, parse, python_script


def page(tmp_path: Path, text: str) -> Path:
    (tmp_path / "docs").mkdir(exist_ok=True)
    path = tmp_path / "docs" / "p.md"
    path.write_text(text)
    return path


def test_markers_apply_to_the_next_block(tmp_path: Path) -> None:
    text = """# P
<!-- doc-test: continues docs/quickstart.md -->

<!-- doc-test: skip installs things -->
```sh
pip install x
```

<!-- doc-test: file first.toml -->
```toml
a = 1
```

```sh
sugo start   # comment
sugo status \\
  pipelines
```

```
plain text
```
"""
    p = parse(page(tmp_path, text), tmp_path)
    assert p.continues == "docs/quickstart.md"
    skip, file, cmds, plain = p.blocks
    assert skip.skip == "installs things" and skip.runnable
    assert file.file == "first.toml" and file.text == "a = 1\n" and not file.runnable
    assert cmds.skip is None and [c.command for c in commands(cmds)] == [
        "sugo start   # comment",
        "sugo status    pipelines",
    ]
    assert not plain.runnable


def test_a_marker_must_touch_its_block(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="right before a block"):
        parse(page(tmp_path, "<!-- doc-test: skip x -->\ntext\n```sh\nls\n```\n"), tmp_path)
    with pytest.raises(ValueError, match="needs an argument"):
        parse(page(tmp_path, "<!-- doc-test: skip -->\n```sh\nls\n```\n"), tmp_path)


def test_console_blocks_pair_commands_with_output(tmp_path: Path) -> None:
    p = parse(page(tmp_path, "```sh\n$ sugo check a\nline 1\n  ...\n$ sugo x\n```\n"), tmp_path)
    got = [(c.command, c.expected) for c in commands(p.blocks[0])]
    assert got == [("sugo check a", "line 1\n  ...\n"), ("sugo x", "")]


def test_python_output_comes_from_comments_under_prints(tmp_path: Path) -> None:
    text = "```python\nx = 1  # one\nprint(x)\n# 1\n\n# a comment\nprint(2, 3)\n# 2 3\n```\n"
    script, expected = python_script(parse(page(tmp_path, text), tmp_path).blocks[0])
    assert expected == "1\n2 3\n" and script.startswith("x = 1")
    prompt = "```python\n>>> 1 + 1\n2\n```\n"
    script, expected = python_script(parse(page(tmp_path, prompt), tmp_path).blocks[0])
    assert expected == "2\n" and "'single'" in script


def test_output_matching() -> None:
    assert matches("job 1: ... points", "job 1: 17 points")
    assert matches("a  b\n...\nend", "a b\nx\ny\nend\n")
    assert not matches("19.81", "19.8")
    assert matches("port 9271", "port 40123", port=40123)
    assert not matches("exact", "exact and more")
