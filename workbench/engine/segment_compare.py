"""Baseline against variant per segment, and the segment that moved most.

``compare_segments`` is long (one row per segment × metric: ``by``, ``segment``, ``metric``, ``unit``,
``baseline``, ``variant``, ``delta``, the shape of ``compare_kpis``), so it pivots in polars or a
spreadsheet; ``wide`` turns it into one row per segment with ``<metric>_baseline``, ``_variant`` and
``_delta`` columns for reading. A segment present in one run only has zeros in the other.

The segment that moved most (``most_moved``): for each breakdown and each of ``spend`` and
``slots_won`` (the two figures that add up to the run's totals in every breakdown, partner included),
a segment's move is ``|delta|`` as a share of the run's total of that figure (the larger of the
baseline's and the variant's). The largest share wins; ties go to spend before slots, then the
breakdown order (category, region, partner, task type), then the segment's name. When no segment's
spend or slots changed, nothing moved (``None``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from workbench.engine.pipeline import RunResult
from workbench.engine.reports import KPI_NAMES, Facts
from workbench.engine.segments import BYS, segment_breakdown
from workbench.engine.units import fmt_value, unit_of

C = pl.col

SEGMENT_METRICS = (
    "opportunities",
    "eligible",
    "slots_requested",
    "slots_won",
    "presented",
    "viewed",
    "interacted",
    "conversions",
    "spend",
    "settled_amount",
    *KPI_NAMES,
)
MOVED_METRICS = ("spend", "slots_won")
# What the lab, the command line and compare.md show per segment (the files have every metric).
SHOWN_METRICS = ("slots_won", "spend", "fill_rate", "qualified_recommendation_rate")
SHOWN_LABELS = {
    "slots_won": "slots won",
    "spend": "spend",
    "fill_rate": "fill rate",
    "qualified_recommendation_rate": "qualified",
}


def _long(frame: pl.DataFrame, side: str) -> pl.DataFrame:
    return frame.select("segment", *[C(m).cast(pl.Float64) for m in SEGMENT_METRICS]).unpivot(
        index="segment", on=list(SEGMENT_METRICS), variable_name="metric", value_name=side
    )


def compare_breakdowns(base: pl.DataFrame, variant: pl.DataFrame, by: str) -> pl.DataFrame:
    """Two ``segment_breakdown`` frames side by side: one row per segment and metric."""
    order = pl.DataFrame({"metric": list(SEGMENT_METRICS), "_order": range(len(SEGMENT_METRICS))})
    return (
        _long(base, "baseline")
        .join(_long(variant, "variant"), on=["segment", "metric"], how="full", coalesce=True)
        .with_columns(C("baseline", "variant").fill_null(0.0))
        .join(order, on="metric")
        .sort("segment", "_order")
        .select(
            pl.lit(by).alias("by"),
            "segment",
            "metric",
            pl.col("metric").replace_strict({m: unit_of(m) for m in SEGMENT_METRICS}).alias("unit"),
            "baseline",
            "variant",
            (C("variant") - C("baseline")).alias("delta"),
        )
    )


def compare_segments(base: RunResult | Facts, variant: RunResult | Facts, by: str) -> pl.DataFrame:
    """Baseline, variant and delta of every ``SEGMENT_METRICS`` per value of ``by``."""
    return compare_breakdowns(segment_breakdown(base, by), segment_breakdown(variant, by), by)


def wide(long: pl.DataFrame, metrics: tuple[str, ...] = SHOWN_METRICS) -> pl.DataFrame:
    """One row per segment: ``<metric>_baseline``, ``<metric>_variant``, ``<metric>_delta`` per metric."""
    frame = long.select("segment").unique(maintain_order=True)
    for m in metrics:
        frame = frame.join(
            long.filter(C("metric") == m).select(
                "segment",
                C("baseline").alias(f"{m}_baseline"),
                C("variant").alias(f"{m}_variant"),
                C("delta").alias(f"{m}_delta"),
            ),
            on="segment",
            how="left",
            maintain_order="left",
        )
    return frame


@dataclass(frozen=True)
class MovedMost:
    """The segment whose spend or slots won moved by the largest share of the run's total."""

    by: str
    segment: str
    metric: str
    baseline: float
    variant: float
    delta: float
    share: float  # |delta| ÷ the run's total of the metric (the larger of baseline and variant)

    def line(self, currency: str = "") -> str:
        """``moved most: partner=p_1 spend 100.00 USD → 250.00 USD (+150.00 USD, 12.5% of all spend)``."""
        m = self.metric
        return (
            f"moved most: {self.by}={self.segment} {m} {fmt_value(m, self.baseline, currency)} → "
            f"{fmt_value(m, self.variant, currency)} ({fmt_value(m, self.delta, currency, signed=True)}, "
            f"{100 * self.share:.1f}% of all {m})"
        )


NOTHING_MOVED = "moved most: nothing (no segment's spend or slots won changed)"


def most_moved(segments: Mapping[str, pl.DataFrame]) -> MovedMost | None:
    """The segment that moved most over the breakdowns given (``compare_segments`` frames by ``by``)."""
    best: tuple[tuple, MovedMost] | None = None
    for by, frame in segments.items():
        for mi, metric in enumerate(MOVED_METRICS):
            rows = frame.filter(C("metric") == metric)
            total = max(float(rows["baseline"].sum()), float(rows["variant"].sum()))
            if total <= 0:
                continue
            for row in rows.iter_rows(named=True):
                share = abs(row["delta"]) / total
                if share == 0:
                    continue
                key = (-share, mi, BYS.index(by) if by in BYS else len(BYS), str(row["segment"]))
                if best is None or key < best[0]:
                    moved = MovedMost(
                        by, str(row["segment"]), metric, row["baseline"], row["variant"], row["delta"], share
                    )
                    best = (key, moved)
    return None if best is None else best[1]


def moved_line(segments: Mapping[str, pl.DataFrame], currency: str = "") -> str:
    moved = most_moved(segments)
    return NOTHING_MOVED if moved is None else moved.line(currency)
