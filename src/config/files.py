"""Shared plumbing of sugo's config files: reading and parsing TOML, YAML and
JSON, the frozen model base and common field types, and turning a pydantic
`ValidationError` into one `ConfigError` line that names the file and, for
every problem, its key path (with a "did you mean" for a misspelt key).
"""

import difflib
import json
import re
import tomllib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from sugo.driverinterface.units import to_seconds
from sugo.errors import ConfigError

#: File suffix → format name understood by `parse_mapping`.
SUFFIX_FORMATS = {".toml": "toml", ".yml": "yaml", ".yaml": "yaml", ".json": "json"}

Loc = tuple[str | int, ...]
ModelT = TypeVar("ModelT", bound=BaseModel)

_PROBLEM = "sugo_config"


class FrozenModel(BaseModel):
    """Base of every config model: immutable, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _seconds(value: Any) -> Any:
    return to_seconds(value) if isinstance(value, str) else value


def _int_to_str(value: Any) -> Any:
    # Channels are strings, but files often spell them as bare numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


#: A positive duration in seconds; strings with units ("5 min") are converted.
Seconds = Annotated[
    float,
    BeforeValidator(_seconds),
    Field(gt=0, allow_inf_nan=False),
    WithJsonSchema({"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}]}),
]
#: A logging level name, as payloads spell it.
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
#: A non-empty name.
Name = Annotated[str, Field(min_length=1)]
#: A non-empty string; integers in the file are accepted and converted.
Channel = Annotated[
    str,
    BeforeValidator(_int_to_str),
    Field(min_length=1),
    WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]}),
]


def problem(path: Loc, message: str) -> PydanticCustomError:
    """An error to raise from a model validator; `path` is relative to the model.

    `format_error` appends `path` to pydantic's location of the model, so the
    final message points at the offending key rather than at the whole model.
    """
    return PydanticCustomError(_PROBLEM, "{message}", {"message": message, "path": path})


def format_loc(loc: Sequence[str | int]) -> str:
    """`("pipelines", 1, "devices", 0, "device")` → `pipelines[1].devices[0].device`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":  # pydantic's marker: the problem is the key itself
            out += " (key)"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _problem_line(error: Any, model: type[BaseModel] | None) -> str:
    """One problem of a `ValidationError` as `<key path>: <problem>`."""
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == _PROBLEM:
        loc += tuple(ctx.get("path", ()))
        message = str(ctx["message"])
    elif kind == "extra_forbidden":
        message = "unknown key" + _suggestion(model, loc)
    elif kind == "missing":
        message = "missing required key"
    elif kind == "too_short" and ctx.get("actual_length") == 0:
        message = "must not be empty"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return f"{format_loc(loc) or 'top level'}: {message}"


def _suggestion(model: type[BaseModel] | None, loc: Loc) -> str:
    """` (did you mean 'x'?)` for an unknown key close to a known one, else ""."""
    if model is None or not loc or not isinstance(loc[-1], str):
        return ""
    known = _keys_at(model, loc[:-1])
    near = difflib.get_close_matches(loc[-1], sorted(known), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _keys_at(model: type[BaseModel], loc: Loc) -> set[str]:
    """The keys a model accepts at `loc` (found by following the field types);
    empty where the path leads somewhere without fixed keys."""
    types: list[Any] = [model]
    for part in loc:
        types = [t for kind in types for t in _inner(kind, part)]
    keys: set[str] = set()
    for kind in types:
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            for name, field in kind.model_fields.items():
                keys.add(field.alias or name)
    return keys


def _inner(kind: Any, part: str | int) -> list[Any]:
    """The types that can sit at `part` (a key or an index) inside a value of type `kind`."""
    origin = typing.get_origin(kind)
    if origin is Annotated:
        return _inner(typing.get_args(kind)[0], part)
    if origin in (Union, types.UnionType):
        return [t for arm in typing.get_args(kind) for t in _inner(arm, part)]
    if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(part, str):
        for name, field in kind.model_fields.items():
            if part in (name, field.alias):
                return _unwrap(field.annotation)
        return []
    args = typing.get_args(kind)
    if origin in (list, tuple, set, frozenset) and isinstance(part, int) and args:
        return _unwrap(args[0])
    if origin is dict and len(args) == 2:
        return _unwrap(args[1])
    return []


def _unwrap(kind: Any) -> list[Any]:
    """`kind` without Annotated and with each arm of a union apart."""
    origin = typing.get_origin(kind)
    if origin is Annotated:
        return _unwrap(typing.get_args(kind)[0])
    if origin in (Union, types.UnionType):
        return [t for arm in typing.get_args(kind) for t in _unwrap(arm)]
    return [kind]


def format_error(
    source: str, exc: ValidationError, model: type[BaseModel] | None = None
) -> ConfigError:
    """Every problem of `exc` in one line: `<source>: <key path>: <problem>`,
    or `<source>: N problems: <key path>: <problem>; ...`. With `model`, an
    unknown key close to a known one is answered with "did you mean"."""
    lines = list(dict.fromkeys(_problem_line(error, model) for error in exc.errors()))
    if len(lines) == 1:
        return ConfigError(_one_line(f"{source}: {lines[0]}"))
    return ConfigError(_one_line(f"{source}: {len(lines)} problems: " + "; ".join(lines)))


def validate(model: type[ModelT], data: Any, source: str, context: Any = None) -> ModelT:
    """`model.model_validate(data)`, with any failure raised as a `ConfigError`."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as e:
        raise format_error(source, e, model) from None


def format_of(path: Path) -> str:
    """The format of a file, from its suffix; `ConfigError` for an unknown one."""
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(SUFFIX_FORMATS)
        raise ConfigError(f"{path}: unknown file type {path.suffix!r} (known: {known})")
    return fmt


def read_text(path: Path) -> str:
    """The text of a config file; `ConfigError` if it is missing or unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None


#: A YAML document may expand (through aliases) to at most this many values
#: per character of its text, plus `YAML_VALUES_BASE`: enough for any real use
#: of anchors, far too few for an alias bomb (500 bytes that stand for 10**8 values).
YAML_VALUES_PER_CHAR = 100
YAML_VALUES_BASE = 10_000
_LABELS = {"toml": "TOML", "yaml": "YAML", "json": "JSON"}
_CONTAINERS = (dict, list, tuple, set)


def _parse(text: str, fmt: str, source: str) -> Any:
    try:
        return _parse_format(text, fmt, source)
    except RecursionError:
        # Each parser recurses once per level of nesting; the stack is unwound
        # by the time we get here, so answering is safe.
        raise ConfigError(f"{source}: nested too deeply to parse as {_LABELS[fmt]}") from None


def _parse_format(text: str, fmt: str, source: str) -> Any:
    if fmt == "toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            found = re.fullmatch(r"(.*) \(at line (\d+), column \d+\)", str(e))
            if found:
                raise ConfigError(f"{source}: line {found[2]}: invalid TOML: {found[1]}") from None
            raise ConfigError(_one_line(f"{source}: invalid TOML: {e}")) from None
    if fmt == "yaml":
        try:
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as e:
            line = f"line {e.problem_mark.line + 1}: " if e.problem_mark else ""
            context = f" ({e.context})" if e.context else ""
            raise ConfigError(
                _one_line(f"{source}: {line}invalid YAML: {e.problem}{context}")
            ) from None
        except yaml.YAMLError as e:
            raise ConfigError(_one_line(f"{source}: invalid YAML: {e}")) from None
        budget = YAML_VALUES_PER_CHAR * len(text) + YAML_VALUES_BASE
        if expanded_size(data, budget) > budget:
            raise ConfigError(f"{source}: YAML aliases expand to more than {budget} values")
        return data
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{source}: line {e.lineno}: invalid JSON: {e.msg}") from None
    raise ConfigError(f"{source}: unknown format {fmt!r} (known: toml, yaml, json)")


def expanded_size(data: Any, budget: int) -> int:
    """The number of values in `data` once every shared list or mapping is
    written out in full (as a YAML alias is when the data is used), or
    `budget + 1` if that is more than `budget` or endless (a list that holds
    itself).

    Each distinct container is counted once and its size remembered, so this
    takes time in proportion to the parsed document, not to its expansion; it
    keeps its own stack, so any depth is fine.
    """
    sizes: dict[int, int] = {}  # id of a counted container -> its expanded size
    open_ids: set[int] = set()  # containers on the path from the root
    if not isinstance(data, _CONTAINERS):
        return 1
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        obj, counted_children = stack.pop()
        key = id(obj)
        items = [*obj, *obj.values()] if isinstance(obj, dict) else obj
        if counted_children:
            total = 1 + sum(sizes.get(id(item), 1) for item in items)
            if total > budget:
                return budget + 1
            sizes[key] = total
            open_ids.discard(key)
        elif key in open_ids:
            return budget + 1  # it holds itself: it expands without end
        elif key not in sizes:
            open_ids.add(key)
            stack.append((obj, True))
            stack.extend((item, False) for item in items if isinstance(item, _CONTAINERS))
    return sizes.get(id(data), 1)


def parse_mapping(text: str, fmt: str, source: str) -> dict[str, Any]:
    """Parse `text` as `fmt` ("toml", "yaml"/"yml" or "json", a leading dot is
    ignored) and check that the top level is a mapping.
    """
    fmt = fmt.lower().removeprefix(".")
    data = _parse(text, "yaml" if fmt == "yml" else fmt, source)
    if data is None:
        raise ConfigError(f"{source}: file is empty")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: top level must be a mapping of keys, not {type(data).__name__}"
        )
    return data


def load_mapping(path: Path) -> dict[str, Any]:
    """Read and parse a config file, its format chosen by its suffix."""
    fmt = format_of(path)
    return parse_mapping(read_text(path), fmt, str(path))
