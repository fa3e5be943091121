"""Store methods for the drivers and components tables, and the one door for
their states: every state written, by an upsert or a state change, passes
`DRIVER` or `COMPONENT` (`sugo.protocol.states`): a new row's first state, or
a move its table allows. A mixin of `sugo.daemon.store.Store`."""

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from sugo.daemon.store.base import StoreBase, must, update
from sugo.daemon.store.rows import (
    COMPONENT_COLS,
    DRIVER_COLS,
    ComponentRow,
    DriverRow,
    component_row,
    driver_row,
)
from sugo.errors import StoreError
from sugo.protocol.states import COMPONENT, DRIVER, ComponentState, DriverState, Lifecycle


def _move(
    conn: sqlite3.Connection,
    lifecycle: Lifecycle[Any],
    table: str,
    name: str,
    new: str,
    may_create: bool,
) -> str:
    """The state to write for row ``name`` of ``table``: ``new`` if the row
    may move there (or, absent and ``may_create``, start there); else
    StoreError naming the row and the move."""
    what = f"{table[:-1]} {name}"  # "driver counter", "component counter:(sim,1)"
    r = conn.execute(f"SELECT state FROM {table} WHERE name = ?", (name,)).fetchone()
    if r is not None:
        return lifecycle.check(what, r[0], new).value
    if not may_create:
        raise StoreError(f"{what}: not found")
    return lifecycle.born(what, new).value


class DeviceTables(StoreBase):
    # -- drivers ------------------------------------------------------------

    def upsert_driver(
        self,
        name: str,
        *,
        state: str = DriverState.STARTING,
        pid: int | None = None,
        port: int | None = None,
        version: str | None = None,
        settings: dict[str, Any] | None = None,
        started_at: float | None = None,
        create_time: float | None = None,
    ) -> DriverRow:
        """Create or fully overwrite a driver row (its components are kept).
        A new driver starts ``starting``; an existing one must be allowed the
        move to ``state`` (StoreError otherwise)."""
        what = f"driver {name}"
        with self._write(what) as conn:
            state_ = _move(conn, DRIVER, "drivers", name, state, may_create=True)
            values = (name, pid, port, state_, version, json.dumps(settings or {}), started_at,
                      create_time)  # fmt: skip
            self._upsert("drivers", DriverRow.__struct_fields__, values)
            return self._driver_or_raise(name)

    def set_driver_state(self, name: str, state: str) -> DriverRow:
        """Move a driver to ``state`` if its lifecycle table allows it."""
        what = f"driver {name}"
        with self._write(what) as conn:
            state_ = _move(conn, DRIVER, "drivers", name, state, may_create=False)
            update(conn, "drivers", "name", name, {"state": state_})
            return self._driver_or_raise(name)

    def get_driver(self, name: str) -> DriverRow | None:
        """The driver of that name, or None."""
        return self._one("drivers", DRIVER_COLS, "name", name, driver_row)

    def _driver_or_raise(self, name: str) -> DriverRow:
        return must(self.get_driver(name), f"driver {name}")

    def list_drivers(self) -> list[DriverRow]:
        """All drivers, by name."""
        return self._rows(f"SELECT {DRIVER_COLS} FROM drivers ORDER BY name", (), driver_row)

    def delete_driver(self, name: str) -> bool:
        """Remove a driver and its components; False if there was none."""
        return self._delete("drivers", name)

    # -- components ---------------------------------------------------------

    def upsert_component(
        self,
        name: str,
        *,
        driver: str,
        device: str,
        address: str,
        channel: str,
        pollrate: float,
        capabilities: Iterable[str] = (),
        state: str = ComponentState.REGISTERING,
    ) -> ComponentRow:
        """Create or fully overwrite a component; its driver must exist. A new
        component starts ``registering``; an existing one must be allowed the
        move to ``state`` (StoreError otherwise)."""
        what = f"component {name}"
        with self._write(what) as conn:
            if self.get_driver(driver) is None:
                raise StoreError(f"{what}: unknown driver {driver}")
            state_ = _move(conn, COMPONENT, "components", name, state, may_create=True)
            values = (name, driver, device, str(address), str(channel), float(pollrate),
                      json.dumps(list(capabilities)), state_)  # fmt: skip
            self._upsert("components", ComponentRow.__struct_fields__, values)
            return self._component_or_raise(name)

    def set_component_state(self, name: str, state: str) -> ComponentRow:
        """Move a component to ``state`` if its lifecycle table allows it."""
        what = f"component {name}"
        with self._write(what) as conn:
            state_ = _move(conn, COMPONENT, "components", name, state, may_create=False)
            update(conn, "components", "name", name, {"state": state_})
            return self._component_or_raise(name)

    def get_component(self, name: str) -> ComponentRow | None:
        """The component of that name, or None."""
        return self._one("components", COMPONENT_COLS, "name", name, component_row)

    def _component_or_raise(self, name: str) -> ComponentRow:
        return must(self.get_component(name), f"component {name}")

    def list_components(self, driver: str | None = None) -> list[ComponentRow]:
        """All components (or those of one driver), by name."""
        params: tuple[str, ...] = ()
        if driver is None:
            sql = f"SELECT {COMPONENT_COLS} FROM components ORDER BY name"
        else:
            sql = f"SELECT {COMPONENT_COLS} FROM components WHERE driver = ? ORDER BY name"
            params = (driver,)
        return self._rows(sql, params, component_row)

    def delete_component(self, name: str) -> bool:
        """Remove a component; False if there was none."""
        return self._delete("components", name)
