"""KPIs of the current settings beside the pinned baseline, deltas coloured (green up, red down)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from .frame_table import FrameTable, delta_text

RATES = frozenset({
    "qualified_recommendation_rate", "detail_view_rate", "handoff_rate", "action_conversion_rate",
    "disclosure_shown_rate", "fill_rate",
})
SCORES = frozenset({"mean_relevance_shown", "mean_utility_shown"})
MONEY = frozenset({"spend", "settled_amount", "failed_amount"})
HEADERS = {"metric": "metric", "baseline": "baseline", "variant": "current", "delta": "Δ"}
SHORT = {
    "qualified_recommendation_rate": "qualified rec. rate", "action_conversion_rate": "action conv. rate",
    "disclosure_shown_rate": "disclosure shown", "requests_with_eligible": "requests w/ eligible",
    "campaigns_out_of_budget": "out of budget",
}


def fmt_metric(metric: str, value: float) -> str:
    if metric in RATES:
        return f"{100 * value:.1f}%"
    if metric in SCORES:
        return f"{value:.4f}"
    if metric in MONEY:
        return f"{value:,.2f}"
    return f"{value:,.0f}"


def fmt_delta(metric: str, value: float) -> str:
    if metric in RATES:
        return f"{100 * value:+.1f} pp"
    if metric in SCORES:
        return f"{value:+.4f}"
    if metric in MONEY:
        return f"{value:+,.2f}"
    return f"{value:+,.0f}"


class KpiTable(FrameTable):
    """``compare.Comparison.kpis`` (metric, baseline, variant, delta) with each metric in its own unit."""

    def header(self, column: str) -> str:
        return HEADERS.get(column, column)

    def cell(self, column: str, value: Any, row: dict[str, Any]) -> str | Text:
        metric = row["metric"]
        if column == "metric":
            return SHORT.get(metric, metric.replace("_", " "))
        if column == "delta":
            shown = fmt_delta(metric, value)
            # a delta too small to show in the metric's unit is "unchanged", not a coloured +0.0
            return delta_text(value if shown.strip("+-0.,% p") else 0, shown)
        return Text(fmt_metric(metric, value), justify="right")
