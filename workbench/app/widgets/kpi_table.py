"""KPIs of the current settings beside the pinned baseline, deltas coloured (green up, red down).

How each figure reads (count, money, rate in %, score) is ``workbench.engine.units``; money rows name their
currency (``spend (USD)``);
the table only lays them out, each column as wide as its widest figure.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from rich.text import Text

from workbench.app.widgets.frame_table import FrameTable, delta_text
from workbench.engine.units import MONEY, fmt_value, unit_of

HEADERS = {"metric": "metric", "baseline": "baseline", "variant": "current", "delta": "Δ"}
SHORT = {
    "qualified_recommendation_rate": "qualified rec. rate",
    "action_conversion_rate": "action conv. rate",
    "disclosure_shown_rate": "disclosure shown",
    "requests_with_eligible": "requests w/ eligible",
    "campaigns_out_of_budget": "out of budget",
    "slots_tied_at_priority_cap": "slots tied at 1.0",
}
COLUMNS = ("metric", "baseline", "variant", "delta")


class KpiTable(FrameTable):
    """``compare.Comparison.kpis`` (metric, unit, baseline, variant, delta) with each metric in its own unit."""

    currency: str = ""

    def show(self, frame: pl.DataFrame, currency: str = "") -> None:  # type: ignore[override] - adds the currency
        self.currency = currency
        super().show(frame.select(COLUMNS))

    def header(self, column: str) -> str:
        return HEADERS.get(column, column)

    def cell(self, column: str, value: Any, row: dict[str, Any]) -> str | Text:
        metric = row["metric"]
        if column == "metric":
            name = SHORT.get(metric) or metric.replace("_", " ")
            # money: the currency once, in the row's name, so the figures stay narrow
            return f"{name} ({self.currency})" if unit_of(metric) == MONEY and self.currency else name
        if column == "delta":
            shown = fmt_value(metric, value, percent=True, signed=True)
            # a delta too small to show in the metric's unit is "unchanged", not a coloured +0.0
            return delta_text(value if shown.strip("+-0.,% p") else 0, shown)
        return Text(fmt_value(metric, value, percent=True), justify="right")
