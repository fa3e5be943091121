"""`sugo driver new NAME [--dir D]`: write a ready-to-install driver package.

The package (``sugo-driver-<name>``, import name ``sugo_driver_<name>``) has a
pyproject with the ``sugo.drivers`` entry point, a DeviceManager with attrs,
capabilities and ``do_task`` (a simulated voltage source to start from) and
tests that use `sugo.testing`. The files come from ``templates/driver/``.
"""

import re
from importlib import resources
from pathlib import Path
from string import Template

from sugo import __version__
from sugo.cli.context import OK, Context
from sugo.cli.output import CliError

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")

#: Template file → where it goes in the package (formatted with the names).
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "init.py.tmpl": "src/{package}/__init__.py",
    "driver.py.tmpl": "src/{package}/driver.py",
    "test_driver.py.tmpl": "tests/test_driver.py",
}


def names(name: str) -> dict[str, str]:
    """The names a driver package uses, from its driver name."""
    if not NAME.fullmatch(name):
        raise CliError(
            f"driver name {name!r} must be lowercase letters, digits and _ "
            "(starting with a letter, at most 40 characters)"
        )
    return {
        "name": name,
        "package": f"sugo_driver_{name}",
        "dist": f"sugo-driver-{name.replace('_', '-')}",
        "sugo_version": __version__,
    }


def scaffold(name: str, folder: Path | None = None) -> tuple[Path, list[Path]]:
    """Write the package of driver ``name`` into ``folder`` (default
    ``./sugo-driver-<name>``), which must not exist or be empty.
    Returns the folder and the files written."""
    values = names(name)
    folder = Path(folder) if folder is not None else Path(values["dist"])
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise CliError(f"{folder} already exists and is not empty; choose another --dir")
    templates = resources.files("sugo.cli") / "templates" / "driver"
    written = []
    for source, target in FILES.items():
        text = Template(templates.joinpath(source).read_text(encoding="utf-8")).substitute(values)
        path = folder / target.format(**values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return folder, written


def cmd_driver_new(ctx: Context) -> int:
    from sugo.driverinterface.loader import available_drivers

    name = ctx.args.name
    folder, files = scaffold(name, ctx.args.dir)
    if ctx.out.json_mode:
        ctx.out.json({"name": name, "folder": str(folder), "files": [str(f) for f in files]})
        return OK
    out = ctx.out
    out.line(f"wrote driver {name!r} into {folder}/:")
    for f in files:
        out.line(f"  {f.relative_to(folder)}")
    if name in available_drivers():
        out.note(f"sugo: note: a driver named {name!r} is already installed; the names clash")
    out.line("next:")
    out.line(f"  pip install -e {folder}        # registers the entry point sugo.drivers:{name}")
    out.line(f"  python -m pytest {folder}      # its tests, in-process (sugo.testing)")
    out.line(f"  add a device with driver = {name!r} to your devices file, then: sugo reload")
    return OK
