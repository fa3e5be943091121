"""Figures, their statistics, and the table they are reported in (text,
Markdown and JSON)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

OPS = {"<=": "≤", ">=": "≥", "==": "="}


def summary(samples: list[float]) -> dict[str, float] | None:
    """Median, min, max and quartiles of ``samples`` (None when empty)."""
    if not samples:
        return None
    xs = sorted(samples)
    if len(xs) >= 4:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    else:
        q1, q3 = xs[0], xs[-1]
    return {
        "median": statistics.median(xs),
        "min": xs[0],
        "max": xs[-1],
        "q1": q1,
        "q3": q3,
        "n": len(xs),
    }


def fmt(value: float | None, digits: int = 3) -> str:
    """A number in at most ``digits`` significant figures, plainly."""
    if value is None:
        return "—"
    if value == 0 or abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


@dataclass
class Figure:
    """One measured figure: sugo's samples, tomato's, and sugo's target.

    ``op`` compares sugo's median with ``target``. ``ratio`` says whether
    tomato/sugo is meaningful (times, memory); it is reported as "tomato
    needs N x as much" for figures where lower is better.
    """

    key: str
    title: str
    unit: str
    target: float | None = None
    op: str = "<="
    ratio: bool = True
    sugo: list[float] = field(default_factory=list)
    tomato: list[float] = field(default_factory=list)
    note: str = ""
    tomato_note: str = ""  # a note on tomato's figure (listed below the table)
    tomato_skip: str = ""  # why tomato has no figure (shown in its cell)
    extra: dict[str, Any] = field(default_factory=dict)

    def median(self, side: str) -> float | None:
        s = summary(self.sugo if side == "sugo" else self.tomato)
        return None if s is None else s["median"]

    @property
    def met(self) -> bool | None:
        value = self.median("sugo")
        if self.target is None or value is None:
            return None
        if self.op == "<=":
            return value <= self.target
        if self.op == ">=":
            return value >= self.target
        return abs(value - self.target) < 1e-9

    @property
    def tomato_over_sugo(self) -> float | None:
        s, t = self.median("sugo"), self.median("tomato")
        if not self.ratio or s is None or t is None or s <= 0:
            return None
        return t / s

    def cell(self, side: str) -> str:
        """``median [min-max]`` (with the IQR when there are enough samples)."""
        s = summary(self.sugo if side == "sugo" else self.tomato)
        if s is None:
            return "—"
        text = fmt(s["median"])
        if s["n"] > 1:
            text += f" [{fmt(s['min'])}-{fmt(s['max'])}]"
        if s["n"] >= 4:
            text += f" IQR {fmt(s['q1'])}-{fmt(s['q3'])}"
        return text + f" n={s['n']}"

    def target_text(self) -> str:
        if self.target is None:
            return "—"
        return f"{OPS[self.op]} {fmt(self.target)}"

    def met_text(self) -> str:
        return {None: "—", True: "yes", False: "NO"}[self.met]

    def ratio_text(self) -> str:
        r = self.tomato_over_sugo
        return "—" if r is None else f"{fmt(r)}x"

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "unit": self.unit,
            "target": self.target,
            "op": self.op,
            "met": self.met,
            "sugo": {"samples": self.sugo, **(summary(self.sugo) or {})},
            "tomato": {"samples": self.tomato, **(summary(self.tomato) or {})},
            "tomato_over_sugo": self.tomato_over_sugo,
            "note": self.note,
            "tomato_note": self.tomato_note,
            "tomato_skip": self.tomato_skip,
            "extra": self.extra,
        }


HEADER = ("figure", "unit", "sugo", "tomato 2.2", "tomato/sugo", "target", "met?")


def rows(figures: list[Figure]) -> list[tuple[str, ...]]:
    return [
        (
            f.title,
            f.unit,
            f.cell("sugo"),
            f.cell("tomato") if f.tomato else (f.tomato_skip or "—"),
            f.ratio_text(),
            f.target_text(),
            f.met_text(),
        )
        for f in figures
    ]


def text_table(figures: list[Figure]) -> str:
    """A plain-text table for the terminal."""
    table = [HEADER, *rows(figures)]
    widths = [min(max(len(r[i]) for r in table), 48) for i in range(len(HEADER))]
    lines = []
    for n, r in enumerate(table):
        cells = [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(r, widths, strict=True)]
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(figures: list[Figure]) -> str:
    """The same table in Markdown."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows(figures)]
    return "\n".join(out)


def notes(figures: list[Figure]) -> list[str]:
    """The notes attached to figures, one line each."""
    out = []
    for f in figures:
        if f.note:
            out.append(f"{f.title}: {f.note}")
        if f.tomato_note:
            out.append(f"{f.title} (tomato): {f.tomato_note}")
    return out
