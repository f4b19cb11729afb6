"""Charts as server-rendered SVG: no script, so the strict CSP and a reader without
JavaScript get the same chart, and each has a table of the very numbers it draws.

A chart is categories along x (hours, days, error codes) and one or more series; bars
stack, lines don't. Series differ by pattern (bars) or by dash and marker (lines), not
by colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import formats

from promptlab.spreadsheet import neutralise

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 44
MAX_X_LABELS = 8
MARKERS = ("circle", "square", "diamond")


@dataclass(frozen=True)
class Series:
    name: str
    value: Callable[[Any], Any]  # the series' value of one group (a Figures), None for no value
    decimals: int = 0


@dataclass
class Chart:
    slug: str
    title: str
    kind: str  # "bars" (stacked) or "lines"
    series: Sequence[Series]
    groups: Sequence[Any]
    category_label: Callable[[Any], str]
    category_name: str
    unit: str = ""
    rows: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.rows = [
            {
                "label": self.category_label(group),
                "group": group,
                "values": [series.value(group) for series in self.series],
            }
            for group in self.groups
        ]

    def number(self, value: Any, decimals: int) -> str:
        if value is None:
            return "–"
        return formats.number_format(value, decimals, use_l10n=True, force_grouping=True)

    @property
    def table_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "label": row["label"],
                "cells": [
                    self.number(v, s.decimals) for v, s in zip(row["values"], self.series, strict=True)
                ],
            }
            for row in self.rows
        ]

    def csv_rows(self) -> list[list[str]]:
        header = [self.category_name, *(series.name for series in self.series)]
        body = [
            [_csv_group(row["group"].group), *("" if v is None else str(v) for v in row["values"])]
            for row in self.rows
        ]
        return [header, *body]

    @property
    def top(self) -> float:
        if self.kind == "bars":
            peak = max((sum(v or 0 for v in row["values"]) for row in self.rows), default=0)
        else:
            peak = max((v or 0 for row in self.rows for v in row["values"]), default=0)
        return nice_ceiling(float(peak))

    def svg(self) -> dict[str, Any]:
        """Everything the SVG template draws, in its coordinates."""
        plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
        count = max(len(self.rows), 1)
        slot = plot_w / count
        top = self.top

        def y(value: float) -> float:
            return round(TOP + plot_h - (value / top) * plot_h, 1)

        ticks = [
            {"y": y(top * i / 4), "label": self.number(top * i / 4, 2 if top < 4 else 0)} for i in range(5)
        ]
        every = math.ceil(count / MAX_X_LABELS)
        x_labels = [
            {"x": round(LEFT + slot * (i + 0.5), 1), "label": row["label"]}
            for i, row in enumerate(self.rows)
            if i % every == 0
        ]
        bars: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        if self.kind == "bars":
            width = round(max(slot * 0.7, 1), 1)
            for i, row in enumerate(self.rows):
                base = 0.0
                for index, (value, series) in enumerate(zip(row["values"], self.series, strict=True)):
                    if not value:
                        continue
                    height = float(value)
                    bars.append(
                        {
                            "x": round(LEFT + slot * i + (slot - width) / 2, 1),
                            "y": y(base + height),
                            "width": width,
                            "height": round(y(base) - y(base + height), 1),
                            "series": index,
                            "row": i,
                            "value": str(value),
                            "title": f"{row['label']}: {series.name} {self.number(value, series.decimals)}",
                        }
                    )
                    base += height
        else:
            for index, series in enumerate(self.series):
                points = [
                    {
                        "x": round(LEFT + slot * (i + 0.5), 1),
                        "y": y(float(row["values"][index])),
                        # The corner of a square marker.
                        "corner_x": round(LEFT + slot * (i + 0.5) - 3, 1),
                        "corner_y": round(y(float(row["values"][index])) - 3, 1),
                        "row": i,
                        "value": str(row["values"][index]),
                        "title": f"{row['label']}: {series.name} "
                        f"{self.number(row['values'][index], series.decimals)}",
                    }
                    for i, row in enumerate(self.rows)
                    if row["values"][index] is not None
                ]
                lines.append(
                    {
                        "series": index,
                        "marker": MARKERS[index % len(MARKERS)],
                        "points": points,
                        "path": " ".join(f"{p['x']},{p['y']}" for p in points),
                    }
                )
        return _unlocalized(
            {
                "width": WIDTH,
                "height": HEIGHT,
                "left": LEFT,
                "tick_x": LEFT - 6,
                "right": WIDTH - RIGHT,
                "bottom": HEIGHT - BOTTOM,
                "label_y": HEIGHT - BOTTOM + 18,
                "ticks": ticks,
                "x_labels": x_labels,
                "bars": bars,
                "lines": lines,
            }
        )


def _unlocalized(value: Any) -> Any:
    """Coordinates as strings: a template would print a float in the reader's locale
    ("12,5" in Portuguese), which SVG can't read."""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, dict):
        return {
            key: item if key in ("label", "title", "value") else _unlocalized(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_unlocalized(item) for item in value]
    return value


def _csv_group(group: Any) -> str:
    if group is None:
        return ""
    if hasattr(group, "isoformat"):
        return group.isoformat()
    # A template's name or a person's is anybody's text: never a formula in a spreadsheet.
    return neutralise(str(group))


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value`` (1 for nothing): round axis ticks."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(Decimal(str(step)) * Decimal(str(magnitude)))
    return 10.0 * magnitude
