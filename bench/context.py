"""What every benchmark gets: the run's options, tomato's environment (if
any), and systems shared between benchmarks (started once, stopped at the end)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.sugo_side import SugoSystem
from bench.tomato_side import TomatoSystem


@dataclass
class Ctx:
    quick: bool
    repeat: int | None  # overrides every benchmark's own repeat count
    tomato_venv: Path | None  # None: tomato's side is skipped
    tomato_why: str  # why tomato is skipped, or its version
    work: Path | None = None  # parent of the temporary folders
    _sugo: SugoSystem | None = field(default=None, repr=False)
    _tomato: TomatoSystem | None = field(default=None, repr=False)

    def n(self, full: int, quick: int) -> int:
        """How many repeats: ``--repeat`` if given, else by mode."""
        return self.repeat or (quick if self.quick else full)

    @staticmethod
    def log(text: str) -> None:
        print(f"  {text}", file=sys.stderr, flush=True)

    @property
    def with_tomato(self) -> bool:
        return self.tomato_venv is not None

    def shared_sugo(self) -> SugoSystem:
        """A running sugo with the default devices, shared by the job benchmarks."""
        if self._sugo is None:
            system = SugoSystem(parent=self.work)
            try:
                system.start()
            except BaseException:
                system.stop()
                raise
            self._sugo = system
        return self._sugo

    def shared_tomato(self) -> TomatoSystem:
        """A running tomato with the same devices, shared by the job benchmarks."""
        assert self.tomato_venv is not None
        if self._tomato is None:
            system = TomatoSystem(self.tomato_venv, parent=self.work)
            try:
                system.start()
            except BaseException:
                system.stop()
                raise
            self._tomato = system
        return self._tomato

    def close(self) -> None:
        """Stop the shared systems."""
        for system in (self._sugo, self._tomato):
            if system is not None:
                system.stop()
        self._sugo = self._tomato = None
