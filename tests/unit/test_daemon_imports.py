"""Every module of the daemon imports on its own, first: no import cycle that
only shows in some import order (a package's __init__ imports its parts, so a
part that reaches back into another package half-initialised would fail)."""

import importlib
import pkgutil
import sys

import sugo.daemon


def daemon_modules() -> list[str]:
    """The name of every module of sugo.daemon, its packages' included."""
    return [
        info.name
        for info in pkgutil.walk_packages(sugo.daemon.__path__, "sugo.daemon.")
        if info.name != "sugo.daemon.__main__"  # (it runs the daemon)
    ]


def test_every_daemon_module_imports_first() -> None:
    names = daemon_modules()
    assert len(names) > 40
    saved = {k: v for k, v in sys.modules.items() if k.startswith("sugo.daemon.")}
    try:
        for name in names:
            for loaded in [k for k in sys.modules if k.startswith("sugo.daemon.")]:
                del sys.modules[loaded]
            importlib.import_module(name)
    finally:
        for loaded in [k for k in sys.modules if k.startswith("sugo.daemon.")]:
            del sys.modules[loaded]
        sys.modules.update(saved)
