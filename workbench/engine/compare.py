"""Baseline against variant: KPI deltas, slot share per campaign, gainers and losers, rank shifts and,
when asked for, the KPIs per segment (``segment_compare``) with the segment that moved most.

Both runs share the scenario's seed, so a variant that changes only the ranking
meets the same requests and the same funnel luck per (request, position): the
differences are the ranking's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from workbench.engine.exports import FORMATS, run_tables, write_run, write_table
from workbench.engine.pipeline import RunResult
from workbench.engine.reports import KPI_NAMES, facts_of
from workbench.engine.segment_compare import MovedMost, compare_segments, most_moved, moved_line
from workbench.engine.units import currency_of, unit_of

C = pl.col

DELTA_METRICS = (
    *KPI_NAMES,
    "requests_with_eligible",
    "shortlisted",
    "presented",
    "viewed",
    "interacted",
    "conversions",
    "spend",
    "settled_amount",
    "campaigns_out_of_budget",
    "slots_tied_at_priority_cap",
)


@dataclass(frozen=True)
class Comparison:
    kpis: pl.DataFrame  # metric, unit (units.COUNT / MONEY / RATE / SCORE), baseline, variant, delta
    slot_share: pl.DataFrame  # per campaign
    rank_shifts: pl.DataFrame  # per campaign
    changed_requests: int
    tables: tuple[dict[str, Any], dict[str, Any]]
    # by (segments.BYS) -> segment_compare.compare_segments: the breakdowns asked for
    segments: dict[str, pl.DataFrame] = field(default_factory=dict)

    @property
    def currency(self) -> str:
        """The currency of the money metrics (both runs rank the same campaigns)."""
        return currency_of([self.tables[0]["_kpis"]["currency"], self.tables[1]["_kpis"]["currency"]])

    @property
    def moved_most(self) -> MovedMost | None:
        """The segment that moved most over the breakdowns asked for (``segment_compare.most_moved``)."""
        return most_moved(self.segments)

    def moved_line(self) -> str:
        return moved_line(self.segments, self.currency)


def compare_runs(base: RunResult, variant: RunResult, by: Iterable[str] = ()) -> Comparison:
    """KPI deltas, slot share, rank shifts and, per ``by`` (``segments.BYS``), the segment breakdowns."""
    fb, fv = facts_of(base), facts_of(variant)
    tb, tv = run_tables(base, fb), run_tables(variant, fv)
    kb, kv = tb["_kpis"], tv["_kpis"]
    kpis = pl.DataFrame(
        {
            "metric": list(DELTA_METRICS),
            "unit": [unit_of(m, kb[m]) for m in DELTA_METRICS],
            "baseline": [float(kb[m]) for m in DELTA_METRICS],
            "variant": [float(kv[m]) for m in DELTA_METRICS],
        }
    ).with_columns(delta=C("variant") - C("baseline"))
    return Comparison(
        kpis,
        _slot_share(base, variant),
        _rank_shifts(base, variant),
        _changed(base, variant),
        (tb, tv),
        {b: compare_segments(fb, fv, b) for b in by},
    )


def _slots(result: RunResult, suffix: str) -> pl.DataFrame:
    ids = result.market.campaigns["campaign_id"]
    pids = result.market.partners["partner_id"]
    s = result.simulation.slots
    return (
        s.select("idx", "position")
        .with_columns(campaign_id=ids.gather(s["ci"]), partner_id=pids.gather(s["pi"]))
        .rename({"position": f"position_{suffix}"})
    )


def _slot_share(base: RunResult, variant: RunResult) -> pl.DataFrame:
    campaigns = pl.concat(
        [base.market.campaigns.select("campaign_id"), variant.market.campaigns.select("campaign_id")]
    )
    campaigns = campaigns.unique(maintain_order=True)
    counts = []
    for result, name in ((base, "baseline"), (variant, "variant")):
        s = _slots(result, name)
        total = max(1, s.height)
        counts.append(
            s.group_by("campaign_id")
            .agg(pl.len().cast(pl.Int64).alias(f"slots_{name}"))
            .with_columns((C(f"slots_{name}") / total).alias(f"share_{name}"))
        )
    frame = campaigns.join(counts[0], on="campaign_id", how="left").join(
        counts[1], on="campaign_id", how="left"
    )
    frame = frame.with_columns(
        C("slots_baseline", "slots_variant").fill_null(0), C("share_baseline", "share_variant").fill_null(0.0)
    )
    return frame.with_columns(
        slots_delta=C("slots_variant") - C("slots_baseline"),
        share_delta=C("share_variant") - C("share_baseline"),
    ).sort("slots_delta", "campaign_id", descending=[True, False])


def _pairs(base: RunResult, variant: RunResult) -> pl.DataFrame:
    return _slots(base, "baseline").join(
        _slots(variant, "variant"), on=["idx", "campaign_id", "partner_id"], how="full", coalesce=True
    )


def _rank_shifts(base: RunResult, variant: RunResult) -> pl.DataFrame:
    pb, pv = C("position_baseline"), C("position_variant")
    return (
        _pairs(base, variant)
        .group_by("campaign_id")
        .agg(
            pb.mean().alias("mean_position_baseline"),
            pv.mean().alias("mean_position_variant"),
            (pv < pb).sum().cast(pl.Int64).alias("moved_up"),
            (pv > pb).sum().cast(pl.Int64).alias("moved_down"),
            (pb.is_null() & pv.is_not_null()).sum().cast(pl.Int64).alias("entered"),
            (pv.is_null() & pb.is_not_null()).sum().cast(pl.Int64).alias("dropped"),
            (pv == pb).sum().cast(pl.Int64).alias("unchanged"),
        )
        .sort("campaign_id")
    )


def _changed(base: RunResult, variant: RunResult) -> int:
    pairs = _pairs(base, variant)
    moved = pairs.filter(C("position_baseline").ne_missing(C("position_variant")))
    return int(moved["idx"].n_unique()) if moved.height else 0


def write_comparison(
    base: RunResult, variant: RunResult, comparison: Comparison, out: Path, formats: Iterable[str] = FORMATS
) -> list[Path]:
    from workbench.engine.markdown import compare_summary

    formats = tuple(formats)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    written += write_table(comparison.kpis, out, "compare_kpis", formats)
    written += write_table(comparison.slot_share, out, "compare_slot_share", formats)
    written += write_table(comparison.rank_shifts, out, "compare_rank_shifts", formats)
    for by, frame in comparison.segments.items():
        written += write_table(frame, out, f"compare_segments_{by}", formats)
    if "md" in formats:
        path = out / "compare.md"
        path.write_text(compare_summary(base, variant, comparison), encoding="utf-8")
        written.append(path)
    written += write_run(base, out / "baseline", formats, comparison.tables[0])
    written += write_run(variant, out / "variant", formats, comparison.tables[1])
    return sorted(written)
