"""Unit handling with pint, loaded lazily.

Importing pint costs ~0.2 s of CPU (numpy included) and building its registry
from the definitions file ~0.2 s more: pint's own disk cache of the parsed
definitions (in the user's cache folder) brings the registry down to ~20 ms
after the first build. (Building it in a background thread of the driver
host, at its start or while it waits for the daemon's hello reply, measured
no faster `sugo start` on two busy cores, and hosts without units paid too.)
"""

import logging
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_built: list[Any] = []  # the registry, once built


def registry() -> Any:
    """The process's pint UnitRegistry, built on first use (once, by whichever
    thread asks first; the others wait for it)."""
    if not _built:
        with _lock:
            if not _built:
                _built.append(_build())
    return _built[0]


def _build() -> Any:
    import pint

    folder = _cache_folder(pint.__version__)
    if folder is not None:
        try:
            return pint.UnitRegistry(autoconvert_offset_to_baseunit=True, cache_folder=folder)
        except Exception as e:
            # A cache file torn by a concurrent first build, a full disk...: start
            # the cache afresh next time, build without it now.
            log.debug("unit cache %s not usable (%s); building without it", folder, e)
            shutil.rmtree(folder, ignore_errors=True)
    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


def _cache_folder(version: str) -> Path | None:
    """``<user cache>/sugo/pint-<version>``, private to the user; None when it
    cannot be made (read-only home...): pint then parses its files each time."""
    import platformdirs

    folder = Path(platformdirs.user_cache_dir("sugo")) / f"pint-{version}"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = folder.stat()
        # pint's cache is pickles: never load files someone else could have written.
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            return None
    except OSError:
        return None
    return folder


#: A number at the start of a quantity's text, and the units after it.
_NUMBER_THEN_UNITS = re.compile(
    r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*\*?\s*(.*?)\s*", re.DOTALL
)


def quantity(text: str) -> Any:
    """Parse "5 degC/min", "25 degC", "1.5 s" into a pint Quantity.

    A temperature with an offset (degC, degF) means an absolute temperature
    on its own ("25 degC" is 298.15 K) but a difference inside a compound
    unit: "5 degC/min" is a rate of 5 K/min. pint's expression parser
    evaluates "5 degC/min" as arithmetic on an absolute 5 degC (278.15 K/min),
    so the number and the units are split here and the units parsed as units,
    where pint reads offset units in a product as their deltas. Raises
    ValueError with the reason.
    """
    ureg = registry()
    found = _NUMBER_THEN_UNITS.fullmatch(text)
    if found is not None:
        number, units = found.group(1), found.group(2)
        magnitude: float = int(number) if number.lstrip("+-").isdigit() else float(number)
        try:
            return ureg.Quantity(magnitude, ureg.parse_units(units) if units else "")
        except Exception:
            pass  # not plain units ("5 / min", "2 h + 30 min"): an expression, below
    try:
        return ureg.Quantity(text)
    except Exception as e:
        raise ValueError(f"cannot parse {text!r} as a quantity: {e}") from None


def to_seconds(text: str) -> float:
    """Parse "90", "1.5 s", "2 min" into seconds; raise ValueError with the reason."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        q = quantity(text)
    except ValueError as e:
        raise ValueError(f"cannot parse duration {text!r}: {e}") from None
    if q.dimensionless:
        return float(q.magnitude)
    if not q.check("[time]"):
        raise ValueError(f"duration {text!r} is not a time (dimension {q.dimensionality})")
    return float(q.to("s").magnitude)
