"""Driver settings declared by the driver: type, default, required.

A driver lists what it accepts in ``ModelInterface.settings_spec``; the host
checks the `[drivers.<name>]` table of settings.toml against it before the
driver starts, so a missing required setting is a clear error in
`sugo status` instead of a crash later.
"""

import difflib
from dataclasses import dataclass
from typing import Any

from sugo.errors import DriverError


@dataclass(frozen=True)
class Setting:
    type: type
    default: Any = None
    required: bool = False
    description: str = ""


def check_settings(driver: str, spec: dict[str, Setting], given: dict[str, Any]) -> dict[str, Any]:
    """The settings with defaults filled in; DriverError names a missing
    required, an unknown or a mistyped key. An empty spec accepts anything
    (drivers that declare nothing)."""
    if not spec:
        return dict(given)
    unknown = sorted(set(given) - set(spec))
    if unknown:
        named = [_with_guess(key, spec) for key in unknown]
        raise DriverError(
            f"driver {driver}: unknown setting(s) {', '.join(named)}"
            f" (known: {', '.join(sorted(spec))})"
        )
    out: dict[str, Any] = {}
    for key, s in spec.items():
        if key not in given:
            if s.required:
                hint = f" ({s.description})" if s.description else ""
                raise DriverError(
                    f"driver {driver}: required setting {key!r} missing{hint};"
                    f" add it under [drivers.{driver}] in settings.toml"
                )
            out[key] = s.default
            continue
        value = given[key]
        if s.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, s.type):
            raise DriverError(
                f"driver {driver}: setting {key!r} must be {s.type.__name__},"
                f" not {type(value).__name__}"
            )
        out[key] = value
    return out


def _with_guess(key: str, spec: dict[str, Setting]) -> str:
    """`key`, and the declared setting it is probably a misspelling of."""
    near = difflib.get_close_matches(key, sorted(spec), n=1)
    return f"{key} (did you mean {near[0]}?)" if near else key
