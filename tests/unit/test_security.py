"""Security properties that hold without a running daemon: no code path
deserialises untrusted bytes unsafely, output paths cannot escape the submit
folder, files with settings, jobs and data are readable by their owner only,
and the daemon and driver hosts listen on loopback unless told otherwise.
(The live checks, on a real daemon, are in tests/integration/test_fuzz.py.)
"""

import ast
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from sugo.cli.setup import write_config
from sugo.config.defaults import render_settings
from sugo.config.files import validate
from sugo.config.payload import Payload, parse_payload
from sugo.config.settings import DaemonSettings
from sugo.daemon.jobs.admission import check_writable, resolve_output
from sugo.daemon.jobs.submit import MAX_PAYLOAD_VALUES, check_size
from sugo.daemon.store import Store
from sugo.errors import SugoError
from sugo.jobs.staging import StagingWriter

SRC = Path(__file__).resolve().parents[2] / "src"

# -- no unsafe deserialisation ------------------------------------------------------------

UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle",
                  "jsonpickle"}  # fmt: skip
UNSAFE_CALLS = {
    "eval", "exec", "yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all",
    "yaml.full_load_all", "yaml.load_all", "os.system", "os.popen", "pandas.read_pickle",
    "pd.read_pickle",
}  # fmt: skip
PICKLING_METHODS = {"recv_pyobj", "send_pyobj", "recv_serialized", "send_serialized"}
SAFE_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_uses(source: str, name: str = "<src>") -> list[str]:
    """Every unsafe deserialisation (or shell) in Python ``source``, as text."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] in UNSAFE_MODULES]  # fmt: skip
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            UNSAFE_MODULES
        ):
            found.append(f"{where}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            func = dotted(node.func)
            kwargs = {k.arg: k.value for k in node.keywords}
            if func in UNSAFE_CALLS:
                found.append(f"{where}: {func}()")
            elif func.split(".")[-1] in PICKLING_METHODS:
                found.append(f"{where}: {func}() unpickles")
            elif func == "yaml.load":
                loader = kwargs.get("Loader") or (node.args[1] if len(node.args) > 1 else None)
                if loader is None or dotted(loader).split(".")[-1] not in SAFE_LOADERS:
                    found.append(f"{where}: yaml.load() without a safe Loader")
            elif func.endswith("load") and _is_true(kwargs.get("allow_pickle")):
                found.append(f"{where}: {func}(allow_pickle=True)")
            elif _is_true(kwargs.get("shell")):
                found.append(f"{where}: {func}(shell=True)")
    return found


def python_files() -> Iterator[Path]:
    yield from sorted(SRC.rglob("*.py"))


def test_no_code_path_deserialises_unsafely() -> None:
    files = list(python_files())
    assert len(files) > 50  # the scan really looks at the package
    found = [use for f in files for use in unsafe_uses(f.read_text(), str(f.relative_to(SRC)))]
    assert found == []


@pytest.mark.parametrize(
    "line",
    [
        "import pickle",
        "import marshal as m",
        "from shelve import open",
        "x = eval(text)",
        "exec(code)",
        "yaml.load(text)",
        "yaml.load(text, Loader=yaml.Loader)",
        "yaml.unsafe_load(text)",
        "yaml.full_load(text)",
        "np.load(f, allow_pickle=True)",
        "sock.recv_pyobj()",
        "subprocess.run(cmd, shell=True)",
        "os.system(cmd)",
    ],
)
def test_the_scan_finds_each_unsafe_use(line: str) -> None:
    assert unsafe_uses(line), line


@pytest.mark.parametrize(
    "line",
    ["yaml.safe_load(text)", "yaml.load(text, Loader=yaml.SafeLoader)", "np.load(f)",
     "json.loads(text)", "msgspec.json.decode(frame)", "ast.literal_eval(text)"],
)  # fmt: skip
def test_the_scan_lets_safe_uses_pass(line: str) -> None:
    assert unsafe_uses(line) == []


def test_staged_arrays_never_need_pickle(tmp_path: Path) -> None:
    # Object columns of str are stored as fixed-width unicode; anything else is refused.
    with StagingWriter(tmp_path, fsync=False) as w:
        w.append("r", 0, 1, {"uts": np.array([1.0]), "s": np.array(["a"], dtype=object)}, {})
        with pytest.raises(SugoError, match="object arrays must hold only str"):
            w.append("r", 0, 2, {"uts": np.array([1.0]), "o": np.array([{}], dtype=object)}, {})


# -- output paths ------------------------------------------------------------------------


def resolve(
    cwd: Path, path: str | None = None, prefix: str | None = None
) -> tuple[str, str | None]:
    text = (
        "sample: {identifier: s}\n"
        "method: [{component_role: c, technique_name: t, max_duration: 1, sampling_interval: 1}]\n"
        "settings: {output: {"
        + ", ".join(f"{k}: {v!r}" for k, v in (("path", path), ("prefix", prefix)) if v is not None)
        + "}}\n"
    )
    return resolve_output(parse_payload(text, "yaml", "p.yml"), str(cwd))


@pytest.mark.parametrize(
    "path",
    ["..", "../x", "a/../../x", "./../x", "a/b/../../../x", "sub/../../x", "../" * 10 + "etc"],
)
def test_relative_output_paths_stay_inside(tmp_path: Path, path: str) -> None:
    with pytest.raises(SugoError, match="leaves the submit folder"):
        resolve(tmp_path, path)


@pytest.mark.parametrize("path", ["", ".", "a", "a/b", "a/../b", "./a", "a//b", "x/./y/.."])
def test_relative_output_paths_inside_are_kept(tmp_path: Path, path: str) -> None:
    folder, _ = resolve(tmp_path, path)
    assert Path(folder).is_relative_to(tmp_path.resolve())


def test_a_symlink_cannot_lead_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "link").symlink_to(outside)
    with pytest.raises(SugoError, match="leaves the submit folder"):
        resolve(cwd, "link")
    with pytest.raises(SugoError, match="leaves the submit folder"):
        resolve(cwd, "link/deeper")


def test_absolute_paths_are_the_submitters_choice(tmp_path: Path) -> None:
    assert resolve(tmp_path / "a", str(tmp_path / "b"))[0] == str(tmp_path / "b")
    assert resolve(tmp_path, "~/results")[0] == str(Path("~/results").expanduser())


@pytest.mark.parametrize(
    "prefix", ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b", "..\\x", "x\x00y"]
)
def test_prefixes_are_plain_file_names(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(SugoError, match="plain file name"):
        resolve(tmp_path, prefix=prefix)


@pytest.mark.parametrize("prefix", ["run-1", "...", ".hidden", "a b", "résultat"])
def test_harmless_prefixes_pass(tmp_path: Path, prefix: str) -> None:
    assert resolve(tmp_path, prefix=prefix)[1] == prefix


def test_output_folder_must_be_writable(tmp_path: Path) -> None:
    check_writable(tmp_path / "new" / "deeper")  # created at the job's end
    (tmp_path / "file").write_text("x")
    with pytest.raises(SugoError, match="is not a folder"):
        check_writable(tmp_path / "file" / "sub")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(SugoError, match="is not writable"):
            check_writable(locked)


def test_alias_bombs_are_refused_fast() -> None:
    anchors = "{a0: &a0 [x, x, x, x, x, x, x, x, x]"
    for i in range(1, 10):  # 9**10 values once expanded
        anchors += f", a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]"
    text = (
        "sample: {identifier: s}\nmethod: [{component_role: c, technique_name: t,"
        f" max_duration: 1, sampling_interval: 1, task_params: {anchors}}}}}]\n"
    )
    # Past the loader's own check, for the daemon's (data that did not come through it):
    payload = validate(Payload, yaml.safe_load(text), "bomb.yml")
    t0 = time.monotonic()
    with pytest.raises(SugoError, match="YAML aliases expand to more than"):
        parse_payload(text, "yaml", "bomb.yml")  # the loader refuses it first
    with pytest.raises(SugoError, match=f"more than {MAX_PAYLOAD_VALUES} values"):
        check_size(payload, "bomb.yml")
    assert time.monotonic() - t0 < 1.0
    check_size(parse_payload(text.replace("*a", "a"), "yaml", "fine.yml"), "fine.yml")


# -- private files ------------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual umask: group and others may read
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sugo_init_files_are_owner_only(tmp_path: Path, open_umask: None) -> None:
    written = write_config(tmp_path / "app")
    for key in ("settings", "devices"):
        assert mode(Path(written[key])) == 0o600, key
    for key in ("appdir", "datadir", "logdir"):
        assert mode(Path(written[key])) == 0o700, key


def test_the_database_is_owner_only(tmp_path: Path, open_umask: None) -> None:
    with Store(tmp_path / "sugo.db") as store:
        store.set_meta("x", 1)  # the WAL and shared-memory files exist once written
        files = sorted(tmp_path.glob("sugo.db*"))
        assert [f.name for f in files] == ["sugo.db", "sugo.db-shm", "sugo.db-wal"]
        assert all(mode(f) == 0o600 for f in files), [(f.name, oct(mode(f))) for f in files]


def test_staged_data_is_owner_only(tmp_path: Path, open_umask: None) -> None:
    with StagingWriter(tmp_path / "job", fsync=False) as w:
        w.append("counter", 0, 1, {"uts": np.array([1.0]), "n": np.array([2])}, {})
    assert mode(tmp_path / "job" / "staging") == 0o700
    assert [mode(f) for f in (tmp_path / "job" / "staging").iterdir()] == [0o600]


# -- loopback --------------------------------------------------------------------------------


def test_daemon_and_hosts_listen_on_loopback_unless_told() -> None:
    assert DaemonSettings().bind == "127.0.0.1"
    text = render_settings(Path("/a"), Path("/a/data"), Path("/a/logs"))
    assert 'bind = "127.0.0.1"' in text
