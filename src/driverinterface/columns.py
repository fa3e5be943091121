"""A component's recorded points as the verbs hand them out: plain columns
with units (what the driver host sends as binary chunks), or an xarray
Dataset on `uts` (what the seed interface's `task_data` returns)."""

from typing import TYPE_CHECKING, Any

from sugo.driverinterface.attr import is_quantity
from sugo.driverinterface.calls import one_line
from sugo.driverinterface.reply import Reply

if TYPE_CHECKING:
    from sugo.driverinterface.device import DeviceManager

UTS_UNITS = "seconds since 1970-01-01T00:00:00Z"
"""CF units of the `uts` coordinate (unix seconds)."""


def empty() -> dict[str, Any]:
    """No points: the columns reply of a component with nothing new."""
    return {"columns": {}, "units": {}}


def take_columns(dm: "DeviceManager") -> dict[str, Any]:
    """Take the component's cached points (clearing the cache) as
    `{"columns": {name: list}, "units": {name: str}}`, with `dims` and
    `coords` for declared array dimensions. Quantities become plain numbers in
    the declared units."""
    raw = dm.get_data()
    if not raw.get("uts"):
        return empty()
    declared = dm.variable_units()
    units = {"uts": UTS_UNITS}
    columns: dict[str, list[Any]] = {}
    for name, values in raw.items():
        unit = declared.get(name) if name != "uts" else None
        columns[name] = [_magnitude(v, unit) for v in values] if _has_quantity(values) else values
        if unit:
            units[name] = unit
    out: dict[str, Any] = {"columns": columns, "units": units}
    dims = dm.variable_dims()
    if dims:  # array quantities with named dimensions (and maybe coordinates)
        out["dims"] = dims
        coords = dm.variable_coords()
        if coords:
            out["coords"] = coords
            units.update((d, u) for d, u in declared.items() if d in coords and u)
    return out


def last_point(data: dict[str, Any]) -> dict[str, Any]:
    """The newest point of a `take_columns` result, in the same form."""
    return {"columns": {n: v[-1:] for n, v in data["columns"].items()}, "units": data["units"]}


def columns_to_dataset(reply: Reply) -> Reply:
    """A columns reply as the seed interface's: a Dataset, None without points."""
    if not reply.success:
        return reply
    if not reply.data["columns"]:
        return Reply(True, reply.msg, None)
    from sugo.driverinterface.dataset import to_dataset

    try:
        data = reply.data
        ds = to_dataset(data["columns"], data["units"], data.get("dims"), data.get("coords"))
    except Exception as e:
        return Reply(False, f"cannot build a dataset: {one_line(e)}")
    return Reply(True, reply.msg, ds)


def override_columns(reply: Reply) -> Reply:
    """A driver's own task_data/task_stop reply as columns: its data may be
    None, a Dataset on `uts`, or the raw `dict[str, list]` cache."""
    from sugo.driverinterface.dataset import to_columns

    if not isinstance(reply, Reply):
        return Reply(False, f"the driver returned {type(reply).__name__}, not a Reply")
    data = reply.data
    if not reply.success or data is None:
        return Reply(reply.success, reply.msg, empty())
    try:
        if isinstance(data, dict):
            if "columns" in data:
                return reply
            columns = {k: list(v) for k, v in data.items()}
            cols = {"columns": columns, "units": {"uts": UTS_UNITS}} if columns else {}
            return Reply(True, reply.msg, cols or empty())
        return Reply(True, reply.msg, to_columns(data))
    except Exception as e:
        return Reply(False, f"cannot read the driver's task data: {one_line(e)}")


def show(value: Any) -> str:
    """A value for a message: quantities with their short units."""
    return f"{value:~}" if is_quantity(value) else repr(value)


def _has_quantity(values: list[Any]) -> bool:
    return any(is_quantity(v) for v in values)


def _magnitude(value: Any, unit: str | None) -> Any:
    if not is_quantity(value):
        return value
    return float((value.to(unit) if unit else value).magnitude)
